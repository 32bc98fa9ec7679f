// Live updates from GET /events (Server-Sent Events), kept apart from the browser so the
// reconnect rules can be tested: a token from POST /events/token opens an EventSource
// (which cannot send the Authorization header); a lost stream is opened again with a
// fresh token, resuming after the last event seen; after a few failures in a row the
// dashboard polls until the stream is back. A server that refuses streams gets polled.

export type LiveState = 'off' | 'connecting' | 'live' | 'reconnecting' | 'polling';

/** One thing that changed, or `reload` when what the page shows may be stale. */
export type Change = { kind: 'order' | 'notification'; orderId: string } | { kind: 'reload' };

/** The part of EventSource this uses. */
export interface EventSourceLike {
  readonly readyState: number;
  onopen: ((event: Event) => void) | null;
  onerror: ((event: Event) => void) | null;
  addEventListener(type: string, listener: (event: MessageEvent) => void): void;
  close(): void;
}

export interface LiveEnv {
  /**
   * A stream token; null when the server does not offer streams to this key (then the
   * dashboard polls for good). Throws when it could not be had this time.
   */
  token(): Promise<string | null>;
  open(url: string): EventSourceLike;
  setTimeout(run: () => void, ms: number): unknown;
  clearTimeout(handle: unknown): void;
}

/** Waits before each new attempt after a failure: quick at first, then every 10 s. */
export const RETRY_MS = [1000, 2000, 4000, 8000, 10_000];
/** Failures in a row after which the page polls until the stream is back. */
export const FALLBACK_AFTER = 3;

const CLOSED = 2;

export class LiveConnection {
  #env: LiveEnv;
  #onState: (state: LiveState) => void;
  #onChange: (change: Change) => void;
  #state: LiveState = 'off';
  #source: EventSourceLike | null = null;
  #lastEventId: string | null = null;
  #failures = 0;
  #timer: unknown = null;
  #running = false;

  constructor(env: LiveEnv, onState: (state: LiveState) => void, onChange: (change: Change) => void) {
    this.#env = env;
    this.#onState = onState;
    this.#onChange = onChange;
  }

  get state(): LiveState {
    return this.#state;
  }

  start(): void {
    if (this.#running) return;
    this.#running = true;
    this.#failures = 0;
    this.#lastEventId = null;
    this.#set('connecting');
    void this.#connect();
  }

  stop(): void {
    this.#running = false;
    if (this.#timer !== null) this.#env.clearTimeout(this.#timer);
    this.#timer = null;
    this.#source?.close();
    this.#source = null;
    this.#set('off');
  }

  #set(state: LiveState): void {
    if (state === this.#state) return;
    this.#state = state;
    this.#onState(state);
  }

  async #connect(): Promise<void> {
    let token: string | null;
    try {
      token = await this.#env.token();
    } catch {
      this.#failed();
      return;
    }
    if (!this.#running) return;
    if (token === null) {
      this.#set('polling');
      return;
    }
    const query = new URLSearchParams({ token });
    if (this.#lastEventId !== null) query.set('last_event_id', this.#lastEventId);
    const source = this.#env.open(`/events?${query}`);
    this.#source = source;
    const current = () => source === this.#source;

    source.onopen = () => {
      if (!current()) return;
      this.#failures = 0;
      this.#set('live');
    };
    source.onerror = () => {
      if (!current()) return;
      if (source.readyState === CLOSED) {
        // Refused (an expired token, a restarting server): a new token, a new stream.
        source.close();
        this.#source = null;
        this.#failed();
      } else {
        // The browser tries again by itself, with the same token.
        this.#failures++;
        this.#set(this.#failures >= FALLBACK_AFTER ? 'polling' : 'reconnecting');
      }
    };
    source.addEventListener('ready', (event) => {
      if (!current()) return;
      // A first stream starts after the page loaded: re-read once. A resumed one
      // replays what was missed instead.
      if (this.#lastEventId === null) this.#onChange({ kind: 'reload' });
      this.#remember(event);
    });
    source.addEventListener('reset', () => {
      if (current()) this.#onChange({ kind: 'reload' });
    });
    for (const kind of ['order', 'notification'] as const) {
      source.addEventListener(kind, (event) => {
        if (!current()) return;
        this.#remember(event);
        const orderId = orderIdOf(event.data);
        this.#onChange(orderId === null ? { kind: 'reload' } : { kind, orderId });
      });
    }
  }

  #remember(event: MessageEvent): void {
    if (event.lastEventId) this.#lastEventId = event.lastEventId;
  }

  #failed(): void {
    if (!this.#running) return;
    this.#failures++;
    this.#set(this.#failures >= FALLBACK_AFTER ? 'polling' : 'reconnecting');
    const wait = RETRY_MS[Math.min(this.#failures, RETRY_MS.length) - 1] ?? 10_000;
    this.#timer = this.#env.setTimeout(() => {
      this.#timer = null;
      if (this.#running) void this.#connect();
    }, wait);
  }
}

function orderIdOf(data: unknown): string | null {
  try {
    const parsed: unknown = JSON.parse(String(data));
    if (typeof parsed === 'object' && parsed !== null && 'order_id' in parsed) {
      const id = (parsed as { order_id: unknown }).order_id;
      return typeof id === 'string' ? id : null;
    }
  } catch {
    // Not ours: treat it as "something changed".
  }
  return null;
}
