import { describe, expect, it } from 'vitest';
import { age, formatTime, minutesSince } from './time';

const now = new Date(2026, 10, 25, 19, 30, 0);
const before = (ms: number) => new Date(now.getTime() - ms);

describe('age', () => {
  it('says just now for the first minute, and for clocks a little ahead', () => {
    expect(age(before(59_000), now)).toBe('just now');
    expect(age(before(-5_000), now)).toBe('just now');
  });

  it('counts whole minutes, then hours with padded minutes, then days', () => {
    expect(age(before(12 * 60_000 + 59_000), now)).toBe('12 min');
    expect(age(before(65 * 60_000), now)).toBe('1 h 05 min');
    expect(age(before(120 * 60_000), now)).toBe('2 h');
    expect(age(before(50 * 3_600_000), now)).toBe('2 d');
  });

  it('reads RFC 3339 strings from the API', () => {
    expect(age(before(3 * 60_000).toISOString(), now)).toBe('3 min');
    expect(age('not a time', now)).toBe('just now');
  });

  it('gives whole minutes for colouring', () => {
    expect(minutesSince(before(90_000), now)).toBe(1);
    expect(minutesSince(before(-90_000), now)).toBe(0);
  });
});

describe('formatTime', () => {
  it('shows only the clock today', () => {
    expect(formatTime(new Date(2026, 10, 25, 9, 5), now)).toBe('09:05');
  });

  it('adds the day on other days and the year in other years', () => {
    expect(formatTime(new Date(2026, 10, 23, 18, 0), now)).toBe('Mon 23 Nov 18:00');
    expect(formatTime(new Date(2025, 11, 31, 23, 59), now)).toBe('Wed 31 Dec 2025 23:59');
  });

  it('shows nothing for a missing time', () => {
    expect(formatTime('', now)).toBe('');
  });
});
