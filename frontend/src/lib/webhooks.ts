// Webhooks out (admin): the events in words, and each delivery's state as a sentence;
// the page only renders these (its API calls are in admin.ts).
import type { EventType, WebhookDelivery } from '../api/types';
import { formatTime } from './time';

/** Every event, in the order the API lists them, with what it means to a kitchen. */
export const EVENTS: readonly { type: EventType; label: string }[] = [
  { type: 'order.created', label: 'An order comes in' },
  { type: 'order.updated', label: 'An order’s details are corrected' },
  { type: 'order.status_changed', label: 'An order changes status' },
  { type: 'notification.sent', label: 'A text is sent' },
  { type: 'notification.delivered', label: 'A text is delivered' },
  { type: 'notification.failed', label: 'A text fails' },
  { type: 'customer.opted_out', label: 'A customer texts STOP' },
  { type: 'customer.opted_in', label: 'A customer texts START' },
];

/** What an endpoint receives, in words: "Every event", or the chosen ones' names. */
export function describeEvents(events: EventType[] | null | undefined): string {
  if (!events) return 'Every event';
  return events.join(', ');
}

/** How a delivery went, as one sentence: when it arrived, or what went wrong and what happens next. */
export function describeDelivery(delivery: WebhookDelivery, now: Date): string {
  const tries = delivery.attempts === 1 ? '1 attempt' : `${delivery.attempts} attempts`;
  const answer = delivery.last_error ?? (delivery.last_status ? `answered ${delivery.last_status}` : null);
  switch (delivery.state) {
    case 'delivered': {
      const at = delivery.delivered_at ? ` at ${formatTime(delivery.delivered_at, now)}` : '';
      const status = delivery.last_status ? ` (HTTP ${delivery.last_status})` : '';
      return delivery.attempts > 1 ? `Delivered${at}${status} after ${tries}` : `Delivered${at}${status}`;
    }
    case 'failed':
      return `Failed for good after ${tries}${answer ? `: ${answer}` : ''}`;
    case 'sending':
      return delivery.attempts > 1 ? `Sending now (attempt ${delivery.attempts})` : 'Sending now';
    case 'pending': {
      if (delivery.attempts === 0) return 'Waiting to be sent';
      const next = delivery.next_attempt_at ? ` Next try at ${formatTime(delivery.next_attempt_at, now)}.` : '';
      return `Not delivered yet (${tries}${answer ? `: ${answer}` : ''}).${next}`;
    }
  }
}
