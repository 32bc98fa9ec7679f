// The dashboard's stand-in for live updates: re-read every few seconds, but only while
// the tab is visible, so a forgotten tab costs the server nothing.

export const POLL_MS = 3000;

/** Calls `refresh` every POLL_MS while the page is visible; returns the stop function. */
export function pollWhileVisible(refresh: () => void): () => void {
  const timer = setInterval(() => {
    if (document.visibilityState === 'visible') refresh();
  }, POLL_MS);
  return () => clearInterval(timer);
}
