import { describe, expect, it } from 'vitest';
import {
  actionLabel,
  allowedNext,
  canChange,
  isFinal,
  OPEN_STATUSES,
  primaryNext,
  STATUSES,
} from './transitions';

describe('allowed transitions', () => {
  it('follow the contract table', () => {
    expect(allowedNext('pending')).toEqual(['confirmed', 'delayed', 'cancelled']);
    expect(allowedNext('confirmed')).toEqual(['delayed', 'delivered', 'cancelled']);
    expect(allowedNext('delayed')).toEqual(['confirmed', 'delivered', 'cancelled']);
  });

  it('end at delivered and cancelled', () => {
    expect(STATUSES.filter(isFinal)).toEqual(['delivered', 'cancelled']);
    expect(allowedNext('delivered')).toEqual([]);
  });

  it('never offer going back to pending or staying put', () => {
    for (const from of STATUSES) {
      expect(canChange(from, 'pending')).toBe(false);
      expect(canChange(from, from)).toBe(false);
    }
  });

  it('leave every open status somewhere to go', () => {
    for (const status of OPEN_STATUSES) expect(isFinal(status)).toBe(false);
  });

  it('pick the step forward as the main action', () => {
    expect(primaryNext('pending')).toBe('confirmed');
    expect(primaryNext('confirmed')).toBe('delivered');
    expect(primaryNext('delayed')).toBe('confirmed');
    expect(primaryNext('delivered')).toBeUndefined();
  });

  it('word a return from delayed differently from a first confirmation', () => {
    expect(actionLabel('pending', 'confirmed')).toBe('Confirm');
    expect(actionLabel('delayed', 'confirmed')).toBe('Back on time');
  });
});
