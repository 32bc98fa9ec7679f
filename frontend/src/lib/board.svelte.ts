// The kitchen board's state: every open order (shown in columns by status), the orders
// finished in the last hours, a search across all orders, the number of failed texts,
// and which orders arrived since the board was opened. A refresh re-reads all of it
// without losing the user's place.
import { unwrap } from '../api/client';
import type { Order, OrderStatus } from '../api/types';
import { Arrivals } from './arrivals';
import { chime } from './chime';
import { session } from './session.svelte';
import { OPEN_STATUSES } from './transitions';

/** The API's largest page. */
const PAGE = 200;
/** Open orders read at most (a kitchen with more has other troubles). */
const MAX_OPEN_PAGES = 5;
/** How far back the "Done" list reaches. */
export const DONE_HOURS = 6;
const SEARCH_LIMIT = 50;

function byAge(a: Order, b: Order): number {
  return a.created_at < b.created_at ? -1 : a.created_at > b.created_at ? 1 : 0;
}

function isOpen(order: Order): boolean {
  return OPEN_STATUSES.includes(order.status);
}

class Board {
  /** Every open order, oldest first. */
  open = $state<Order[]>([]);
  /** Orders delivered or cancelled in the last DONE_HOURS, most recent first. */
  done = $state<Order[]>([]);
  /** The search box's text; it applies from the next `search` (typing is debounced). */
  query = $state('');
  /** The orders matching the last search, newest first; `null` when not searching. */
  results = $state<Order[] | null>(null);
  /** Where the search's next page starts; `null` on its last page. */
  resultsCursor = $state<string | null>(null);
  loadingMore = $state(false);
  /** Texts that failed for good (staff and admins see them); `null` when not known. */
  failedTexts = $state<number | null>(null);
  /** Ids of the orders that arrived while the board was open and nobody acknowledged. */
  arrived = $state<string[]>([]);
  loading = $state(false);
  /** The sentence for the last failed refresh; cleared by the next good one. */
  error = $state<string | null>(null);
  loadedOnce = $state(false);
  #arrivals = new Arrivals();
  #generation = 0;
  #searchGeneration = 0;

  /** The open orders in `status`, oldest first. */
  column(status: OrderStatus): Order[] {
    return this.open.filter((order) => order.status === status);
  }

  find(id: string): Order | undefined {
    return (
      this.open.find((o) => o.id === id) ??
      this.done.find((o) => o.id === id) ??
      this.results?.find((o) => o.id === id)
    );
  }

  isNew(id: string): boolean {
    return this.arrived.includes(id);
  }

  /** Someone saw the order (acted on it, or pressed "Seen"). */
  acknowledge(id: string): void {
    this.#arrivals.acknowledge(id);
    this.arrived = this.arrived.filter((other) => other !== id);
  }

  async #readOpen(): Promise<Order[]> {
    const orders: Order[] = [];
    let cursor: string | undefined;
    for (let n = 0; n < MAX_OPEN_PAGES; n++) {
      const query: { status: string; limit: number; cursor?: string } = { status: OPEN_STATUSES.join(','), limit: PAGE };
      if (cursor) query.cursor = cursor;
      const page = await unwrap(session.api.GET('/orders', { params: { query } }));
      orders.push(...page.items);
      if (!page.next_cursor) break;
      cursor = page.next_cursor;
    }
    return orders.sort(byAge);
  }

  async #readDone(now: number): Promise<Order[]> {
    const page = await unwrap(
      session.api.GET('/orders', { params: { query: { status: 'delivered,cancelled', limit: 100 } } }),
    );
    const since = now - DONE_HOURS * 3_600_000;
    return page.items
      .filter((order) => new Date(order.updated_at).getTime() >= since)
      .sort((a, b) => (a.updated_at < b.updated_at ? 1 : -1));
  }

  async #readFailedTexts(): Promise<number | null> {
    if (!session.isStaff) return null;
    const page = await unwrap(session.api.GET('/notifications', { params: { query: { state: 'failed', limit: 100 } } }));
    return page.items.length;
  }

  /** Reads everything; the first read shows "Loading". */
  async refresh(): Promise<void> {
    const generation = ++this.#generation;
    if (!this.loadedOnce) this.loading = true;
    try {
      const [open, done, failed] = await Promise.all([
        this.#readOpen(),
        this.#readDone(Date.now()),
        this.#readFailedTexts(),
      ]);
      if (generation !== this.#generation) return;
      this.open = open;
      this.done = done;
      this.failedTexts = failed;
      this.#noticeArrivals(open);
      this.error = null;
      this.loadedOnce = true;
    } catch (failure) {
      if (generation === this.#generation) this.error = (failure as Error).message;
    } finally {
      if (generation === this.#generation) this.loading = false;
    }
    if (this.results !== null) await this.search();
  }

  #noticeArrivals(open: Order[]): void {
    const arrived = this.#arrivals.observe(open);
    this.arrived = open.filter((order) => this.#arrivals.isNew(order.id)).map((order) => order.id);
    if (arrived.length > 0) chime();
  }

  /** Searches all orders for `query`; an empty query ends the search. */
  async search(): Promise<void> {
    const q = this.query.trim();
    const generation = ++this.#searchGeneration;
    if (q === '') {
      this.results = null;
      this.resultsCursor = null;
      return;
    }
    // A refresh re-reads as many results as are on screen.
    const limit = Math.min(Math.max(this.results?.length ?? 0, SEARCH_LIMIT), PAGE);
    try {
      const page = await unwrap(session.api.GET('/orders', { params: { query: { q, limit } } }));
      if (generation === this.#searchGeneration) {
        this.results = page.items;
        this.resultsCursor = page.next_cursor ?? null;
        this.error = null;
      }
    } catch (failure) {
      if (generation === this.#searchGeneration) this.error = (failure as Error).message;
    }
  }

  /** The search's next page, after those on screen. */
  async loadMore(): Promise<void> {
    const q = this.query.trim();
    if (!this.resultsCursor || this.loadingMore || q === '') return;
    const generation = ++this.#searchGeneration;
    this.loadingMore = true;
    try {
      const query = { q, limit: SEARCH_LIMIT, cursor: this.resultsCursor };
      const page = await unwrap(session.api.GET('/orders', { params: { query } }));
      if (generation !== this.#searchGeneration) return;
      const seen = new Set((this.results ?? []).map((order) => order.id));
      this.results = [...(this.results ?? []), ...page.items.filter((order) => !seen.has(order.id))];
      this.resultsCursor = page.next_cursor ?? null;
    } catch (failure) {
      if (generation === this.#searchGeneration) this.error = (failure as Error).message;
    } finally {
      this.loadingMore = false;
    }
  }

  /** Forgets everything loaded (on sign-out), so the next key starts from nothing. */
  clear(): void {
    this.#generation++;
    this.#searchGeneration++;
    this.#arrivals.reset();
    this.open = [];
    this.done = [];
    this.results = null;
    this.resultsCursor = null;
    this.query = '';
    this.failedTexts = null;
    this.arrived = [];
    this.error = null;
    this.loadedOnce = false;
    this.loading = false;
  }

  /** Puts an order the server just returned where it now belongs on the board. */
  update(order: Order): void {
    this.acknowledge(order.id);
    const others = (list: Order[]) => list.filter((o) => o.id !== order.id);
    if (isOpen(order)) {
      this.open = [...others(this.open), order].sort(byAge);
      this.done = others(this.done);
    } else {
      this.open = others(this.open);
      this.done = [order, ...others(this.done)];
    }
    if (this.results) this.results = this.results.map((o) => (o.id === order.id ? order : o));
  }
}

export const board = new Board();
