// What admins do in the browser: texts (templates) with a live preview, and API keys;
// and what a wrong or revoked key sees.
import { describe, expect, it } from 'vitest';
import { api, baseUrl, useBrowser, screenshot, signedIn } from './browser';

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
});
