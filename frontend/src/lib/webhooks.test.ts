import { describe, expect, it } from 'vitest';
import type { WebhookDelivery } from '../api/types';
import { describeDelivery, describeEvents } from './webhooks';

const now = new Date(2026, 11, 1, 19, 30);
const at = (h: number, m: number) => new Date(2026, 11, 1, h, m).toISOString();

function delivery(overrides: Partial<WebhookDelivery>): WebhookDelivery {
  return {
    id: 'msg_1',
    type: 'order.created',
    order_id: null,
    state: 'pending',
    attempts: 0,
    last_status: null,
    last_error: null,
    last_attempt_at: null,
    next_attempt_at: null,
    delivered_at: null,
    created_at: at(19, 0),
    ...overrides,
  };
}

describe('describeDelivery', () => {
  it('says when a delivery arrived, and after how many attempts when it took more than one', () => {
    expect(describeDelivery(delivery({ state: 'delivered', attempts: 1, last_status: 204, delivered_at: at(19, 2) }), now)).toBe(
      'Delivered at 19:02 (HTTP 204)',
    );
    expect(describeDelivery(delivery({ state: 'delivered', attempts: 3, last_status: 200, delivered_at: at(19, 5) }), now)).toBe(
      'Delivered at 19:05 (HTTP 200) after 3 attempts',
    );
  });

  it('gives the last answer and the next try of one still being retried', () => {
    const retrying = delivery({ attempts: 2, last_status: 503, last_error: 'answered 503 Service Unavailable', next_attempt_at: at(19, 31) });
    expect(describeDelivery(retrying, now)).toBe('Not delivered yet (2 attempts: answered 503 Service Unavailable). Next try at 19:31.');
    expect(describeDelivery(delivery({}), now)).toBe('Waiting to be sent');
    expect(describeDelivery(delivery({ state: 'sending', attempts: 4 }), now)).toBe('Sending now (attempt 4)');
  });

  it('says why a delivery failed for good', () => {
    const failed = delivery({ state: 'failed', attempts: 1, last_error: 'the endpoint was deleted' });
    expect(describeDelivery(failed, now)).toBe('Failed for good after 1 attempt: the endpoint was deleted');
  });
});

describe('describeEvents', () => {
  it('names every event or the chosen ones', () => {
    expect(describeEvents(null)).toBe('Every event');
    expect(describeEvents(['order.created', 'notification.failed'])).toBe('order.created, notification.failed');
  });
});
