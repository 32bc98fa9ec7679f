import { describe, expect, it } from 'vitest';
import { delayedBy, orderTimer, readyIn } from './timer';

const now = new Date(2026, 10, 30, 19, 30, 0);
const at = (minutes: number, seconds = 0) =>
  new Date(now.getTime() + minutes * 60_000 + seconds * 1000).toISOString();

describe('orderTimer with a promised time', () => {
  it('counts down in whole minutes, rounding up', () => {
    const timer = orderTimer(at(-5), at(12, 1), now);
    expect(timer).toMatchObject({ text: '13 min', caption: 'left', tone: 'ok' });
    expect(timer.label).toBe('Promised for 19:42, in 13 minutes');
  });

  it('turns amber in the last five minutes', () => {
    expect(orderTimer(at(-5), at(6), now).tone).toBe('ok');
    expect(orderTimer(at(-5), at(5), now).tone).toBe('soon');
    expect(orderTimer(at(-5), at(0, 20), now)).toMatchObject({ text: '1 min', tone: 'soon' });
  });

  it('is due in the first minute past the time, then red and counting up', () => {
    expect(orderTimer(at(-20), at(0), now)).toMatchObject({ text: 'now', caption: 'due', tone: 'late' });
    expect(orderTimer(at(-20), at(0, -59), now).text).toBe('now');
    const late = orderTimer(at(-20), at(-3, -10), now);
    expect(late).toMatchObject({ text: '+3 min', caption: 'late', tone: 'late' });
    expect(late.label).toBe('Promised for 19:26, 3 minutes late');
  });

  it('shows hours for a time far ahead', () => {
    expect(orderTimer(at(0), at(65), now).text).toBe('1 h 05');
  });
});

describe('orderTimer without a promised time', () => {
  it('counts the wait up from the order, amber after 20 and red after 30 minutes', () => {
    expect(orderTimer(at(-8), null, now)).toMatchObject({ text: '8 min', caption: 'waiting', tone: 'ok' });
    expect(orderTimer(at(-20), null, now).tone).toBe('soon');
    expect(orderTimer(at(-29, -59), null, now).tone).toBe('soon');
    expect(orderTimer(at(-30), null, now).tone).toBe('late');
    expect(orderTimer(at(-1), undefined, now).label).toBe('Waiting 1 minute, no time promised');
  });

  it('never counts below zero for a clock a little behind', () => {
    expect(orderTimer(at(2), null, now).text).toBe('0 min');
  });
});

describe('quick times', () => {
  it('promise a time from now, to the minute', () => {
    const late = new Date(now.getTime() + 42_000);
    expect(readyIn(20, late)).toBe(new Date(2026, 10, 30, 19, 50, 0).toISOString());
  });

  it('push a promise back from the promised time while it lies ahead', () => {
    expect(delayedBy(15, at(10), now)).toBe(new Date(2026, 10, 30, 19, 55, 0).toISOString());
  });

  it('push back from now when the promise has passed or there is none', () => {
    expect(delayedBy(15, at(-10), now)).toBe(new Date(2026, 10, 30, 19, 45, 0).toISOString());
    expect(delayedBy(10, null, now)).toBe(new Date(2026, 10, 30, 19, 40, 0).toISOString());
    expect(delayedBy(10, 'garbage', now)).toBe(new Date(2026, 10, 30, 19, 40, 0).toISOString());
  });
});
