// Measures how fast the dashboard loads in Chromium against a running server:
//   node scripts/load-time.mjs http://127.0.0.1:8080 onk_… [runs]
// Each run is a fresh browser context (cold cache) that signs in with the key and waits
// for the first order card; a reload in the same context (signed in, files cached) shows
// the warm case.
// Prints the median and worst of DOMContentLoaded, load, and "board shown".
import { chromium } from 'playwright-core';

const [base, key, runsArg] = process.argv.slice(2);
if (!base || !key) {
  console.error('usage: node scripts/load-time.mjs BASE_URL API_KEY [RUNS]');
  process.exit(2);
}
const runs = Number(runsArg ?? 10);
const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM_PATH ?? '/usr/bin/chromium',
  args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking'],
});

async function load(page, url) {
  const started = Date.now();
  await (url ? page.goto(url) : page.reload());
  await page.locator('article').first().waitFor();
  const shown = Date.now() - started;
  const [nav] = await page.evaluate(() => performance.getEntriesByType('navigation').map((e) => e.toJSON()));
  return { dcl: nav.domContentLoadedEventEnd, load: nav.loadEventEnd, shown };
}

const cold = [];
const warm = [];
for (let i = 0; i < runs; i++) {
  const context = await browser.newContext();
  const page = await context.newPage();
  cold.push(await load(page, `${base}/#key=${encodeURIComponent(key)}`));
  warm.push(await load(page, null));
  await context.close();
}
await browser.close();

function summary(label, samples) {
  const line = ['dcl', 'load', 'shown'].map((field) => {
    const sorted = samples.map((s) => s[field]).sort((a, b) => a - b);
    const median = sorted[Math.floor(sorted.length / 2)];
    return `${field} median ${median.toFixed(0)} ms, max ${sorted.at(-1).toFixed(0)} ms`;
  });
  console.log(`${label} (${samples.length} runs): ${line.join('; ')}`);
}
summary('cold cache', cold);
summary('warm cache', warm);
