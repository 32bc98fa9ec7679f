// The board as a kitchen display: open orders in columns by status, oldest first, with
// the code the texts give, a timer against the promised time, the items and the notes;
// a new order heard and seen until acknowledged; search by what people remember; and
// how soon the first card shows with fifty open orders.
import type { BrowserContext, Page } from 'playwright-core';
import { describe, expect, it } from 'vitest';
import { api, apiOn, createOrder, screenshot, signedIn, textsTo, uniquePhone, useBrowser, type Order } from './browser';
import { startServer } from './server';

const browser = useBrowser();

function column(page: Page, status: string) {
  return page.getByRole('region', { name: new RegExp(`^${status} \\(\\d+\\)$`) });
}

/** Counts the oscillators the context's pages make: two a chime. */
async function countChimes(context: BrowserContext): Promise<void> {
  await context.addInitScript(() => {
    const counted = window as unknown as { oscillators: number };
    counted.oscillators = 0;
    const original = AudioContext.prototype.createOscillator;
    AudioContext.prototype.createOscillator = function (this: AudioContext) {
      counted.oscillators++;
      return original.call(this);
    };
  });
}

function oscillators(page: Page): Promise<number> {
  return page.evaluate(() => (window as unknown as { oscillators: number }).oscillators);
}

/** An ISO time `minutes` from now. */
function inMinutes(minutes: number): string {
  return new Date(Date.now() + minutes * 60_000).toISOString();
}

