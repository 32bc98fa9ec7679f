// A kitchen's evening in the browser: sign in from the first-start link, take a phone
// order, move it along with and without texts, and see each text in the sandbox.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { chromium, type Page } from 'playwright-core';
import { describe, expect, it } from 'vitest';
import {
  api,
  apiOn,
  baseUrl,
  CHROMIUM,
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

/** An order's card on the board, by the customer's full name. */
function card(page: Page, name: string) {
  return page.locator(`article[data-customer="${name}"]`);
}

/** The board's column for a status: a region named "Confirmed (3)". */
function column(page: Page, status: string) {
  return page.getByRole('region', { name: new RegExp(`^${status} \\(\\d+\\)$`) });
}

/** `HH:MM` of a time in UTC, as the server (ORDER_NOTIFY_TIMEZONE unset) tells it in texts. */
function utcClock(at: string): string {
  return new Date(at).toISOString().slice(11, 16);
}

/** Waits until the sandbox has `count` texts for `phone`, and gives them (newest first). */
async function waitForTexts(phone: string, count: number) {
  await expect.poll(async () => (await textsTo(phone)).length, { timeout: 10_000 }).toBe(count);
  return textsTo(phone);
}

describe('the dashboard', () => {
  it('signs in from the first-start link, stays signed in through a browser restart, and forgets on sign-out', async () => {
    // A browser with a profile on disk, closed and started again as a tablet would be.
    const profile = mkdtempSync(join(tmpdir(), 'order-notify-profile-'));
    const open = () =>
      chromium.launchPersistentContext(profile, {
        executablePath: CHROMIUM,
        args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking'],
      });
    try {
      let context = await open();
      let page = await context.newPage();
      await page.goto(signInLink());
      await page.getByRole('heading', { name: 'Orders', exact: true }).waitFor();
      expect(page.url()).not.toContain('key=');
      expect(page.url()).toBe(`${baseUrl()}/#/`);
      // The link's entry was replaced, not kept: going back leaves the app altogether.
      await page.goBack();
      expect(page.url()).toBe('about:blank');
      await context.close();

      // Restarted: still signed in, in a new tab too.
      context = await open();
      page = await context.newPage();
      await page.goto(baseUrl());
      await page.getByRole('heading', { name: 'Orders', exact: true }).waitFor();
      expect(await page.getByRole('button', { name: /Sign out/ }).textContent()).toContain('admin');

      // A sign-in link opened in this open tab switches to its key and leaves the
      // address bar at once.
      const { key: staffKey } = await api<{ key: string }>('/keys', {
        method: 'POST',
        body: JSON.stringify({ name: `Tablet ${Date.now()}`, role: 'staff' }),
      });
      await page.goto(`${baseUrl()}/#key=${encodeURIComponent(staffKey)}`);
      await expect.poll(() => page.getByRole('button', { name: /Sign out/ }).textContent()).toContain('staff');
      expect(page.url()).toBe(`${baseUrl()}/#/`);
      expect(await page.evaluate(() => localStorage.getItem('order-notify.session'))).toContain(staffKey);

      // Sign out forgets the key on this device.
      await page.getByRole('button', { name: /Sign out/ }).click();
      await page.getByLabel('API key').waitFor();
      expect(await page.evaluate(() => localStorage.length + sessionStorage.length)).toBe(0);
      await context.close();
      context = await open();
      page = await context.newPage();
      await page.goto(baseUrl());
      await page.getByLabel('API key').waitFor();

      // A key typed in lasts for the tab unless the device is to stay signed in.
      await page.getByLabel('API key').fill(staffKey);
      expect(await page.getByLabel('Keep this device signed in').isChecked()).toBe(false);
      await page.getByRole('button', { name: 'Sign in' }).click();
      await page.getByRole('heading', { name: 'Orders', exact: true }).waitFor();
      expect(await page.evaluate(() => localStorage.length)).toBe(0);
      expect(await page.evaluate(() => sessionStorage.length)).toBe(1);
      await context.close();
    } finally {
      rmSync(profile, { recursive: true, force: true });
    }
  });

  it('takes a phone order, checking the number as it is typed and on submit', async () => {
    const page = await signedIn(browser());
    await page.getByRole('link', { name: 'New order' }).click();
    await page.getByLabel('Customer name').fill('Grace Hopper');
    const phone = page.getByLabel('Phone');
    await phone.fill('06-CALL-ME');
    await page.getByText('Use digits, spaces and a leading + only.').waitFor();
    expect(await phone.getAttribute('aria-invalid')).toBe('true');
    // This server has no default country (GET /settings says so): a national number
    // would be refused, and the form says so before it is sent.
    await phone.fill('06 1234 5678');
    await page.getByText(/^Start with \+ and the country code/).waitFor();
    expect(await phone.getAttribute('aria-invalid')).toBe('true');

    // Plausible to the eye, refused by the server: its verdict is shown next to the field
    // in a sentence, and the field takes the focus.
    await phone.fill('+999 1234 5678');
    await page.getByLabel('Item 1', { exact: true }).fill('Pad thai');
    await page.getByLabel('Quantity').fill('2');
    await page.getByLabel(/Notes for the kitchen/).fill('Ring bell 3\nNo peanuts');
    await page.getByRole('button', { name: 'Create order' }).click();
    await page.getByTestId('form-error').waitFor();
    expect(await page.getByTestId('form-error').textContent()).toMatch(/^Please check: Phone: /);
    await expect.poll(() => page.evaluate(() => document.activeElement?.id)).toBe('phone');
    expect(await page.locator('#phone-note').textContent()).toMatch(/^\s*"\+999 1234 5678" is not a .*\.\s*$/);
    await screenshot(page, 'new-order-refused');
    const before = await api<{ items: unknown[] }>('/orders?q=Grace%20Hopper&status=pending');
    expect(before.items).toHaveLength(0);

    // Fixing the field clears its error and the summary at once.
    const number = uniquePhone();
    await phone.fill(number);
    expect(await phone.getAttribute('aria-invalid')).toBe('false');
    expect(await page.getByTestId('form-error').count()).toBe(0);
    await page.getByRole('button', { name: 'Add item' }).click();
    await expect.poll(() => page.evaluate(() => document.activeElement?.id)).toBe('item-name-1');
    await page.getByLabel('Item 2', { exact: true }).fill('Spring rolls');
    await page.getByRole('button', { name: 'Create order' }).click();

    // The new order's panel opens on the board.
    const panel = page.getByTestId('order-panel');
    await panel.getByRole('heading', { name: 'Grace Hopper' }).waitFor();
    await panel.getByText('2 × Pad thai, 1 × Spring rolls').waitFor();
    await card(page, 'Grace Hopper').getByText('No text yet').waitFor();
    const { items } = await api<{ items: { phone: string; notes: string }[] }>('/orders?q=Grace%20Hopper');
    expect(items.map((o) => o.phone)).toEqual([number]);
    expect(items[0]?.notes).toBe('Ring bell 3\nNo peanuts');
    expect(await textsTo(number)).toHaveLength(0);
    await screenshot(page, 'order-panel-new');
  });

  it('moves an order from pending to delivered with one tap a step, texting the promised time', async () => {
    const phone = uniquePhone();
    const order = await createOrder('Ada Lovelace', phone);
    const page = await signedIn(browser());
    const ada = card(page, 'Ada Lovelace');
    await column(page, 'Pending').locator(`article[data-customer="Ada Lovelace"]`).waitFor();
    // The card carries the code the customer's texts give the order.
    expect(await ada.getByRole('heading').textContent()).toContain(order.order_ref);

    // One tap accepts it, ready in 20 minutes: the text tells the time.
    await ada.getByRole('button', { name: 'Accept, ready in 20 minutes' }).click();
    await page.getByTestId('toast').filter({ hasText: 'Ada: Confirmed, customer will be texted.' }).waitFor();
    await column(page, 'Confirmed').locator(`article[data-customer="Ada Lovelace"]`).waitFor();
    const accepted = await api<{ eta: string }>(`/orders/${order.id}`);
    const minutesAhead = (new Date(accepted.eta).getTime() - Date.now()) / 60_000;
    expect(minutesAhead).toBeGreaterThan(18);
    expect(minutesAhead).toBeLessThanOrEqual(20);
    const [confirmed] = await waitForTexts(phone, 1);
    expect(confirmed?.body).toContain('Good news Ada');
    expect(confirmed?.body).toContain(`Expected: ${utcClock(accepted.eta)}.`);
    expect(await ada.getByTestId('timer').getAttribute('data-tone')).toBe('ok');

    // The sandbox page shows it as a bubble on Ada's "phone", with her name in it.
    await page.getByRole('link', { name: 'Sandbox' }).click();
    const screen = page.locator(`[data-recipient="${phone}"]`);
    await screen.getByTestId('sandbox-message').first().waitFor();
    expect(await screen.getByTestId('sandbox-message').first().textContent()).toContain('Good news Ada');
    await screenshot(page, 'sandbox');

    // Delayed by 15 minutes more, from the promised time.
    await page.getByRole('link', { name: 'Orders' }).click();
    await ada.getByRole('button', { name: 'Delay', exact: true }).click();
    await ada.getByRole('button', { name: 'Delay by 15 minutes' }).click();
    await column(page, 'Delayed').locator(`article[data-customer="Ada Lovelace"]`).waitFor();
    const delayed = await api<{ eta: string }>(`/orders/${order.id}`);
    expect(new Date(delayed.eta).getTime() - new Date(accepted.eta).getTime()).toBe(15 * 60_000);
    const [late] = await waitForTexts(phone, 2);
    expect(late?.body).toContain(`New time: ${utcClock(delayed.eta)}.`);

    // Pushed back again while delayed: the time moves and Ada is told the new one.
    await ada.getByRole('button', { name: 'Delay more' }).click();
    await ada.getByRole('button', { name: 'Delay by 10 minutes' }).click();
    await page.getByTestId('toast').filter({ hasText: /Ada: now \d\d:\d\d, customer will be texted\./ }).waitFor();
    const later = await api<{ eta: string; status: string }>(`/orders/${order.id}`);
    expect(later.status).toBe('delayed');
    expect(new Date(later.eta).getTime() - new Date(delayed.eta).getTime()).toBe(10 * 60_000);
    const [laterText] = await waitForTexts(phone, 3);
    expect(laterText?.body).toContain(`New time: ${utcClock(later.eta)}.`);

    // A correction made elsewhere (an order system's PATCH) reaches the card live and the
    // history names what was corrected.
    await api(`/orders/${order.id}`, {
      method: 'PATCH',
      body: JSON.stringify({ items: [{ name: 'Calzone', quantity: 1 }], notes: 'Ring bell 3' }),
    });
    await ada.getByText('Calzone').waitFor();
    await ada.getByText('Ring bell 3').waitFor();

    // A tap on the card opens its panel with the whole history and every text.
    await ada.getByText('Calzone').click();
    const panel = page.getByTestId('order-panel');
    const history = panel.getByTestId('history');
    await history.getByText('Confirmed → Delayed').waitFor();
    const steps = await history.locator('li').allTextContents();
    expect(steps.map((s) => s.replace(/\s+/g, ' ').trim())).toEqual([
      expect.stringMatching(/Created as Pending by /),
      expect.stringMatching(/Pending → Confirmed · ready by \d\d:\d\d by /),
      expect.stringMatching(/Confirmed → Delayed · ready by \d\d:\d\d by /),
      expect.stringMatching(/Corrected the promised time · ready by \d\d:\d\d by /),
      expect.stringMatching(/Corrected the items and notes by /),
    ]);
    await expect.poll(() => panel.getByTestId('texts').locator('li').count()).toBe(3);
    expect(page.url()).toBe(`${baseUrl()}/#/order/${order.id}`);
    await screenshot(page, 'order-panel-history');

    // In the panel: back on time without a text, then "Notify customer" on demand.
    await panel.getByLabel('Change without texting').check();
    await panel.getByRole('button', { name: 'Back on time' }).click();
    await page.getByTestId('toast').filter({ hasText: 'Ada: Confirmed, no text sent.' }).waitFor();
    await panel.getByTestId('status').filter({ hasText: 'Confirmed' }).waitFor();
    await new Promise((r) => setTimeout(r, 1000));
    expect(await textsTo(phone)).toHaveLength(3);
    await panel.getByRole('button', { name: 'Notify customer' }).click();
    await waitForTexts(phone, 4);
    await panel.getByRole('button', { name: 'Close' }).click();

    // Handed over: undone within five seconds, nothing reaches the server or Ada.
    await ada.getByRole('button', { name: 'Handed over' }).click();
    await ada.getByRole('status').filter({ hasText: /Delivered in \d s/ }).waitFor();
    await ada.getByRole('button', { name: 'Undo' }).click();
    await new Promise((r) => setTimeout(r, 6000));
    expect((await api<{ status: string }>(`/orders/${order.id}`)).status).toBe('confirmed');
    expect(await textsTo(phone)).toHaveLength(4);

    // Not undone: after five seconds it is sent, and the order is done.
    const tapped = Date.now();
    await ada.getByRole('button', { name: 'Handed over' }).click();
    await page.getByTestId('toast').filter({ hasText: 'Ada: Delivered, customer will be texted.' }).waitFor();
    expect(Date.now() - tapped).toBeGreaterThanOrEqual(4_900);
    await waitForTexts(phone, 5);
    expect(await ada.count()).toBe(0);
    const done = page.getByTestId('done');
    await done.locator('summary').click();
    await done.getByRole('heading', { name: 'Done in the last 6 hours' }).waitFor();
    await done.getByRole('link', { name: new RegExp(order.order_ref.replace('#', '')) }).waitFor();
    expect((await api<{ status: string }>(`/orders/${order.id}`)).status).toBe('delivered');
  }, 60_000);

  it('sends one change for a double click', async () => {
    const phone = uniquePhone();
    const order = await createOrder('Katherine Johnson', phone);
    const page = await signedIn(browser());
    const katherine = card(page, 'Katherine Johnson');
    await katherine.getByRole('button', { name: 'Accept, ready in 10 minutes' }).dblclick();
    await waitForTexts(phone, 1);
    await new Promise((r) => setTimeout(r, 1000));
    expect(await textsTo(phone)).toHaveLength(1);
    const events = await api<{ items: unknown[] }>(`/orders/${order.id}/events`);
    expect(events.items).toHaveLength(2);

    // Even when the answer comes between the two clicks, and the card has moved on so that
    // another order's button is under the pointer, the second click does nothing.
    const slowPhone = uniquePhone();
    await createOrder('Dorothy Vaughan', slowPhone);
    const other = await createOrder('Mary Jackson');
    const dorothy = card(page, 'Dorothy Vaughan');
    await card(page, 'Mary Jackson').waitFor();
    const accept = dorothy.getByRole('button', { name: 'Accept, ready in 10 minutes' });
    await accept.scrollIntoViewIfNeeded();
    const box = (await accept.boundingBox())!;
    const [x, y] = [box.x + box.width / 2, box.y + box.height / 2];
    await page.mouse.click(x, y);
    await column(page, 'Confirmed').locator('article[data-customer="Dorothy Vaughan"]').waitFor();
    // The second half of a double click: a press and release counted as click two.
    await page.mouse.down({ clickCount: 2 });
    await page.mouse.up({ clickCount: 2 });
    await new Promise((r) => setTimeout(r, 1000));
    expect(await textsTo(slowPhone)).toHaveLength(1);
    expect((await api<{ status: string }>(`/orders/${other.id}`)).status).toBe('pending');
  });

  it('shows orders changed elsewhere at once over the live stream', async () => {
    const page = await signedIn(browser());
    const indicator = page.getByTestId('live');
    await expect.poll(() => indicator.textContent()).toContain('Live');
    const order = await createOrder('Margaret Hamilton');
    await column(page, 'Pending').locator('article[data-customer="Margaret Hamilton"]').waitFor({ timeout: 2_000 });
    const changed = Date.now();
    await api(`/orders/${order.id}/status`, { method: 'PATCH', body: JSON.stringify({ status: 'delayed' }) });
    // No reload and no poll (it is off while live): the stream brings it in, in its new
    // column, well inside the 3 s a poll would take.
    await column(page, 'Delayed').locator('article[data-customer="Margaret Hamilton"]').waitFor({ timeout: 2_000 });
    expect(Date.now() - changed).toBeLessThan(2_000);
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
    await column(page, 'Confirmed').locator('article[data-customer="Hedy Lamarr"]').waitFor({ timeout: 8_000 });
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
    await sherlock.getByRole('button', { name: 'Accept, ready in 30 minutes' }).click();
    const state = sherlock.getByTestId('text-state').filter({ hasText: 'Text failed' });
    await state.waitFor({ timeout: 10_000 });
    expect(await state.getAttribute('title')).toContain('reserved for fiction');
    // On a touch screen the reason is a tap away.
    await state.click();
    await sherlock.getByRole('note').filter({ hasText: 'reserved for fiction' }).waitFor();

    await sherlock.getByRole('link', { name: /Sherlock/ }).click();
    const panel = page.getByTestId('order-panel');
    await panel.getByText('1 attempt').waitFor();
    await panel.getByRole('button', { name: 'Retry' }).click();
    await page.getByTestId('toast').filter({ hasText: 'The text is queued again.' }).waitFor();
    const texts = await api<{ items: { state: string }[] }>(`/orders/${order.id}/notifications`);
    expect(texts.items).toHaveLength(1);
    await screenshot(page, 'order-panel-failed');
  });

  it('shows each attempt at a text that failed over to the next provider', async () => {
    // Bird first, at an address where nothing listens; the sandbox after it.
    const key = `e2e-failover-admin-${Date.now()}-key`;
    const server = await startServer({
      adminKey: key,
      env: {
        ORDER_NOTIFY_SMS_PROVIDER: 'bird,sandbox',
        ORDER_NOTIFY_BIRD_API_KEY: 'bk_eu1_e2e',
        ORDER_NOTIFY_BIRD_BASE_URL: 'http://127.0.0.1:9',
        ORDER_NOTIFY_RETRY_BASE_MS: '200',
      },
    });
    const call = apiOn(server.baseUrl, key);
    try {
      const order = await call<{ id: string }>('/orders', {
        customer_name: 'Katherine Johnson',
        phone: uniquePhone(),
        items: [{ name: 'Calzone', quantity: 1 }],
      });
      await call(`/orders/${order.id}/status`, { status: 'confirmed' }, 'PATCH');
      await expect
        .poll(async () => (await call<{ items: { state: string }[] }>(`/orders/${order.id}/notifications`, undefined, 'GET')).items[0]?.state, {
          timeout: 10_000,
        })
        .toBe('sent');

      const page = await signedIn(browser(), { key, base: server.baseUrl });
      await page.setViewportSize({ width: 1024, height: 768 });
      await page.goto(`${server.baseUrl}/#/order/${order.id}`);
      const panel = page.getByTestId('order-panel');
      await panel.getByText('via sandbox').waitFor();
      await panel.getByText('2 attempts').waitFor();
      await panel.getByText('How it went, attempt by attempt').click();
      const steps = panel.getByTestId('attempts').locator('li');
      await expect.poll(() => steps.count()).toBe(2);
      expect(await steps.nth(0).textContent()).toMatch(/bird failed, tried again: cannot reach Bird/);
      expect(await steps.nth(1).textContent()).toMatch(/sandbox took it in \d+ ms/);
      expect(await steps.nth(1).getAttribute('data-outcome')).toBe('accepted');
      const summary = await panel.locator('summary').boundingBox();
      expect(summary!.height).toBeGreaterThanOrEqual(48);
      // The panel scrolls on its own: bring the attempts into its view for the pictures.
      await steps.nth(1).scrollIntoViewIfNeeded();
      await screenshot(page, 'order-panel-attempts');
      await page.setViewportSize({ width: 390, height: 844 });
      await steps.nth(1).scrollIntoViewIfNeeded();
      await screenshot(page, 'order-panel-attempts-390x844');
    } finally {
      await server.stop();
      server.remove();
    }
  });

  it('pages through many orders with "Load more"', async () => {
    const family = `Babbage ${Date.now()}`;
    for (let i = 0; i < 55; i++) await createOrder(`${family} ${String(i).padStart(2, '0')}`);
    const page = await signedIn(browser());
    // "Load more" stays disabled until the search's first page is on the board.
    const searched = page.waitForResponse((r) => r.url().includes(`q=${encodeURIComponent(family)}`));
    await page.getByRole('searchbox', { name: 'Find an order' }).fill(family);
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
    const dorothy = card(page, 'Dorothy Vaughan').first();
    await dorothy.waitFor();
    const overflow = await page.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
    expect(overflow).toBeLessThanOrEqual(0);
    for (const minutes of [10, 45]) {
      const box = await dorothy.getByRole('button', { name: `Accept, ready in ${minutes} minutes` }).boundingBox();
      expect(box).not.toBeNull();
      expect(box!.x + box!.width).toBeLessThanOrEqual(375);
      expect(box!.height).toBeGreaterThanOrEqual(48);
    }
    // Every page's link is in sight on the phone, the last one too.
    const keys = await page.getByRole('navigation', { name: 'Main' }).getByRole('link', { name: 'Keys' }).boundingBox();
    expect(keys!.x + keys!.width).toBeLessThanOrEqual(375);
    await screenshot(page, 'board-375px');
    await page.setViewportSize({ width: 1280, height: 900 });
    await screenshot(page, 'board');
  });
});
