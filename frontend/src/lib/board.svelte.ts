// The orders board's state: filter, search, the pages loaded so far, and a cheap refresh
// that keeps them current without losing the user's place.
import { unwrap } from '../api/client';
import type { Order, OrderStatus } from '../api/types';
import { session } from './session.svelte';
import { OPEN_STATUSES } from './transitions';

const PAGE = 50;
/** The API's largest page: a refresh re-reads at most this many of the loaded orders. */
const MAX_PAGE = 200;

export type Filter = 'open' | 'all' | OrderStatus;

function statusesFor(filter: Filter): string | undefined {
  if (filter === 'all') return undefined;
  if (filter === 'open') return OPEN_STATUSES.join(',');
  return filter;
}

class Board {
  filter = $state<Filter>('open');
  /** The search box's text; it applies from the next `reload` (typing is debounced). */
  query = $state('');
  /** The search the loaded pages (and their cursor) belong to. */
  #search = '';
  orders = $state<Order[]>([]);
  nextCursor = $state<string | null>(null);
  loading = $state(false);
  loadingMore = $state(false);
  /** The sentence for the last failed refresh; cleared by the next good one. */
  error = $state<string | null>(null);
  loadedOnce = $state(false);
  #generation = 0;

  #params(limit: number, cursor?: string) {
    const query: { limit: number; status?: string; q?: string; cursor?: string } = { limit };
    const status = statusesFor(this.filter);
    if (status) query.status = status;
    if (this.#search !== '') query.q = this.#search;
    if (cursor) query.cursor = cursor;
    return { params: { query } };
  }

  /** Loads the first page for the current filter and search, dropping older pages. */
  async reload(): Promise<void> {
    const generation = ++this.#generation;
    this.#search = this.query.trim();
    this.loading = true;
    try {
      const page = await unwrap(session.api.GET('/orders', this.#params(PAGE)));
      if (generation !== this.#generation) return;
      this.orders = page.items;
      this.nextCursor = page.next_cursor ?? null;
      this.error = null;
      this.loadedOnce = true;
    } catch (failure) {
      if (generation === this.#generation) this.error = (failure as Error).message;
    } finally {
      if (generation === this.#generation) this.loading = false;
    }
  }

  /**
   * Re-reads what is on screen (up to 200 orders) in one request. Orders past that stay
   * as they were; the cursor is kept when the refresh did not reach them.
   */
  async refresh(): Promise<void> {
    if (this.loading || this.loadingMore) return;
    const generation = this.#generation;
    const count = Math.min(Math.max(this.orders.length, PAGE), MAX_PAGE);
    try {
      const page = await unwrap(session.api.GET('/orders', this.#params(count)));
      if (generation !== this.#generation) return;
      if (this.orders.length <= MAX_PAGE) {
        this.orders = page.items;
        this.nextCursor = page.next_cursor ?? null;
      } else {
        const fresh = new Set(page.items.map((order) => order.id));
        const rest = this.orders.slice(MAX_PAGE).filter((order) => !fresh.has(order.id));
        this.orders = [...page.items, ...rest];
      }
      this.error = null;
    } catch (failure) {
      if (generation === this.#generation) this.error = (failure as Error).message;
    }
  }

  async loadMore(): Promise<void> {
    // While a new filter or search loads, the cursor on hand belongs to the old one.
    if (!this.nextCursor || this.loadingMore || this.loading) return;
    // A refresh already in flight read fewer orders: its answer must not replace these.
    const generation = ++this.#generation;
    this.loadingMore = true;
    try {
      const page = await unwrap(session.api.GET('/orders', this.#params(PAGE, this.nextCursor)));
      if (generation !== this.#generation) return;
      const seen = new Set(this.orders.map((order) => order.id));
      this.orders = [...this.orders, ...page.items.filter((order) => !seen.has(order.id))];
      this.nextCursor = page.next_cursor ?? null;
    } catch (failure) {
      if (generation === this.#generation) this.error = (failure as Error).message;
    } finally {
      this.loadingMore = false;
    }
  }

  /** Forgets everything loaded (on sign-out), so the next key starts from nothing. */
  clear(): void {
    this.#generation++;
    this.#search = '';
    this.orders = [];
    this.nextCursor = null;
    this.error = null;
    this.loadedOnce = false;
    this.loading = false;
    this.loadingMore = false;
  }

  /** Puts an order the server just returned on the board (or takes it off the filter). */
  update(order: Order): void {
    const status = statusesFor(this.filter);
    const visible = !status || status.split(',').includes(order.status);
    const index = this.orders.findIndex((o) => o.id === order.id);
    if (index >= 0) {
      this.orders[index] = order;
    } else if (visible) {
      this.orders = [order, ...this.orders];
    }
  }
}

export const board = new Board();
