// Builds the dashboard into dist/, which the order-notify server serves at `/`.
// `npm run dev` proxies the API to a server on 127.0.0.1:8080.
import { svelte } from '@sveltejs/vite-plugin-svelte';
import { defineConfig } from 'vitest/config';

const api = 'http://127.0.0.1:8080';
const apiRoots = ['orders', 'notifications', 'templates', 'opt-outs', 'keys', 'sandbox', 'events', 'healthz'];

export default defineConfig({
  plugins: [svelte()],
  build: {
    target: 'es2022',
    // The server's Content-Security-Policy allows only files from itself: no inline code.
    assetsInlineLimit: 0,
  },
  server: {
    proxy: Object.fromEntries(apiRoots.map((root) => [`/${root}`, api])),
  },
  test: {
    include: ['src/**/*.test.ts'],
  },
});
