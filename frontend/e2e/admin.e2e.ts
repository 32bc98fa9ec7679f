// What admins do in the browser: texts (templates) with a live preview, API keys and
// webhooks; and what a wrong or revoked key sees.
import { createHmac } from 'node:crypto';
import { createServer, type IncomingMessage } from 'node:http';
import type { AddressInfo } from 'node:net';
import { describe, expect, it } from 'vitest';
import { accessibilityViolations, api, baseUrl, createOrder, useBrowser, screenshot, signedIn } from './browser';

interface Received {
  path: string;
  headers: IncomingMessage['headers'];
  body: string;
}

/** An order system's receiver: `/ok` answers 204, anything else 503; keeps every call. */
async function receiver(): Promise<{ url: string; calls: Received[]; close: () => void }> {
  const calls: Received[] = [];
  const server = createServer((request, response) => {
    let body = '';
    request.on('data', (chunk: Buffer) => (body += chunk.toString()));
    request.on('end', () => {
      calls.push({ path: request.url ?? '', headers: request.headers, body });
      response.writeHead(request.url === '/ok' ? 204 : 503).end();
    });
  });
  await new Promise<void>((done) => server.listen(0, '127.0.0.1', done));
  const { port } = server.address() as AddressInfo;
  return { url: `http://127.0.0.1:${port}`, calls, close: () => server.close() };
}

/** Standard Webhooks, checked with Node's own HMAC: `v1,` + base64 HMAC-SHA256 of
 * `id.timestamp.body` under the secret's base64 bytes. */
function signedBy(call: Received, secret: string): boolean {
  const key = Buffer.from(secret.replace(/^whsec_/, ''), 'base64');
  const signed = `${call.headers['webhook-id']}.${call.headers['webhook-timestamp']}.${call.body}`;
  const expected = createHmac('sha256', key).update(signed).digest('base64');
  return String(call.headers['webhook-signature']).split(' ').includes(`v1,${expected}`);
}

const browser = useBrowser();

