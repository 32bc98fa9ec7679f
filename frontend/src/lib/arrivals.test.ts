import { describe, expect, it } from 'vitest';
import { Arrivals, titleWith } from './arrivals';

const pending = (id: string) => ({ id, status: 'pending' });

describe('Arrivals', () => {
  it('treats the orders of the first read as known', () => {
    const arrivals = new Arrivals();
    expect(arrivals.observe([pending('a'), pending('b')])).toEqual([]);
    expect(arrivals.count).toBe(0);
  });

  it('announces pending orders that arrive later, once', () => {
    const arrivals = new Arrivals();
    arrivals.observe([pending('a')]);
    expect(arrivals.observe([pending('a'), pending('b'), { id: 'c', status: 'confirmed' }])).toEqual(['b']);
    expect(arrivals.observe([pending('a'), pending('b')])).toEqual([]);
    expect(arrivals.isNew('b')).toBe(true);
    expect(arrivals.isNew('c')).toBe(false);
    expect(arrivals.count).toBe(1);
  });

  it('stops counting an order once acknowledged, or once it left the board', () => {
    const arrivals = new Arrivals();
    arrivals.observe([]);
    arrivals.observe([pending('a'), pending('b')]);
    expect(arrivals.count).toBe(2);
    arrivals.acknowledge('a');
    expect(arrivals.isNew('a')).toBe(false);
    arrivals.observe([pending('a')]);
    expect(arrivals.count).toBe(0);
  });

  it('never announces an order this board made itself', () => {
    const arrivals = new Arrivals();
    arrivals.observe([]);
    arrivals.acknowledge('mine');
    expect(arrivals.observe([pending('mine')])).toEqual([]);
  });

  it('learns afresh after a reset', () => {
    const arrivals = new Arrivals();
    arrivals.observe([]);
    arrivals.observe([pending('a')]);
    arrivals.reset();
    expect(arrivals.observe([pending('a'), pending('b')])).toEqual([]);
    expect(arrivals.count).toBe(0);
  });
});

describe('titleWith', () => {
  it('puts the count first, and nothing without one', () => {
    expect(titleWith(2, 'Orders · order-notify')).toBe('(2) Orders · order-notify');
    expect(titleWith(0, 'Orders · order-notify')).toBe('Orders · order-notify');
  });
});
