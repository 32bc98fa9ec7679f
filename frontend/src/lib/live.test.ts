import { describe, expect, it } from 'vitest';
import { FALLBACK_AFTER, LiveConnection, RETRY_MS, type Change, type EventSourceLike, type LiveEnv, type LiveState } from './live';

/** An EventSource the test drives by hand. */
class FakeSource implements EventSourceLike {
  readyState = 0;
  onopen: ((event: Event) => void) | null = null;
  onerror: ((event: Event) => void) | null = null;
  closed = false;
  #listeners = new Map<string, ((event: MessageEvent) => void)[]>();

  constructor(readonly url: string) {}

  addEventListener(type: string, listener: (event: MessageEvent) => void): void {
    this.#listeners.set(type, [...(this.#listeners.get(type) ?? []), listener]);
  }

  close(): void {
    this.closed = true;
    this.readyState = 2;
  }

  open(): void {
    this.readyState = 1;
    this.onopen?.(new Event('open'));
  }

  emit(type: string, id: string, data: unknown): void {
    const event = new MessageEvent(type, { data: JSON.stringify(data), lastEventId: id });
    for (const listener of this.#listeners.get(type) ?? []) listener(event);
  }

  /** The browser lost the stream; `retrying`: it will try again by itself. */
  fail(retrying: boolean): void {
    this.readyState = retrying ? 0 : 2;
    this.onerror?.(new Event('error'));
  }
}

function harness(tokens: (() => Promise<string | null>)[]) {
  const sources: FakeSource[] = [];
  const timers: { run: () => void; ms: number }[] = [];
  const states: LiveState[] = [];
  const changes: Change[] = [];
  let calls = 0;
  const env: LiveEnv = {
    token: () => (tokens[Math.min(calls++, tokens.length - 1)] ?? (async () => 'tok'))(),
    open: (url) => {
      const source = new FakeSource(url);
      sources.push(source);
      return source;
    },
    setTimeout: (run, ms) => timers.push({ run, ms }),
    clearTimeout: () => {},
  };
  const connection = new LiveConnection(env, (s) => states.push(s), (c) => changes.push(c));
  return { connection, sources, timers, states, changes, tokenCalls: () => calls };
}

const settle = () => new Promise((resolve) => setTimeout(resolve, 0));
const ORDER = '01a21176-3bc5-72b3-8bc6-9787c7529f83';

describe('LiveConnection', () => {
  it('opens the stream with a token, goes live and reloads once on the first ready', async () => {
    const h = harness([async () => 'ons_a']);
    h.connection.start();
    await settle();
    expect(h.sources).toHaveLength(1);
    expect(h.sources[0]!.url).toBe('/events?token=ons_a');
    h.sources[0]!.open();
    h.sources[0]!.emit('ready', '0-5', {});
    h.sources[0]!.emit('order', '0-6', { order_id: ORDER, status: 'confirmed' });
    h.sources[0]!.emit('notification', '0-7', { order_id: ORDER, state: 'sent' });
    expect(h.states).toEqual(['connecting', 'live']);
    expect(h.changes).toEqual([
      { kind: 'reload' },
      { kind: 'order', orderId: ORDER },
      { kind: 'notification', orderId: ORDER },
    ]);
  });

  it('opens a refused stream again with a new token, resuming after the last event', async () => {
    const h = harness([async () => 'ons_a', async () => 'ons_b']);
    h.connection.start();
    await settle();
    h.sources[0]!.open();
    h.sources[0]!.emit('ready', '0-5', {});
    h.sources[0]!.emit('order', '0-9', { order_id: ORDER });
    h.sources[0]!.fail(false);
    expect(h.sources[0]!.closed).toBe(true);
    expect(h.connection.state).toBe('reconnecting');
    expect(h.timers.map((t) => t.ms)).toEqual([RETRY_MS[0]]);
    h.timers[0]!.run();
    await settle();
    expect(h.sources[1]!.url).toBe('/events?token=ons_b&last_event_id=0-9');
    h.sources[1]!.open();
    // A resumed stream replays what was missed rather than asking for a reload.
    h.sources[1]!.emit('ready', '0-9', {});
    expect(h.changes.filter((c) => c.kind === 'reload')).toHaveLength(1);
    expect(h.connection.state).toBe('live');
  });

  it('falls back to polling after repeated failures and keeps trying with growing waits', async () => {
    const failing = async () => {
      throw new Error('offline');
    };
    const h = harness([failing, failing, failing, failing, async () => 'ons_ok']);
    h.connection.start();
    for (let i = 0; i < 4; i++) {
      await settle();
      h.timers[i]?.run();
    }
    await settle();
    expect(h.states.slice(0, 3)).toEqual(['connecting', 'reconnecting', 'polling']);
    expect(FALLBACK_AFTER).toBe(3);
    expect(h.timers.map((t) => t.ms)).toEqual(RETRY_MS.slice(0, 4));
    h.sources[0]!.open();
    expect(h.connection.state).toBe('live');
  });

  it('counts the browser’s own retries, and a reset asks for a reload', async () => {
    const h = harness([async () => 'ons_a']);
    h.connection.start();
    await settle();
    const source = h.sources[0]!;
    source.open();
    for (let i = 0; i < FALLBACK_AFTER; i++) source.fail(true);
    expect(h.connection.state).toBe('polling');
    source.open();
    expect(h.connection.state).toBe('live');
    source.emit('reset', '', {});
    expect(h.changes.at(-1)).toEqual({ kind: 'reload' });
  });

  it('polls for good when the server offers no streams, and stop closes everything', async () => {
    const refused = harness([async () => null]);
    refused.connection.start();
    await settle();
    expect(refused.connection.state).toBe('polling');
    expect(refused.sources).toHaveLength(0);
    expect(refused.timers).toHaveLength(0);

    const h = harness([async () => 'ons_a']);
    h.connection.start();
    await settle();
    h.connection.stop();
    expect(h.sources[0]!.closed).toBe(true);
    expect(h.connection.state).toBe('off');
    // Events from a stream that was stopped are ignored.
    h.sources[0]!.emit('order', '0-1', { order_id: ORDER });
    expect(h.changes).toEqual([]);
  });
});
