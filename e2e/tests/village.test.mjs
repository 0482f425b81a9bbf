// A community worker (e2e-village, scope 510903001001) sees only that community.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { BASE, COMMUNITY, COUNTY, COUNTY_NAME, launch, login, withPage } from './helpers.mjs';

const USER = 'e2e-village';

describe('community worker', () => {
  let browser;
  before(async () => { browser = await launch(); });
  after(async () => { await browser?.close(); });

  test('sees the own community and not the county above it', async () => {
    await withPage(browser, 'village-scope', async (page) => {
      await login(page, USER);

      const up = await page.goto(`${BASE}/units/${COUNTY}`);
      assert.equal(up.status(), 404, `/units/${COUNTY} status for a community worker`);
      await page.locator('[data-code="not_found"]').first().waitFor({ state: 'visible' });

      const own = await page.goto(`${BASE}/units/${COMMUNITY}`);
      assert.equal(own.status(), 200, `/units/${COMMUNITY} status for its own worker`);
      const h1 = page.locator('h1');
      await h1.waitFor({ state: 'visible' });
      assert.ok((await h1.innerText()).trim().length > 0, 'community page h1 is empty');
      assert.equal(await page.locator('[data-code="not_found"]').count(), 0, 'own community page shows not_found');
      // The county is named in the breadcrumbs as context, but the worker cannot open it.
      const crumbs = page.locator('.crumbs');
      if (await crumbs.count()) {
        assert.ok((await crumbs.first().innerText()).includes(COUNTY_NAME), 'breadcrumbs should name 船山区');
      }
    });
  });
});
