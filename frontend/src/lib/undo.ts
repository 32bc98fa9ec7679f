// Final steps (Delivered, Cancel) wait a few seconds before they are sent, so a wrong
// tap can be taken back before the server, or the customer, hears of it.

/** How long a final step waits for "Undo". */
export const UNDO_MS = 5_000;

export interface Timers {
  set(run: () => void, ms: number): unknown;
  clear(handle: unknown): void;
}

const browserTimers: Timers = {
  set: (run, ms) => setTimeout(run, ms),
  clear: (handle) => clearTimeout(handle as ReturnType<typeof setTimeout>),
};

export interface Pending<T> {
  value: T;
  /** When it will be sent (milliseconds since the epoch). */
  until: number;
}

/**
 * Steps waiting to be sent, one per key (an order's id). `send` runs when the wait is
 * over, or at once on `flush`; `undo` drops a step so that nothing is sent.
 */
export class PendingSteps<T> {
  #pending = new Map<string, Pending<T> & { handle: unknown }>();
  readonly #send: (key: string, value: T) => void;
  readonly #delay: number;
  readonly #timers: Timers;
  readonly #changed: () => void;

  constructor(
    send: (key: string, value: T) => void,
    options: { delay?: number; timers?: Timers; changed?: () => void } = {},
  ) {
    this.#send = send;
    this.#delay = options.delay ?? UNDO_MS;
    this.#timers = options.timers ?? browserTimers;
    this.#changed = options.changed ?? (() => {});
  }

  /** Waits to send `value` for `key`; a step already waiting for it is replaced. */
  schedule(key: string, value: T, now: number = Date.now()): void {
    this.#drop(key);
    const handle = this.#timers.set(() => this.#fire(key), this.#delay);
    this.#pending.set(key, { value, until: now + this.#delay, handle });
    this.#changed();
  }

  /** Takes the step back; `false` when there was none (it was sent already). */
  undo(key: string): boolean {
    const dropped = this.#drop(key);
    if (dropped) this.#changed();
    return dropped;
  }

  /** Sends every waiting step now (the page is being left). */
  flush(): void {
    for (const key of [...this.#pending.keys()]) this.#fire(key);
  }

  get(key: string): Pending<T> | undefined {
    const pending = this.#pending.get(key);
    return pending && { value: pending.value, until: pending.until };
  }

  get size(): number {
    return this.#pending.size;
  }

  #fire(key: string): void {
    const pending = this.#pending.get(key);
    if (!pending) return;
    this.#timers.clear(pending.handle);
    this.#pending.delete(key);
    this.#changed();
    this.#send(key, pending.value);
  }

  #drop(key: string): boolean {
    const pending = this.#pending.get(key);
    if (!pending) return false;
    this.#timers.clear(pending.handle);
    this.#pending.delete(key);
    return true;
  }
}
