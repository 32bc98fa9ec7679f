import { describe, expect, it } from 'vitest';
import { hrefFor, parseHash } from './router.svelte';

describe('hash routes', () => {
  const id = '0190f3b2-6c1e-7a3c-9d1e-2f6b8a4c5d7e';

  it('open the board by default and for anything unknown', () => {
    expect(parseHash('')).toEqual({ page: 'board', orderId: null });
    expect(parseHash('#/nowhere')).toEqual({ page: 'board', orderId: null });
  });

  it('name each page', () => {
    expect(parseHash('#/templates').page).toBe('templates');
    expect(parseHash('#/keys').page).toBe('keys');
    expect(parseHash('#/webhooks').page).toBe('webhooks');
  });

  it('open an order panel on the board, round trip', () => {
    expect(parseHash(hrefFor('board', id))).toEqual({ page: 'board', orderId: id });
    expect(parseHash('#/order/not-an-id')).toEqual({ page: 'board', orderId: null });
  });
});
