// Every main view, checked by axe-core against WCAG 2.1 AA (labels, names, contrast,
// landmarks) and walked with the keyboard.
import { describe, expect, it } from 'vitest';
import { accessibilityViolations, adminKey, baseUrl, createOrder, cspViolations, signedIn, useBrowser } from './browser';

const browser = useBrowser();

describe('accessibility', () => {
  it('finds no WCAG 2.1 AA violations on the main views', async () => {
    const order = await createOrder('Alan Kay');
    const page = await signedIn(browser());
    const found: Record<string, string[]> = {};
    await page.locator('article[data-customer="Alan Kay"]').waitFor();
    found.board = await accessibilityViolations(page);
    // A new order's highlight and an undo bar are part of the board too.
    await createOrder('Ada Yonath');
    await page.locator('article[data-customer="Ada Yonath"]').getByText('New order').waitFor();
    await page.locator('article[data-customer="Alan Kay"]').getByRole('button', { name: 'Accept, ready in 10 minutes' }).click();
    const alan = page.locator('article[data-customer="Alan Kay"]');
    await alan.getByRole('button', { name: 'Handed over' }).click();
    await alan.getByRole('button', { name: 'Undo' }).waitFor();
    found.boardAlerts = await accessibilityViolations(page);
    await alan.getByRole('button', { name: 'Undo' }).click();
    await page.getByRole('searchbox', { name: 'Find an order' }).fill('Alan Kay');
    await page.getByRole('region', { name: /^Orders matching/ }).locator('article').first().waitFor();
    found.search = await accessibilityViolations(page);

    await page.goto(`${baseUrl()}/#/order/${order.id}`);
    await page.getByTestId('history').locator('li').first().waitFor();
    found.panel = await accessibilityViolations(page);

    for (const [name, heading] of [
      ['new', 'New order'],
      ['failed', 'Failed texts'],
      ['templates', 'Text templates'],
      ['sandbox', 'Sandbox texts'],
      ['keys', 'API keys'],
    ] as const) {
      await page.goto(`${baseUrl()}/#/${name}`);
      await page.getByRole('heading', { name: heading, exact: true, level: 2 }).waitFor();
      if (name === 'templates') await page.getByTestId('segments').first().waitFor();
      found[name] = await accessibilityViolations(page);
      // The app runs under its strict policy without tripping it (axe's own code is
      // evaluated through DevTools, outside the policy).
      expect(await cspViolations(page)).toEqual([]);
    }

    const context = await browser().newContext();
    const signIn = await context.newPage();
    await signIn.goto(baseUrl());
    await signIn.getByLabel('API key').waitFor();
    found.signIn = await accessibilityViolations(signIn);
    await context.close();

    expect(found).toEqual({
      board: [],
      boardAlerts: [],
      search: [],
      panel: [],
      new: [],
      failed: [],
      templates: [],
      sandbox: [],
      keys: [],
      signIn: [],
    });
  });

  it('signs in and confirms an order with the keyboard alone', async () => {
    await createOrder('Barbara Liskov');
    const context = await browser().newContext();
    const page = await context.newPage();
    await page.goto(baseUrl());
    // The key field has focus on arrival.
    await page.keyboard.type(adminKey());
    await page.keyboard.press('Enter');
    const card = page.locator('article[data-customer="Barbara Liskov"]');
    await card.waitFor();
    const accept = card.getByRole('button', { name: 'Accept, ready in 20 minutes' });
    await accept.focus();
    await page.keyboard.press('Enter');
    await page
      .getByRole('region', { name: /^Confirmed \(/ })
      .locator('article[data-customer="Barbara Liskov"]')
      .waitFor();
    // Opening the panel moves focus into it; Escape closes it.
    await card.getByRole('link', { name: /Barbara/ }).focus();
    await page.keyboard.press('Enter');
    await expect.poll(() => page.evaluate(() => document.activeElement?.id)).toBe('panel-title');
    await page.keyboard.press('Escape');
    await expect.poll(() => page.getByTestId('order-panel').count()).toBe(0);
    await context.close();
  });
});
