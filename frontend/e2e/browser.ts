// Debian's Chromium through playwright-core (no browser download), and the steps every
// spec repeats: open a signed-in page, read the API as a test oracle, save screenshots.
import { mkdirSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join, resolve } from 'node:path';
import { chromium, type Browser, type BrowserContext, type Page } from 'playwright-core';
import { afterAll, beforeAll, inject } from 'vitest';

export const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';
const ARTIFACTS = resolve('e2e', 'artifacts');
const require = createRequire(import.meta.url);

export function baseUrl(): string {
  return inject('baseUrl');
}

/** The first-start link the server printed: `http://…/#key=onk_…`. */
export function signInLink(): string {
  return inject('signInLink');
}

export function adminKey(): string {
  return decodeURIComponent(signInLink().split('#key=')[1] ?? '');
}

export function launch(): Promise<Browser> {
  return chromium.launch({
    executablePath: CHROMIUM,
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking'],
  });
}

/** One Chromium for the spec file that calls this, started before its tests and closed after. */
export function useBrowser(): () => Browser {
  let browser: Browser | undefined;
  beforeAll(async () => {
    browser = await launch();
  });
  afterAll(async () => {
    await browser?.close();
  });
  return () => {
    if (!browser) throw new Error('Chromium has not started');
    return browser;
  };
}

export interface SignInOptions {
  key?: string;
  width?: number;
  /** Another server than the run's (a test that stops and starts its own). */
  base?: string;
  /** Runs on the new context before the page loads (routes, for example). */
  prepare?: (context: BrowserContext) => Promise<void>;
}

/** A fresh tab (own sessionStorage) signed in through a `/#key=` link. */
export async function signedIn(browser: Browser, options: SignInOptions = {}): Promise<Page> {
  const { key = adminKey(), width = 1280, base = baseUrl(), prepare } = options;
  const context = await browser.newContext({ viewport: { width, height: 900 } });
  await prepare?.(context);
  // Anything the Content-Security-Policy blocks is noted, for `cspViolations`.
  await context.addInitScript(() => {
    const seen: string[] = [];
    (window as unknown as { cspViolations: string[] }).cspViolations = seen;
    document.addEventListener('securitypolicyviolation', (e) => seen.push(`${e.violatedDirective} ${e.blockedURI}`));
  });
  const page = await context.newPage();
  page.on('pageerror', (error) => {
    throw error;
  });
  await page.goto(`${base}/#key=${encodeURIComponent(key)}`);
  await page.getByRole('navigation', { name: 'Main' }).waitFor();
  return page;
}

/** What the page's Content-Security-Policy has blocked since it loaded. */
export function cspViolations(page: Page): Promise<string[]> {
  return page.evaluate(() => (window as unknown as { cspViolations: string[] }).cspViolations);
}

export async function screenshot(page: Page, name: string): Promise<void> {
  mkdirSync(ARTIFACTS, { recursive: true });
  await page.screenshot({ path: join(ARTIFACTS, `${name}.png`), fullPage: true });
}

/** Calls the API directly with the admin key: the test's independent view of the truth. */
export async function api<T = unknown>(path: string, init: RequestInit = {}): Promise<T> {
  const response = await fetch(`${baseUrl()}${path}`, {
    ...init,
    headers: {
      Authorization: `Bearer ${adminKey()}`,
      'Content-Type': 'application/json',
      ...(init.headers ?? {}),
    },
  });
  if (!response.ok) throw new Error(`${init.method ?? 'GET'} ${path}: ${response.status} ${await response.text()}`);
  return (response.status === 204 ? null : await response.json()) as T;
}

/** A caller of another server's API (one a test started) with `key`: `call(path, body?,
 * method = 'POST')`, failing the test on an answer that is not 2xx. */
export function apiOn(base: string, key: string) {
  return async <T>(path: string, body?: unknown, method = 'POST'): Promise<T> => {
    const response = await fetch(`${base}${path}`, {
      method,
      headers: { Authorization: `Bearer ${key}`, 'Content-Type': 'application/json' },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    if (!response.ok) throw new Error(`${method} ${path}: ${response.status} ${await response.text()}`);
    return (response.status === 204 ? null : await response.json()) as T;
  };
}

interface SandboxMessage {
  recipient: string;
  body: string;
}

/** The texts the sandbox provider "sent" to one number, newest first. */
export async function textsTo(phone: string): Promise<SandboxMessage[]> {
  const { items } = await api<{ items: SandboxMessage[] }>('/sandbox/messages?limit=200');
  return items.filter((message) => message.recipient === phone);
}

let phones = 0;

/** A phone number no other spec uses, in E.164 (a Dutch mobile number). */
export function uniquePhone(): string {
  phones += 1;
  const digits = String((Date.now() * 100 + phones) % 10_000_000).padStart(7, '0');
  return `+3161${digits}`;
}

export interface Order {
  id: string;
  order_ref: string;
  status: string;
  customer_name: string;
  phone: string;
}

/** Creates an order through the API, as an order system would. */
export function createOrder(customerName: string, phone = uniquePhone()): Promise<Order> {
  return api<Order>('/orders', {
    method: 'POST',
    body: JSON.stringify({ customer_name: customerName, phone, items: [{ name: 'Margherita', quantity: 2 }] }),
  });
}

interface AxeViolation {
  id: string;
  help: string;
  nodes: { target: string[] }[];
}

/**
 * The WCAG 2.1 AA violations axe-core finds on the page as it is now, as readable lines.
 * axe is evaluated through the DevTools protocol, which the page's CSP does not govern.
 */
export async function accessibilityViolations(page: Page): Promise<string[]> {
  const source = readFileSync(require.resolve('axe-core/axe.min.js'), 'utf8');
  await page.evaluate(source);
  const violations = await page.evaluate(async () => {
    const axe = (window as unknown as { axe: { run: (o: unknown) => Promise<{ violations: unknown[] }> } }).axe;
    const result = await axe.run({ runOnly: { type: 'tag', values: ['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa'] } });
    return result.violations;
  });
  return (violations as AxeViolation[]).map(
    (v) => `${v.id}: ${v.help} (${v.nodes.map((n) => n.target.join(' ')).join(', ')})`,
  );
}
