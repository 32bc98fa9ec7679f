// Svelte 5 with runes everywhere; TypeScript in components via Vite's esbuild step.
import { vitePreprocess } from '@sveltejs/vite-plugin-svelte';

export default {
  preprocess: vitePreprocess(),
  compilerOptions: { runes: true },
};
