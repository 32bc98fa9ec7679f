import { describe, expect, it } from 'vitest';
import type { Notification } from '../api/types';
import { type FailedEntry, mergeFailed } from './failed';

const text = (id: string, state: Notification['state'], created_at: string): Notification => ({
  id,
  order_id: `order-${id}`,
  state,
  created_at,
  attempts: 1,
  body: 'Your order is confirmed.',
  encoding: 'GSM-7',
  order_status: 'confirmed',
  provider: 'sandbox',
  recipient: '+12025550142',
  segments: 1,
});

describe('mergeFailed', () => {
  const older = text('a', 'failed', '2026-12-01T18:00:00Z');
  const newer = text('b', 'failed', '2026-12-01T19:00:00Z');
  const queued = text('q', 'queued', '2026-12-01T19:05:00Z');

  it('keeps a retry answered while the list was being read', () => {
    // The re-read began before "Retry" was answered; the list it comes back to has it.
    const current: FailedEntry[] = [{ failed: older, done: { note: 'Queued again at 19:05', queued } }, { failed: newer }];
    const merged = mergeFailed(current, [older, newer], new Map());
    expect(merged.map((entry) => [entry.failed.id, entry.done?.note])).toEqual([
      ['b', undefined],
      ['a', 'Queued again at 19:05'],
    ]);
  });

  it("keeps a handled text's new text current and adds new failures, newest first", () => {
    const current: FailedEntry[] = [{ failed: older, done: { note: 'Queued again at 19:05', queued } }];
    const sent = { ...queued, state: 'sent' as const };
    const merged = mergeFailed(current, [older, newer], new Map([[sent.id, sent]]));
    expect(merged.map((entry) => [entry.failed.id, entry.done?.queued.state])).toEqual([
      ['b', undefined],
      ['a', 'sent'],
    ]);
  });

  it('drops a failure no longer listed unless it was handled here', () => {
    expect(mergeFailed([{ failed: newer }], [older], new Map()).map((entry) => entry.failed.id)).toEqual(['a']);
  });
});