describe('admin pages', () => {
  it('previews a template as it is edited, with its SMS count and encoding', async () => {
    const page = await signedIn(browser());
    await page.getByRole('link', { name: 'Text templates' }).click();
    const form = page.locator('form[data-status="cancelled"]');
    const text = form.getByLabel('Text for Cancelled');
    const segments = form.getByTestId('segments');
    await segments.waitFor();

    await text.fill('Sorry {first_name}, order {order_ref} is cancelled.');
    await expect.poll(() => segments.textContent()).toBe('1 SMS');
    await text.fill(`Sorry {first_name}, order {order_ref} is cancelled. ${'We are very sorry. '.repeat(8)}`);
    await expect.poll(() => segments.textContent()).toBe('2 SMS');
    expect(await form.getByTestId('preview-text').textContent()).toMatch(/^Sorry Ada/);

    // One curly apostrophe forces UCS-2, and the page says which character did it.
    await text.fill('Sorry {first_name}, we’re out of dough.');
    await form.getByRole('note').filter({ hasText: '“’” is not in the GSM-7 alphabet' }).waitFor();
    expect(await form.textContent()).toContain('UCS-2');

    await text.fill('Sorry {first_name}, order {order_ref} is cancelled. Call us!');
    await form.getByRole('button', { name: 'Save' }).click();
    await page.getByTestId('toast').filter({ hasText: 'The cancelled text is saved.' }).waitFor();
    const saved = await api<{ items: { status: string; body: string }[] }>('/templates');
    expect(saved.items.find((t) => t.status === 'cancelled')?.body).toBe(
      'Sorry {first_name}, order {order_ref} is cancelled. Call us!',
    );

    // An unknown placeholder is refused in words, and nothing is saved.
    await text.fill('Bye {nickname}');
    await form.getByRole('button', { name: 'Save' }).click();
    await page.getByTestId('toast').filter({ hasText: /nickname/ }).waitFor();
    const after = await api<{ items: { status: string; body: string }[] }>('/templates');
    expect(after.items.find((t) => t.status === 'cancelled')?.body).toContain('Call us!');
    await form.getByRole('button', { name: 'Undo changes' }).click();
    await expect.poll(() => form.getByTestId('preview-text').textContent()).toMatch(/Call us!$/);
    await screenshot(page, 'templates');
  });

  it('creates a staff key shown once, and revoking it signs its user out', async () => {
    const admin = await signedIn(browser());
    await admin.getByRole('link', { name: 'Keys' }).click();
    await admin.getByLabel('Name').fill('Front counter');
    await admin.getByLabel('Role').selectOption('staff');
    await admin.getByRole('button', { name: 'Create key' }).click();
    const secret = admin.getByTestId('new-secret');
    await secret.waitFor();
    const key = (await secret.locator('code').first().textContent())!.trim();
    expect(key).toMatch(/^onk_/);
    // The new key's panel has its sign-in link, and the link as a QR code.
    const link = (await secret.getByTestId('sign-in-link').textContent())!.trim();
    expect(link).toBe(`${baseUrl()}/#key=${encodeURIComponent(key)}`);
    const qr = secret.getByRole('img', { name: 'QR code of the sign-in link for “Front counter”' });
    await qr.waitFor();
    expect(await qr.evaluate((img) => (img as HTMLImageElement).naturalWidth)).toBeGreaterThanOrEqual(200);
    await screenshot(admin, 'keys');
    await admin.setViewportSize({ width: 390, height: 844 });
    await screenshot(admin, 'keys-390x844');
    expect(await admin.evaluate(() => document.documentElement.scrollWidth <= innerWidth)).toBe(true);
    await admin.setViewportSize({ width: 1280, height: 900 });
    await secret.getByRole('button', { name: 'I have stored it' }).click();
    expect(await admin.content()).not.toContain(key);

    // Staff see the kitchen's pages, not the admin's.
    const staff = await signedIn(browser(), { key });
    const nav = staff.getByRole('navigation', { name: 'Main' });
    expect(await nav.getByRole('link').allTextContents()).toEqual(['Orders', 'New order', 'Sandbox', 'Text templates']);

    const row = admin.getByRole('row').filter({ hasText: 'Front counter' });
    await row.getByRole('button', { name: /Revoke/ }).click();
    await row.getByRole('button', { name: /Really revoke/ }).click();
    await admin.getByTestId('toast').filter({ hasText: 'is revoked' }).waitFor();

    // The server ends the staff tab's live stream at once; opening it again is refused
    // (401), which lands the tab on sign-in with the reason.
    await staff.getByRole('alert').filter({ hasText: 'no longer accepted' }).waitFor({ timeout: 10_000 });
    await staff.getByLabel('API key').waitFor();
    // The device forgets the revoked key: nothing is kept in either storage.
    expect(await staff.evaluate(() => localStorage.length + sessionStorage.length)).toBe(0);
  });

  it('refuses a wrong key on the sign-in page', async () => {
    const context = await browser().newContext();
    const page = await context.newPage();
    await page.goto(baseUrl());
    await page.getByLabel('API key').fill('onk_not_a_real_key_at_all');
    await page.getByRole('button', { name: 'Sign in' }).click();
    await page.getByRole('alert').filter({ hasText: 'This key was not accepted' }).waitFor();
    expect(await page.getByRole('navigation', { name: 'Main' }).count()).toBe(0);
    await screenshot(page, 'sign-in-error');
    await context.close();
  });

  it('registers webhook endpoints, shows the secret once and how each message went', async () => {
    const orderSystem = await receiver();
    try {
      const page = await signedIn(browser());
      await page.getByRole('link', { name: 'Webhooks' }).click();
      await page.getByRole('heading', { name: 'Webhooks' }).waitFor();

      // An address that cannot be reached is refused in words, next to the field.
      const address = page.getByLabel('Address');
      await address.fill('https://hooks.invalid/orders');
      await page.getByRole('button', { name: 'Add endpoint' }).click();
      await page.locator('#hook-url-error').filter({ hasText: 'does not resolve' }).waitFor();
      expect(await address.getAttribute('aria-invalid')).toBe('true');

      await address.fill(`${orderSystem.url}/ok`);
      await page.getByRole('button', { name: 'Add endpoint' }).click();
      const panel = page.getByTestId('new-webhook-secret');
      await panel.waitFor();
      const secret = (await panel.locator('code').first().textContent())!.trim();
      expect(secret).toMatch(/^whsec_/);
      await page.setViewportSize({ width: 1024, height: 768 });
      await screenshot(page, 'webhooks-secret');
      await panel.getByRole('button', { name: 'I have stored it' }).click();
      expect(await page.content()).not.toContain(secret);

      // A second one, for new orders only, whose receiver is down.
      await address.fill(`${orderSystem.url}/down`);
      await page.getByLabel('Every event').uncheck();
      await page.getByRole('button', { name: 'Add endpoint' }).click();
      await page.getByRole('alert').filter({ hasText: 'Choose at least one event' }).waitFor();
      await page.getByLabel(/An order comes in/).check();
      await page.getByRole('button', { name: 'Add endpoint' }).click();
      await page.getByTestId('new-webhook-secret').filter({ hasText: '/down' }).waitFor();
      await page.getByRole('button', { name: 'I have stored it' }).click();

      const order = await createOrder('Webhook Wanda');
      await expect.poll(() => orderSystem.calls.filter((c) => c.path === '/ok').length).toBeGreaterThanOrEqual(1);
      const first = orderSystem.calls.find((c) => c.path === '/ok')!;
      expect(signedBy(first, secret)).toBe(true);
      expect(signedBy(first, 'whsec_' + Buffer.alloc(32, 7).toString('base64'))).toBe(false);
      expect(JSON.parse(first.body)).toMatchObject({ type: 'order.created', data: { order: { id: order.id } } });

      const endpoints = page.getByTestId('webhook-endpoint');
      const ok = endpoints.filter({ hasText: '/ok' });
      const down = endpoints.filter({ hasText: '/down' });
      expect(await down.textContent()).toContain('order.created · every order');
      await expect
        .poll(async () => {
          await ok.getByRole('button', { name: /recent deliveries/ }).click();
          return ok.getByRole('list').textContent();
        })
        .toMatch(/order\.created.*Delivered at \d\d:\d\d \(HTTP 204\)/);
      await expect
        .poll(async () => {
          await down.getByRole('button', { name: /recent deliveries/ }).click();
          return down.getByRole('list').textContent();
        })
        .toMatch(/Not delivered yet \(1 attempt: answered 503 Service Unavailable\)\. Next try at/);

      expect(await accessibilityViolations(page)).toEqual([]);
      await page.setViewportSize({ width: 1024, height: 768 });
      await screenshot(page, 'webhooks');
      await page.setViewportSize({ width: 390, height: 844 });
      await screenshot(page, 'webhooks-390x844');
      expect(await page.evaluate(() => document.documentElement.scrollWidth <= innerWidth)).toBe(true);

      // Deleted: gone from the page, and the API agrees.
      await page.setViewportSize({ width: 1024, height: 768 });
      await down.getByRole('button', { name: /Delete/ }).click();
      await down.getByRole('button', { name: /Really delete/ }).click();
      await page.getByTestId('toast').filter({ hasText: 'Nothing more is sent' }).waitFor();
      await expect.poll(() => endpoints.count()).toBe(1);
      const listed = await api<{ items: { url: string }[] }>('/webhook-endpoints');
      expect(listed.items.map((e) => e.url)).toEqual([`${orderSystem.url}/ok`]);
      await api(`/webhook-endpoints/${(await api<{ items: { id: string }[] }>('/webhook-endpoints')).items[0]!.id}`, {
        method: 'DELETE',
      });
    } finally {
      orderSystem.close();
    }
  });
});
