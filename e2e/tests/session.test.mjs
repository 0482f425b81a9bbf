// Signing out, and a wrong password.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { BASE, COUNTY, launch, login, path, submitLogin, withPage } from './helpers.mjs';

describe('session', () => {
  let browser;
  before(async () => { browser = await launch(); });
  after(async () => { await browser?.close(); });

  test('logging out ends the session', async () => {
    await withPage(browser, 'logout', async (page) => {
      await login(page, 'e2e-county');
      const res = await page.goto(`${BASE}/units/${COUNTY}`);
      assert.equal(res.status(), 200, `/units/${COUNTY} status while signed in`);

      await Promise.all([page.waitForURL('**/login**'), page.click('[data-testid=logout]')]);
      assert.equal(path(page), '/login', 'logout should end on /login');
      assert.equal(await page.locator('[data-testid=logout]').count(), 0, 'signed-out page still offers logout');

      await page.goto(`${BASE}/units/${COUNTY}`);
      assert.equal(path(page), '/login', `after logout /units/${COUNTY} should redirect to /login`);
      assert.equal(await page.locator('input[name=password]').count(), 1, 'the sign-in form is shown');
    });
  });

  test('a wrong password is refused with a readable message', async () => {
    await withPage(browser, 'wrong-password', async (page) => {
      await page.goto(`${BASE}/login`);
      await submitLogin(page, 'e2e-village', 'not-the-password');
      assert.equal(path(page), '/login', 'a wrong password must not sign in');
      const alert = page.locator('[role=alert]');
      await alert.first().waitFor({ state: 'visible' });
      assert.ok((await alert.first().innerText()).includes('用户名或密码错误'), 'alert should say 用户名或密码错误');
      assert.equal(await page.locator('[data-testid=logout]').count(), 0, 'no session after a wrong password');
    });
  });
});
