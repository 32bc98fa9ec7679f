// End-to-end tests: Debian's Chromium, driven by playwright-core, against the real
// order-notify server on a temporary SQLite database with the sandbox provider.
import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['e2e/**/*.e2e.ts'],
    globalSetup: ['e2e/server.ts'],
    // One server and one database for the run; the specs share them one file at a time.
    fileParallelism: false,
    testTimeout: 30_000,
    // The server and the browser share two cores with the rest of CI: give polled
    // conditions (a text reaching the sandbox, a debounced preview) room.
    expect: { poll: { timeout: 8000, interval: 100 } },
    hookTimeout: 60_000,
  },
});
