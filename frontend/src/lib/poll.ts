// The fallback for live updates: re-read every few seconds, but only while the stream
// is not live and the tab is visible, so a forgotten tab costs the server nothing.
import { live, type Changes } from './live.svelte';

export const POLL_MS = 3000;

/** Calls `refresh` every POLL_MS while the page is visible and not live; returns the stop function. */
export function pollWhileVisible(refresh: () => void): () => void {
  const timer = setInterval(() => {
    if (document.visibilityState === 'visible' && !live.streaming) refresh();
  }, POLL_MS);
  return () => clearInterval(timer);
}

/**
 * Keeps a page's data current: `load` now, again on every live change that `matters`,
 * and every few seconds while there is no live stream. Returns the stop function (an
 * `$effect` can return it as is).
 */
export function keepCurrent(load: () => void, matters: (changes: Changes) => boolean): () => void {
  load();
  const stopPolling = pollWhileVisible(load);
  const stopListening = live.subscribe((changes) => {
    if (matters(changes)) load();
  });
  return () => {
    stopPolling();
    stopListening();
  };
}
