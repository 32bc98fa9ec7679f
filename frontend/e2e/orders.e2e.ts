// A kitchen's evening in the browser: sign in from the first-start link, take a phone
// order, move it along with and without texts, and see each text in the sandbox.
import type { Page } from 'playwright-core';
import { describe, expect, it } from 'vitest';
import {
  api,
  baseUrl,
  createOrder,
  useBrowser,
  screenshot,
  signedIn,
  signInLink,
  textsTo,
  uniquePhone,
} from './browser';
import { startServer, type RunningServer } from './server';

const browser = useBrowser();

function card(page: Page, name: string) {
  return page.locator('article', { has: page.getByRole('heading', { name, exact: true }) });
}

/** Waits until the sandbox has `count` texts for `phone`, and gives them (newest first). */
async function waitForTexts(phone: string, count: number) {
  await expect.poll(async () => (await textsTo(phone)).length, { timeout: 10_000 }).toBe(count);
  return textsTo(phone);
}

describe('the dashboard', () => {
  it('signs in from the first-start link and takes the key out of the address bar', async () => {
    const context = await browser().newContext();
    const page = await context.newPage();
    await page.goto(signInLink());
    await page.getByRole('heading', { name: 'Orders' }).waitFor();
    expect(page.url()).not.toContain('key=');
    expect(page.url()).toBe(`${baseUrl()}/#/`);
    // The link's entry was replaced, not kept: going back leaves the app altogether.
    await page.goBack();
    expect(page.url()).toBe('about:blank');
    await page.goForward();
    // The key lives in this tab's sessionStorage and survives a reload.
    await page.reload();
    await page.getByRole('heading', { name: 'Orders' }).waitFor();
    expect(await page.getByRole('button', { name: /Sign out/ }).textContent()).toContain('admin');
    await page.getByRole('button', { name: /Sign out/ }).click();
    await page.getByLabel('API key').waitFor();
    expect(await page.evaluate(() => sessionStorage.length)).toBe(0);
    await context.close();
  });

  it('takes a phone order, checking the number as it is typed and on submit', async () => {
    const page = await signedIn(browser());
    await page.getByRole('link', { name: 'New order' }).click();
    await page.getByLabel('Customer name').fill('Grace Hopper');
    const phone = page.getByLabel('Phone');
    await phone.fill('06-CALL-ME');
    await page.getByText('Use digits, spaces and a leading + only.').waitFor();
    expect(await phone.getAttribute('aria-invalid')).toBe('true');

    // Plausible to the eye, refused by the server: its verdict is shown next to the field.
    await phone.fill('+999 1234 5678');
    await page.getByLabel('Item 1', { exact: true }).fill('Pad thai');
    await page.getByLabel('Quantity').fill('2');
    await page.getByRole('button', { name: 'Create order' }).click();
    await page.getByTestId('form-error').waitFor();
    expect(await page.getByTestId('form-error').textContent()).toMatch(/^Please check: Phone: /);
    const before = await api<{ items: unknown[] }>('/orders?q=Grace%20Hopper&status=pending');
    expect(before.items).toHaveLength(0);

    const number = uniquePhone();
    await phone.fill(number);
    await page.getByRole('button', { name: 'Add item' }).click();
    await expect.poll(() => page.evaluate(() => document.activeElement?.id)).toBe('item-name-1');
    await page.getByLabel('Item 2', { exact: true }).fill('Spring rolls');
    await page.getByRole('button', { name: 'Create order' }).click();

    // The new order's panel opens on the board.
    const panel = page.getByTestId('order-panel');
    await panel.getByRole('heading', { name: 'Grace Hopper' }).waitFor();
    await panel.getByText('2 × Pad thai, 1 × Spring rolls').waitFor();
    await card(page, 'Grace Hopper').getByText('No text yet').waitFor();
    const { items } = await api<{ items: { phone: string }[] }>('/orders?q=Grace%20Hopper');
    expect(items.map((o) => o.phone)).toEqual([number]);
    expect(await textsTo(number)).toHaveLength(0);
    await screenshot(page, 'order-panel-new');
  });

  it('moves an order from pending to delivered, texting only when asked', async () => {
    const phone = uniquePhone();
    const order = await createOrder('Ada Lovelace', phone);
    const page = await signedIn(browser());
    const ada = card(page, 'Ada Lovelace');
    await ada.waitFor();
    // Only the statuses the workflow allows next are offered.
    const offered = await ada.locator('[data-action]').evaluateAll((buttons) =>
      buttons.map((b) => b.getAttribute('data-action')),
    );
    expect(offered).toEqual(['confirmed', 'delayed', 'cancelled']);

    await ada.getByRole('button', { name: 'Confirm' }).click();
    await page.getByTestId('toast').filter({ hasText: 'Ada: Confirmed, customer will be texted.' }).waitFor();
    const [confirmed] = await waitForTexts(phone, 1);
    expect(confirmed?.body).toContain('Ada');
    expect(confirmed?.body).toContain('confirmed');

    // The sandbox page shows it as a bubble on Ada's "phone", with her name in it.
    await page.getByRole('link', { name: 'Sandbox' }).click();
    const screen = page.locator(`[data-recipient="${phone}"]`);
    await screen.getByTestId('sandbox-message').first().waitFor();
    expect(await screen.getByTestId('sandbox-message').first().textContent()).toContain('Good news Ada');
    await screenshot(page, 'sandbox');

    // Delayed without a text: the board says so and the sandbox gets nothing new.
    await page.getByRole('link', { name: 'Orders' }).click();
    await ada.getByText('Text delivered').or(ada.getByText('Text sent')).waitFor();
    await ada.getByLabel('Don’t text').check();
    await ada.getByRole('button', { name: 'Delay' }).click();
    await page.getByTestId('toast').filter({ hasText: 'Ada: Delayed, no text sent.' }).waitFor();
    await ada.getByTestId('status').filter({ hasText: 'Delayed' }).waitFor();
    await new Promise((r) => setTimeout(r, 1500));
    expect(await textsTo(phone)).toHaveLength(1);

    // "Notify customer" texts the current status's text on demand.
    await ada.getByRole('button', { name: 'Notify customer' }).click();
    const [delayed] = await waitForTexts(phone, 2);
    expect(delayed?.body).toContain('needs a little longer');

    // A correction made elsewhere (an order system's PATCH) reaches the card live and the
    // history names what was corrected.
    await api(`/orders/${order.id}`, {
      method: 'PATCH',
      body: JSON.stringify({ items: [{ name: 'Calzone', quantity: 1 }] }),
    });
    await ada.getByText(/Calzone/).waitFor();

    // The panel shows the whole history and every text.
    await ada.getByRole('link', { name: /Ada Lovelace/ }).click();
    const panel = page.getByTestId('order-panel');
    const history = panel.getByTestId('history');
    await history.getByText('Confirmed → Delayed').waitFor();
    const steps = await history.locator('li').allTextContents();
    expect(steps.map((s) => s.replace(/\s+/g, ' ').trim())).toEqual([
      expect.stringMatching(/Created as Pending by /),
      expect.stringMatching(/Pending → Confirmed by /),
      expect.stringMatching(/Confirmed → Delayed by /),
      expect.stringMatching(/Corrected the items by /),
    ]);
    await expect.poll(() => panel.getByTestId('texts').locator('li').count()).toBe(2);
    expect(page.url()).toBe(`${baseUrl()}/#/order/${order.id}`);
    await screenshot(page, 'order-panel-history');

    // Back on time, then delivered: the final step leaves no status buttons.
    await panel.getByRole('button', { name: 'Back on time' }).click();
    await panel.getByTestId('status').filter({ hasText: 'Confirmed' }).waitFor();
    await panel.getByRole('button', { name: 'Delivered' }).click();
    await panel.getByTestId('status').filter({ hasText: 'Delivered' }).waitFor();
    await waitForTexts(phone, 4);
    expect(await panel.locator('[data-action]').count()).toBe(0);
    const final = await api<{ status: string }>(`/orders/${order.id}`);
    expect(final.status).toBe('delivered');
  });

  it('sends one change for a double click', async () => {
    const phone = uniquePhone();
    const order = await createOrder('Katherine Johnson', phone);
    const page = await signedIn(browser());
    const katherine = card(page, 'Katherine Johnson');
    await katherine.getByRole('button', { name: 'Confirm' }).dblclick();
    await waitForTexts(phone, 1);
    await new Promise((r) => setTimeout(r, 1000));
    expect(await textsTo(phone)).toHaveLength(1);
    const events = await api<{ items: unknown[] }>(`/orders/${order.id}/events`);
    expect(events.items).toHaveLength(2);

    // Even when the answer comes between the two clicks, and the next step's button is
    // already under the pointer, the second click of the double click does nothing.
    const slowPhone = uniquePhone();
    const slow = await createOrder('Dorothy Vaughan', slowPhone);
    const dorothy = card(page, 'Dorothy Vaughan');
    const box = (await dorothy.getByRole('button', { name: 'Confirm' }).boundingBox())!;
    const [x, y] = [box.x + box.width / 2, box.y + box.height / 2];
    await page.mouse.click(x, y);
    await dorothy.getByTestId('status').filter({ hasText: 'Confirmed' }).waitFor();
    // The second half of a double click: a press and release counted as click two.
    await page.mouse.down({ clickCount: 2 });
    await page.mouse.up({ clickCount: 2 });
    await new Promise((r) => setTimeout(r, 1000));
    expect(await textsTo(slowPhone)).toHaveLength(1);
    const slowEvents = await api<{ items: unknown[] }>(`/orders/${slow.id}/events`);
    expect(slowEvents.items).toHaveLength(2);
  });

  it('shows orders changed elsewhere at once over the live stream, keeping the filter', async () => {
    const page = await signedIn(browser());
    const indicator = page.getByTestId('live');
    await expect.poll(() => indicator.textContent()).toContain('Live');
    await page.getByRole('button', { name: 'Cancelled', exact: true }).click();
    expect(await page.getByRole('button', { name: 'Cancelled', exact: true }).getAttribute('aria-pressed')).toBe('true');
    const order = await createOrder('Margaret Hamilton');
    const changed = Date.now();
    await api(`/orders/${order.id}/status`, { method: 'PATCH', body: JSON.stringify({ status: 'cancelled' }) });
    // No reload and no poll (it is off while live): the stream brings it in, under the
    // filter the user chose, well inside the 3 s a poll would take.
    await card(page, 'Margaret Hamilton').waitFor({ timeout: 2_000 });
    expect(Date.now() - changed).toBeLessThan(2_000);
    expect(await page.getByRole('button', { name: 'Cancelled', exact: true }).getAttribute('aria-pressed')).toBe('true');
    expect(await page.locator('article [data-testid="status"]').allTextContents()).not.toContain('Pending');
  });

  it('polls, and says so, when the server refuses the stream', async () => {
    const page = await signedIn(browser(), {
      prepare: async (context) => {
        await context.route('**/events/token', (route) =>
          route.fulfill({ status: 404, contentType: 'application/problem+json', body: '{"status":404}' }),
        );
      },
    });
    const indicator = page.getByTestId('live');
    await expect.poll(() => indicator.textContent()).toContain('Updates every 3 s');
    const order = await createOrder('Hedy Lamarr');
    await card(page, 'Hedy Lamarr').waitFor({ timeout: 8_000 });
    await api(`/orders/${order.id}/status`, { method: 'PATCH', body: JSON.stringify({ status: 'confirmed' }) });
    await expect
      .poll(() => card(page, 'Hedy Lamarr').getByTestId('status').textContent(), { timeout: 8_000 })
      .toBe('Confirmed');
  });

  it('reconnects when its server restarts, showing it, and misses nothing meanwhile', async () => {
    // A server of its own, stopped and started again on the same port and database.
    const key = `e2e-restart-admin-${Date.now()}-key`;
    const first = await startServer({ adminKey: key });
    let second: RunningServer | null = null;
    try {
      const page = await signedIn(browser(), { key, base: first.baseUrl });
      const indicator = page.getByTestId('live');
      await expect.poll(() => indicator.textContent()).toContain('Live');
      await first.stop();
      await expect.poll(() => indicator.textContent(), { timeout: 8_000 }).toMatch(/Reconnecting|Updates every/);
      second = await startServer({ adminKey: key, port: first.port, dir: first.dir });
      // Made before the page is back: it must arrive all the same.
      const created = await fetch(`${second.baseUrl}/orders`, {
        method: 'POST',
        headers: { Authorization: `Bearer ${key}`, 'Content-Type': 'application/json' },
        body: JSON.stringify({ customer_name: 'Radia Perlman', phone: uniquePhone(), items: [{ name: 'Tea', quantity: 1 }] }),
      });
      expect(created.status).toBe(201);
      await expect.poll(() => indicator.textContent(), { timeout: 15_000 }).toContain('Live');
      await card(page, 'Radia Perlman').waitFor({ timeout: 5_000 });
      await page.context().close();
    } finally {
      await second?.stop();
      await first.stop();
      first.remove();
    }
  });

  it('shows why a text failed and retries it from the panel', async () => {
    // The sandbox refuses 555-01xx numbers, which are kept for fiction.
    const order = await createOrder('Sherlock Holmes', '+12025550142');
    const page = await signedIn(browser());
    const sherlock = card(page, 'Sherlock Holmes');
    await sherlock.getByRole('button', { name: 'Confirm' }).click();
    const state = sherlock.getByTestId('text-state').filter({ hasText: 'Text failed' });
    await state.waitFor({ timeout: 10_000 });
    expect(await state.getAttribute('title')).toContain('reserved for fiction');
    // On a touch screen the reason is a tap away.
    await state.click();
    await sherlock.getByRole('note').filter({ hasText: 'reserved for fiction' }).waitFor();

    await sherlock.getByRole('link', { name: 'Sherlock Holmes' }).click();
    const panel = page.getByTestId('order-panel');
    await panel.getByText('1 attempt').waitFor();
    await panel.getByRole('button', { name: 'Retry' }).click();
    await page.getByTestId('toast').filter({ hasText: 'The text is queued again.' }).waitFor();
    const texts = await api<{ items: { state: string }[] }>(`/orders/${order.id}/notifications`);
    expect(texts.items).toHaveLength(1);
    await screenshot(page, 'order-panel-failed');
  });

  it('pages through many orders with "Load more"', async () => {
    const family = `Babbage ${Date.now()}`;
    for (let i = 0; i < 55; i++) await createOrder(`${family} ${String(i).padStart(2, '0')}`);
    const page = await signedIn(browser());
    // "Load more" stays disabled until the search's first page is on the board.
    const searched = page.waitForResponse((r) => r.url().includes(`q=${encodeURIComponent(family)}`));
    await page.getByRole('searchbox', { name: 'Search orders' }).fill(family);
    await searched;
    const cards = page.locator('article');
    await expect.poll(() => cards.count()).toBe(50);
    await page.getByRole('button', { name: 'Load more' }).click();
    await expect.poll(() => cards.count()).toBe(55);
    expect(await page.getByRole('button', { name: 'Load more' }).count()).toBe(0);
    // The next poll keeps all 55 on screen.
    await new Promise((r) => setTimeout(r, 3500));
    expect(await cards.count()).toBe(55);
  });

  it('fits the board on a 375 px phone', async () => {
    await createOrder('Dorothy Vaughan');
    const page = await signedIn(browser(), { width: 375 });
    const dorothy = card(page, 'Dorothy Vaughan');
    await dorothy.waitFor();
    const overflow = await page.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
    expect(overflow).toBeLessThanOrEqual(0);
    const box = await dorothy.getByRole('button', { name: 'Notify customer' }).boundingBox();
    expect(box).not.toBeNull();
    expect(box!.x + box!.width).toBeLessThanOrEqual(375);
    expect(box!.height).toBeGreaterThanOrEqual(36);
    await screenshot(page, 'board-375px');
    await page.setViewportSize({ width: 1280, height: 900 });
    await screenshot(page, 'board');
  });
});
