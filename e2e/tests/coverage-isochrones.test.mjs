// 服务资源一幅地图, the parts of issue #6 added last: the county officer (e2e-county, 510903) ticks
// an isochrone tier on the map and sees the areas drawn, unticks it and they are gone; the
// dashboard shows T18 (the service radius, km) and T45 (the demo marks two communities of the
// county as industrial parks) as numbers.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { BASE, RESULTS, launch, login, withPage } from './helpers.mjs';
import { join } from 'node:path';

describe('服务资源一幅地图：等时圈与园区指标', () => {
  let browser;
  before(async () => { browser = await launch(); });
  after(async () => { await browser?.close(); });

  test('ticking a tier draws the facilities\' isochrones, unticking removes them', async () => {
    await withPage(browser, 'coverage-isochrones', async (page) => {
      await login(page, 'e2e-county');
      await page.goto(`${BASE}/coverage?rule=CULTURE15`);
      const map = page.getByTestId('map');
      await assert.doesNotReject(map.waitFor());
      assert.equal(await map.locator('path.iso').count(), 0, 'nothing drawn until chosen');
      const toggles = page.getByTestId('iso-toggles');
      const tier = toggles.getByLabel('文化活动 1000 米（约 17 分钟）');
      await tier.check();
      await Promise.all([page.waitForNavigation(), page.getByRole('button', { name: '显示' }).click()]);
      assert.deepEqual(new URL(page.url()).searchParams.getAll('iso'), ['文化活动:1000']);
      const areas = map.locator('path.iso[data-tier="文化活动:1000"]');
      assert.equal(await areas.count(), 1, 'one layer for the tier');
      assert.ok((await areas.getAttribute('d')).split('M').length > 2, 'polygons drawn');
      assert.match(await page.getByTestId('legend').innerText(), /所选等时圈（\d+ 个）/);
      assert.ok(await toggles.getByLabel('文化活动 1000 米（约 17 分钟）').isChecked(), 'the choice is kept');
      await page.screenshot({ path: join(RESULTS, 'coverage-isochrones.png'), fullPage: true });
      await toggles.getByLabel('文化活动 1000 米（约 17 分钟）').uncheck();
      await Promise.all([page.waitForNavigation(), page.getByRole('button', { name: '显示' }).click()]);
      assert.equal(await map.locator('path.iso').count(), 0, 'gone again');
    });
  });

  test('the dashboard gives the service radius in km and the industrial-park childcare share', async () => {
    await withPage(browser, 'coverage-t18-t45', async (page) => {
      await login(page, 'e2e-county');
      await page.goto(`${BASE}/indicators`);
      assert.match(await page.locator('tr[data-id=T18] .value').innerText(), /^\d+(\.\d+)?$/);
      const t45 = await page.locator('tr[data-id=T45] .value').innerText();
      assert.match(t45, /^\d+(\.\d+)?$/, `T45 is a number for the county with two marked parks: ${t45}`);
    });
  });
});
