import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { PendingSteps, UNDO_MS } from './undo';

describe('PendingSteps', () => {
  beforeEach(() => vi.useFakeTimers());
  afterEach(() => vi.useRealTimers());

  function steps() {
    const sent: [string, string][] = [];
    const changes = vi.fn();
    const pending = new PendingSteps<string>((key, value) => sent.push([key, value]), { changed: changes });
    return { sent, changes, pending };
  }

  it('sends a step only when its five seconds are over', () => {
    const { sent, pending } = steps();
    pending.schedule('a', 'delivered', 1_000);
    expect(pending.get('a')).toEqual({ value: 'delivered', until: 1_000 + UNDO_MS });
    vi.advanceTimersByTime(UNDO_MS - 1);
    expect(sent).toEqual([]);
    vi.advanceTimersByTime(1);
    expect(sent).toEqual([['a', 'delivered']]);
    expect(pending.get('a')).toBeUndefined();
  });

  it('sends nothing when undone in time', () => {
    const { sent, pending, changes } = steps();
    pending.schedule('a', 'cancelled');
    vi.advanceTimersByTime(4_000);
    expect(pending.undo('a')).toBe(true);
    vi.advanceTimersByTime(10_000);
    expect(sent).toEqual([]);
    expect(pending.undo('a')).toBe(false);
    expect(changes).toHaveBeenCalledTimes(2);
  });

  it('keeps one step per order: a second tap replaces the first and restarts the wait', () => {
    const { sent, pending } = steps();
    pending.schedule('a', 'delivered');
    vi.advanceTimersByTime(3_000);
    pending.schedule('a', 'cancelled');
    vi.advanceTimersByTime(3_000);
    expect(sent).toEqual([]);
    vi.advanceTimersByTime(2_000);
    expect(sent).toEqual([['a', 'cancelled']]);
  });

  it('waits for each order on its own', () => {
    const { sent, pending } = steps();
    pending.schedule('a', 'delivered');
    vi.advanceTimersByTime(2_000);
    pending.schedule('b', 'delivered');
    pending.undo('a');
    vi.advanceTimersByTime(UNDO_MS);
    expect(sent).toEqual([['b', 'delivered']]);
  });

  it('sends everything waiting at once when the page is left', () => {
    const { sent, pending } = steps();
    pending.schedule('a', 'delivered');
    pending.schedule('b', 'cancelled');
    pending.flush();
    expect(sent).toEqual([
      ['a', 'delivered'],
      ['b', 'cancelled'],
    ]);
    expect(pending.size).toBe(0);
    vi.advanceTimersByTime(UNDO_MS);
    expect(sent).toHaveLength(2);
  });
});
