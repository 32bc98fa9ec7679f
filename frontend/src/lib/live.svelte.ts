// The dashboard's live connection: its state for the header's indicator, and changes
// handed to the pages in small batches (a burst of events costs one re-read).
import { LiveConnection, type Change, type LiveEnv, type LiveState } from './live';
import { session } from './session.svelte';

/** What changed during one batch. */
export interface Changes {
  /** The page may be stale as a whole. */
  reload: boolean;
  /** Orders that changed, or whose texts did. */
  orders: Set<string>;
  /** Whether any text changed. */
  texts: boolean;
}

const BATCH_MS = 120;

/** The token endpoint's answers that mean "no streams for you here": poll instead. */
const REFUSED = new Set([403, 404, 405, 501]);

const browser: LiveEnv = {
  async token() {
    const { data, response } = await session.api.POST('/events/token');
    if (response.ok && data) return data.token;
    if (REFUSED.has(response.status)) return null;
    throw new Error(`stream token: ${response.status}`);
  },
  open: (url) => new EventSource(url),
  setTimeout: (run, ms) => setTimeout(run, ms),
  clearTimeout: (handle) => clearTimeout(handle as ReturnType<typeof setTimeout>),
};

class Live {
  state = $state<LiveState>('off');
  #listeners = new Set<(changes: Changes) => void>();
  #pending: Changes | null = null;
  #connection = new LiveConnection(
    browser,
    (state) => (this.state = state),
    (change) => this.#collect(change),
  );

  /** True while changes arrive by themselves, so pages need not poll. */
  get streaming(): boolean {
    return this.state === 'live';
  }

  start(): void {
    this.#connection.start();
  }

  stop(): void {
    this.#connection.stop();
    this.#pending = null;
  }

  /** Calls `listener` with each batch of changes; returns the unsubscribe function. */
  subscribe(listener: (changes: Changes) => void): () => void {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }

  #collect(change: Change): void {
    if (this.#pending === null) {
      this.#pending = { reload: false, orders: new Set(), texts: false };
      setTimeout(() => this.#flush(), BATCH_MS);
    }
    if (change.kind === 'reload') {
      this.#pending.reload = true;
    } else {
      this.#pending.orders.add(change.orderId);
      if (change.kind === 'notification') this.#pending.texts = true;
    }
  }

  #flush(): void {
    const changes = this.#pending;
    this.#pending = null;
    if (changes === null) return;
    for (const listener of this.#listeners) listener(changes);
  }
}

export const live = new Live();