describe('the kitchen display', () => {
  it('shows every open order by column, oldest first, with code, timer, items and notes', async () => {
    const key = `e2e-kitchen-admin-${Date.now()}-key`;
    const server = await startServer({ adminKey: key });
    const call = apiOn(server.baseUrl, key);
    const order = (name: string, extra: object = {}) =>
      call<Order>('/orders', {
        customer_name: name,
        phone: uniquePhone(),
        items: [
          { name: 'Margherita', quantity: 2 },
          { name: 'Tiramisu', quantity: 1 },
        ],
        ...extra,
      });
    const move = (id: string, status: string, eta?: string) =>
      call(`/orders/${id}/status`, eta ? { status, eta, notify: false } : { status, notify: false }, 'PATCH');
    try {
      const pending = [await order('Ada Lovelace', { notes: 'Ring bell 3' }), await order('Grace Hopper'), await order('Alan Turing')];
      const confirmed = [await order('Edsger Dijkstra'), await order('Barbara Liskov'), await order('Donald Knuth')];
      for (const [index, o] of confirmed.entries()) await move(o.id, 'confirmed', inMinutes(4 + index * 10));
      const delayed = [await order('Frances Allen'), await order('John Backus')];
      for (const o of delayed) await move(o.id, 'confirmed');
      await move(delayed[0]!.id, 'delayed', inMinutes(-3));
      await move(delayed[1]!.id, 'delayed', inMinutes(25));

      const page = await signedIn(browser(), { key, base: server.baseUrl });
      await page.setViewportSize({ width: 1024, height: 768 });
      await column(page, 'Delayed').locator('article').nth(1).waitFor();
      expect(await column(page, 'Pending').getAttribute('aria-label')).toBe('Pending (3)');
      expect(await column(page, 'Confirmed').getAttribute('aria-label')).toBe('Confirmed (3)');
      expect(await column(page, 'Delayed').getAttribute('aria-label')).toBe('Delayed (2)');
      // Oldest first: the order that waited longest is on top.
      const names = (status: string) => column(page, status).locator('article').evaluateAll((cards) => cards.map((c) => c.getAttribute('data-customer')));
      expect(await names('Pending')).toEqual(['Ada Lovelace', 'Grace Hopper', 'Alan Turing']);
      expect(await names('Confirmed')).toEqual(['Edsger Dijkstra', 'Barbara Liskov', 'Donald Knuth']);

      // The card: the code from the texts, the first name, items at arm's length, notes.
      const ada = page.locator('article[data-customer="Ada Lovelace"]');
      expect((await ada.getByRole('heading').textContent())?.replace(/\s+/g, ' ').trim()).toBe(`${pending[0]!.order_ref} Ada`);
      const itemSize = await ada.getByText('Margherita').evaluate((item) => parseFloat(getComputedStyle(item).fontSize));
      expect(itemSize).toBeGreaterThanOrEqual(18);
      await ada.getByText('Ring bell 3').waitFor();
      // Timers: minutes left (amber within five), or late in red; without a promise, the wait.
      const tone = (name: string) => page.locator(`article[data-customer="${name}"]`).getByTestId('timer').getAttribute('data-tone');
      expect(await tone('Edsger Dijkstra')).toBe('soon');
      expect(await tone('Barbara Liskov')).toBe('ok');
      expect(await tone('Frances Allen')).toBe('late');
      expect(await page.locator('article[data-customer="Frances Allen"]').getByTestId('timer').textContent()).toMatch(/\+3 min\s*late/);
      expect(await page.locator('article[data-customer="Ada Lovelace"]').getByTestId('timer').textContent()).toMatch(/0 min\s*waiting/);

      // At a glance on a 1024×768 tablet: at least eight whole cards, no scrolling.
      const visible = (on: Page = page) =>
        on.evaluate(
          () =>
            [...document.querySelectorAll('article')].filter((card) => {
              const r = card.getBoundingClientRect();
              return r.top >= 0 && r.left >= 0 && r.bottom <= innerHeight && r.right <= innerWidth;
            }).length,
        );
      expect(await visible()).toBeGreaterThanOrEqual(8);
      expect(await page.evaluate(() => document.documentElement.scrollHeight <= innerHeight + 1)).toBe(true);
      // Every control on a card is a 48 px target at least.
      const small = await page.locator('article button').evaluateAll((buttons) =>
        buttons.map((b) => b.getBoundingClientRect()).filter((r) => r.height < 48 || r.width < 48).length,
      );
      expect(small).toBe(0);
      await screenshot(page, 'kitchen-1024x768');
      await page.setViewportSize({ width: 1280, height: 800 });
      expect(await visible()).toBeGreaterThanOrEqual(8);
      await screenshot(page, 'kitchen-1280x800');
      await page.setViewportSize({ width: 390, height: 844 });
      expect(await page.evaluate(() => document.documentElement.scrollWidth <= innerWidth)).toBe(true);
      await screenshot(page, 'kitchen-390x844');
      await page.context().close();

      // The first card, cold, with fifty open orders.
      for (let i = pending.length + confirmed.length + delayed.length; i < 50; i++) await order(`Guest ${i}`);
      const timings: number[] = [];
      for (let run = 0; run < 3; run++) {
        const context = await browser().newContext({ viewport: { width: 1024, height: 768 } });
        await context.addInitScript(() => {
          const seen = new MutationObserver(() => {
            if (document.querySelector('article')) {
              (window as unknown as { firstCard: number }).firstCard = performance.now();
              seen.disconnect();
            }
          });
          seen.observe(document, { childList: true, subtree: true });
        });
        const cold = await context.newPage();
        await cold.goto(`${server.baseUrl}/#key=${encodeURIComponent(key)}`);
        await cold.locator('article').first().waitFor();
        timings.push(await cold.evaluate(() => (window as unknown as { firstCard: number }).firstCard));
        expect(await cold.locator('article').count()).toBe(50);
        if (run === 0) {
          // A rush: 45 new orders against 5 in hand. Pending takes two thirds of the
          // screen, two cards wide, and eight cards or more are still in sight.
          expect(await column(cold, 'Pending').getAttribute('aria-label')).toBe('Pending (45)');
          expect(await visible(cold)).toBeGreaterThanOrEqual(8);
          expect(await cold.evaluate(() => document.documentElement.scrollHeight <= innerHeight + 1)).toBe(true);
          await screenshot(cold, 'kitchen-rush-1024x768');
          await cold.setViewportSize({ width: 390, height: 844 });
          expect(await cold.evaluate(() => document.documentElement.scrollWidth <= innerWidth)).toBe(true);
        }
        await context.close();
      }
      console.log(`first card at 50 open orders: ${timings.map((t) => `${Math.round(t)} ms`).join(', ')} after navigation`);
      expect(Math.min(...timings)).toBeLessThan(1500);
    } finally {
      await server.stop();
      server.remove();
    }
  }, 120_000);

  it('announces a new order with a chime, a highlight and the count in the title until seen', async () => {
    const page = await signedIn(browser(), { prepare: countChimes });
    await page.getByRole('heading', { name: 'Orders', exact: true }).waitFor();
    await expect.poll(() => page.getByTestId('live').textContent()).toContain('Live');
    await page.waitForTimeout(300);
    expect(await page.title()).toBe('Orders · order-notify');
    const before = await oscillators(page);

    await createOrder('Linus Torvalds');
    const linus = page.locator('article[data-customer="Linus Torvalds"]');
    await linus.getByText('New order').waitFor({ timeout: 3_000 });
    await expect.poll(() => page.title()).toBe('(1) Orders · order-notify');
    expect(await oscillators(page)).toBe(before + 2);
    await createOrder('Ken Thompson');
    await expect.poll(() => page.title()).toBe('(2) Orders · order-notify');
    await screenshot(page, 'kitchen-new-order');

    // "Seen" acknowledges one; acting on the other acknowledges it too.
    await linus.getByRole('button', { name: 'Seen' }).click();
    await expect.poll(() => page.title()).toBe('(1) Orders · order-notify');
    expect(await linus.getByText('New order').count()).toBe(0);
    const ken = page.locator('article[data-customer="Ken Thompson"]');
    await ken.getByRole('button', { name: 'Accept, ready in 30 minutes' }).click();
    await expect.poll(() => page.title()).toBe('Orders · order-notify');

    // Muted, a new order is still highlighted and counted, but silent; the switch is
    // remembered on this device.
    const sound = page.getByRole('button', { name: 'Sound' });
    expect(await sound.getAttribute('aria-pressed')).toBe('true');
    await sound.click();
    expect(await sound.getAttribute('aria-pressed')).toBe('false');
    const muted = await oscillators(page);
    await createOrder('Dennis Ritchie');
    await page.locator('article[data-customer="Dennis Ritchie"]').getByText('New order').waitFor({ timeout: 3_000 });
    expect(await oscillators(page)).toBe(muted);
    await page.reload();
    await page.getByRole('heading', { name: 'Orders', exact: true }).waitFor();
    expect(await page.getByRole('button', { name: 'Sound' }).getAttribute('aria-pressed')).toBe('false');
    // After a reload the orders already there are not new.
    expect(await page.title()).toBe('Orders · order-notify');
    await page.context().close();
  });

  it('finds an order by the code its text gives, without accents, or by an item', async () => {
    const zoe = await api<Order>('/orders', {
      method: 'POST',
      body: JSON.stringify({ customer_name: 'Zoë Ångström', phone: uniquePhone(), items: [{ name: 'Poké bowl', quantity: 1 }] }),
    });
    const page = await signedIn(browser());
    const search = page.getByRole('searchbox', { name: 'Find an order' });
    const results = page.getByRole('region', { name: /^Orders matching/ });
    for (const q of [zoe.order_ref, zoe.order_ref.slice(1).toLowerCase(), 'zoe angstrom', 'poke bowl']) {
      await search.fill(q);
      await expect
        .poll(() => results.locator('article').evaluateAll((cards) => cards.map((c) => c.getAttribute('data-customer'))))
        .toEqual(['Zoë Ångström']);
    }
    await screenshot(page, 'kitchen-search');
    await search.fill('');
    await column(page, 'Pending').waitFor();
    await page.context().close();
  });

  it('lists failed texts with their reason, retries one and texts another at a corrected number', async () => {
    // The sandbox refuses 555-01xx numbers, which are kept for fiction.
    const retried = await createOrder('Arthur Dent', '+12025550142');
    const fixed = await createOrder('Ford Prefect', '+12025550143');
    for (const order of [retried, fixed]) {
      await api(`/orders/${order.id}/status`, { method: 'PATCH', body: JSON.stringify({ status: 'confirmed' }) });
    }
    await expect
      .poll(async () => (await api<{ items: { order_id: string }[] }>('/notifications?state=failed&limit=100')).items.filter((t) => [retried.id, fixed.id].includes(t.order_id)).length, { timeout: 10_000 })
      .toBe(2);
    const page = await signedIn(browser());
    const count = page.getByRole('link', { name: /\d+ failed texts?/ });
    await count.click();
    await page.getByRole('heading', { name: 'Failed texts', level: 2 }).waitFor();
    expect(await page.title()).toBe('Failed texts · order-notify');
    const entry = (order: Order) => page.getByTestId('failed-text').filter({ has: page.getByRole('link', { name: new RegExp(order.customer_name) }) });
    await entry(retried).getByText('reserved for fiction').waitFor();
    await screenshot(page, 'failed-texts');

    // Retry: the entry says when it was queued again, and its state moves on.
    await entry(retried).getByRole('button', { name: 'Retry' }).click();
    await entry(retried).getByRole('status').filter({ hasText: /Queued again at \d\d:\d\d/ }).waitFor();

    // Fix number: a wrong one is refused next to the field; a right one is saved and texted.
    const ford = entry(fixed);
    await ford.getByRole('button', { name: 'Fix number' }).click();
    const field = ford.getByLabel('Correct number');
    await field.fill('12');
    await ford.getByRole('button', { name: 'Save and text again' }).click();
    await ford.locator('.error').waitFor();
    expect(await field.getAttribute('aria-invalid')).toBe('true');
    const number = uniquePhone();
    await field.fill(number);
    expect(await field.getAttribute('aria-invalid')).toBe('false');
    await ford.getByRole('button', { name: 'Save and text again' }).click();
    await ford.getByRole('status').filter({ hasText: `Number corrected to ${number}` }).waitFor();
    expect((await api<{ phone: string }>(`/orders/${fixed.id}`)).phone).toBe(number);
    await expect.poll(async () => (await textsTo(number)).length).toBe(1);
    await screenshot(page, 'failed-texts-handled');
    await page.context().close();
  });
});
