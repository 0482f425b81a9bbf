// 服务资源一幅地图 (coverage): the county officer (e2e-county, 510903) opens the map from the
// navigation, sees it labelled as a synthetic network, buildings coloured by coverage and candidate
// sites; picks another life circle; drills the coverage table down to a township and downloads the
// CSV; opens the facility-standards page. A community worker sees only her own community and gets
// 404 for her neighbour's.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { BASE, COMMUNITY, COUNTY, OTHER_COMMUNITY, RESULTS, TOWNSHIP, launch, login, path, withPage } from './helpers.mjs';
import { join } from 'node:path';

describe('服务资源一幅地图', () => {
  let browser;
  before(async () => { browser = await launch(); });
  after(async () => { await browser?.close(); });

  test('the county map shows the synthetic network, coverage colours and candidate sites', async () => {
    await withPage(browser, 'coverage-map', async (page) => {
      await login(page, 'e2e-county');
      await Promise.all([page.waitForNavigation(), page.getByRole('link', { name: '服务资源' }).first().click()]);
      assert.equal(path(page), '/coverage');
      assert.match(await page.getByTestId('synthetic').innerText(), /合成路网（演示）/);
      const map = page.getByTestId('map');
      await assert.doesNotReject(map.waitFor());
      assert.ok(await map.locator('circle.bld').count() > 100, 'demo buildings drawn');
      assert.ok(await map.locator('circle.fac').count() > 0, 'facilities drawn');
      await page.screenshot({ path: join(RESULTS, 'coverage-map.png'), fullPage: true });
      // The 15-minute culture circle: a summary with counts, and gaps to close.
      await page.getByLabel('生活圈').selectOption('CULTURE15');
      await Promise.all([page.waitForNavigation(), page.getByRole('button', { name: '显示' }).click()]);
      assert.equal(new URL(page.url()).searchParams.get('rule'), 'CULTURE15');
      const summary = await page.getByTestId('summary').innerText();
      assert.match(summary, /住宅楼 \d+ 栋：已覆盖 \d+，未覆盖 \d+，不可达 2/);
      const cands = page.locator('[data-testid=candidates] tbody tr');
      assert.ok(await cands.count() >= 1);
      assert.match(await cands.first().innerText(), /\d+ 人/);
      assert.ok(await map.locator('circle.cand').count() >= 1, 'candidate sites on the map');
    });
  });

  test('the coverage table drills down and exports; the standards page judges each community', async () => {
    await withPage(browser, 'coverage-table', async (page) => {
      await login(page, 'e2e-county');
      await page.goto(`${BASE}/coverage/table?unit=${COUNTY}`);
      const table = page.getByTestId('coverage-table');
      assert.match(await table.locator('thead').innerText(), /十五分钟社区服务圈/);
      await Promise.all([page.waitForNavigation(), table.locator(`a[href="/coverage/table?unit=${TOWNSHIP}"]`).click()]);
      assert.equal(new URL(page.url()).searchParams.get('unit'), TOWNSHIP);
      assert.match(await table.locator('tbody').innerText(), /%（\d+\/\d+ 人/);
      const res = await page.request.get(`${BASE}/coverage/table.csv?unit=${TOWNSHIP}`);
      assert.equal(res.status(), 200);
      assert.match(res.headers()['content-type'], /text\/csv/);
      assert.match(await res.text(), new RegExp(COMMUNITY));
      await page.goto(`${BASE}/coverage/compliance?unit=${TOWNSHIP}`);
      const row = page.locator(`[data-testid=compliance] tr[data-unit="${COMMUNITY}"]`);
      assert.match(await row.innerText(), /平方米\/百户/);
      assert.match(await row.innerText(), /达标|未达标/);
    });
  });

  test('a community worker sees her own community only', async () => {
    await withPage(browser, 'coverage-scope', async (page) => {
      await login(page, 'e2e-village');
      await page.goto(`${BASE}/coverage`);
      assert.match(await page.getByTestId('summary').innerText(), /住宅楼 \d+ 栋/);
      const res = await page.goto(`${BASE}/coverage?unit=${OTHER_COMMUNITY}`);
      assert.equal(res.status(), 404);
    });
  });
});
