// A county officer (e2e-county, scope 船山区 510903) signs in, walks the unit tree down to a
// community, searches the children table, and cannot see another county.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { join } from 'node:path';
import {
  BASE, COUNTY, COUNTY_NAME, OTHER_COUNTY, OTHER_COUNTY_NAME, PASSWORD, RESULTS,
  assertSignedIn, childCodes, childLinks, launch, login, path, submitLogin, withPage,
} from './helpers.mjs';

const USER = 'e2e-county';

describe('county officer', () => {
  let browser;
  before(async () => { browser = await launch(); });
  after(async () => { await browser?.close(); });

  test('signs in from / and walks 船山区 → township → community', async () => {
    await withPage(browser, 'county-walk', async (page) => {
      // Anonymous: the home page sends us to the sign-in form.
      await page.goto(`${BASE}/`);
      assert.equal(path(page), '/login', 'anonymous / should redirect to /login');
      await submitLogin(page, USER, PASSWORD);
      await assertSignedIn(page, USER);

      // The county page: its name, a map with shapes, and a table of townships.
      const res = await page.goto(`${BASE}/units/${COUNTY}`);
      assert.equal(res.status(), 200, `/units/${COUNTY} status`);
      await assert.doesNotReject(page.locator('h1').filter({ hasText: COUNTY_NAME }).waitFor(), 'h1 should name 船山区');
      const map = page.locator('svg.map');
      assert.ok(await map.count() >= 1, 'unit page has no svg.map');
      const shapes = await page.locator('svg.map path').count();
      assert.ok(shapes >= 1, `svg.map has ${shapes} paths`);

      const townships = await childCodes(page);
      assert.ok(townships.length >= 1, 'children table lists no townships');
      for (const code of townships) {
        assert.match(code, new RegExp(`^${COUNTY}\\d{3}$`), `child ${code} is not a township of ${COUNTY}`);
      }

      // Into the first township.
      const township = townships[0];
      await Promise.all([page.waitForURL(`**/units/${township}`), childLinks(page).first().click()]);
      await page.locator('h1').waitFor({ state: 'visible' });
      const villages = await childCodes(page);
      assert.ok(villages.length >= 1, `township ${township} lists no villages or communities`);
      for (const code of villages) {
        assert.match(code, new RegExp(`^${township}\\d{3}$`), `child ${code} is not a village of ${township}`);
      }

      // Into the first village / community.
      const village = villages[0];
      await Promise.all([page.waitForURL(`**/units/${village}`), childLinks(page).first().click()]);
      const h1 = page.locator('h1');
      await h1.waitFor({ state: 'visible' });
      assert.ok((await h1.innerText()).trim().length > 0, 'village page h1 is empty');
      const crumbs = page.locator('.crumbs');
      await crumbs.first().waitFor({ state: 'visible' });
      assert.ok((await crumbs.first().innerText()).includes(COUNTY_NAME), 'breadcrumbs should contain 船山区');
      // The breadcrumbs lead back up: the county is a link there.
      assert.ok(await crumbs.first().locator(`a[href$="/units/${COUNTY}"]`).count() >= 1, 'breadcrumbs do not link to the county');

      // What a phone shows.
      await page.setViewportSize({ width: 390, height: 844 });
      await page.screenshot({ path: join(RESULTS, 'village-phone.png'), fullPage: true });
      const overflow = await page.evaluate(() => document.documentElement.scrollWidth - document.documentElement.clientWidth);
      assert.ok(overflow <= 1, `village page scrolls sideways at phone width by ${overflow}px`);
    });
  });

  test('search box filters the children table', async () => {
    await withPage(browser, 'county-search', async (page) => {
      await login(page, USER);
      await page.goto(`${BASE}/units/${COUNTY}`);
      const links = childLinks(page);
      const before = await links.count();
      assert.ok(before >= 2, `need at least two townships to test filtering, have ${before}`);
      // Pick a township whose name is not shared as a prefix by all others, search for part of it.
      const names = await links.evaluateAll((as) => as.map((a) => ({ code: a.getAttribute('data-unit'), name: a.textContent.trim() })));
      const target = names[names.length - 1];
      const part = target.name.length > 2 ? target.name.slice(0, target.name.length - 1) : target.name;
      const input = page.locator('form.search input[name=q]');
      await input.fill(part);
      await Promise.all([page.waitForURL(/[?&]q=/), input.press('Enter')]);
      assert.equal(await input.inputValue(), part, 'search box should keep what was typed');
      const codes = await childCodes(page);
      assert.ok(codes.includes(target.code), `searching ${part} lost ${target.name} (${target.code}); got ${codes}`);
      assert.ok(codes.length < before, `searching ${part} should narrow ${before} rows, got ${codes.length}`);
    });
  });

  test('another county is not found, in pages and in the API', async () => {
    await withPage(browser, 'county-out-of-scope', async (page) => {
      await login(page, USER);
      const res = await page.goto(`${BASE}/units/${OTHER_COUNTY}`);
      assert.equal(res.status(), 404, `/units/${OTHER_COUNTY} status`);
      await page.locator('[data-code="not_found"]').first().waitFor({ state: 'visible' });
      const body = await page.locator('body').innerText();
      assert.ok(!body.includes(OTHER_COUNTY_NAME), 'the 404 page must not reveal the out-of-scope unit name');

      // Same browser context, so the same session cookie.
      const api = await page.request.get(`${BASE}/api/v1/units/${OTHER_COUNTY}`);
      assert.equal(api.status(), 404, `GET /api/v1/units/${OTHER_COUNTY} status`);
      const json = await api.json();
      assert.equal(json.code, 'not_found');

      // Control: the own county answers through the same API, so the 404 above is about scope.
      const own = await page.request.get(`${BASE}/api/v1/units/${COUNTY}`);
      assert.equal(own.status(), 200, `GET /api/v1/units/${COUNTY} status`);
      assert.ok(JSON.stringify(await own.json()).includes(COUNTY_NAME), 'own county API answer should name 船山区');
    });
  });
});
