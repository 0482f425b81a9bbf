// 规划指标 (indicators): the county officer (e2e-county, 510903) opens the one-screen dashboard with
// all 52 targets, drills down county → township → community and opens the community portrait; the
// city officer (e2e-city, 5109) sees the county choropleth and clicks into a county; the indicator
// page of a county shows tiles (townships have no boundaries) and a ranking; the XLSX export
// downloads; the county enters a 填报 value with a PNG as evidence and the city approves it, after
// which the dashboard shows it marked 填报.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { deflateSync } from 'node:zlib';
import { BASE, COMMUNITY, COUNTY, TOWNSHIP, launch, login, path, withPage, withPages } from './helpers.mjs';

function crc32(buf) {
  let crc = ~0;
  for (const b of buf) {
    crc ^= b;
    for (let k = 0; k < 8; k++) crc = (crc >>> 1) ^ (0xedb88320 & -(crc & 1));
  }
  return ~crc >>> 0;
}
function chunk(type, data) {
  const head = Buffer.alloc(8);
  head.writeUInt32BE(data.length, 0);
  head.write(type, 4, 'ascii');
  const crc = Buffer.alloc(4);
  crc.writeUInt32BE(crc32(Buffer.concat([head.subarray(4), data])));
  return Buffer.concat([head, data, crc]);
}
function png() {
  const ihdr = Buffer.from([0, 0, 0, 1, 0, 0, 0, 1, 8, 2, 0, 0, 0]);
  return Buffer.concat([
    Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]),
    chunk('IHDR', ihdr),
    chunk('IDAT', deflateSync(Buffer.from([0, 200, 30, 30]))),
    chunk('IEND', Buffer.alloc(0)),
  ]);
}

// A per-run number so a rerun against the same server finds its own value.
const NUM = 5 + Math.floor(Math.random() * 40);

describe('规划指标', () => {
  let browser;
  before(async () => { browser = await launch(); });
  after(async () => { await browser?.close(); });

  test('dashboard lists all 52 targets and drills down to a community portrait', async () => {
    await withPage(browser, 'indicators-drill', async (page) => {
      await login(page, 'e2e-county');
      await page.goto(`${BASE}/indicators`);
      await assert.doesNotReject(page.getByTestId('dash-title').filter({ hasText: '船山区' }).waitFor());
      const rows = page.locator('[data-testid=indicators] tbody tr');
      assert.equal(await rows.count(), 52);
      // The service radius (T18) comes from the demo's coverage analysis, in km.
      assert.match(await page.locator('tr[data-id=T18] .value').innerText(), /^\d+(\.\d+)?$/);
      assert.match(await page.locator('tr[data-id=T04]').innerText(), /约束性/);
      assert.match(await page.getByTestId('status-summary').innerText(), /达标 \d+.*未达标 \d+/s);
      // Drill: county → township → community.
      await Promise.all([page.waitForNavigation(), page.locator(`[data-testid=children] a[href="/indicators?unit=${TOWNSHIP}"]`).click()]);
      assert.equal(new URL(page.url()).searchParams.get('unit'), TOWNSHIP);
      await Promise.all([page.waitForNavigation(), page.locator(`[data-testid=children] a[href="/indicators?unit=${COMMUNITY}"]`).click()]);
      assert.match(await page.locator('tr[data-id=T13]').innerText(), /不适用/, 'a township-level target has no value at a community');
      await Promise.all([page.waitForNavigation(), page.getByTestId('portrait-link').click()]);
      assert.equal(path(page), `/indicators/portrait/${COMMUNITY}`);
      const elements = await page.getByTestId('elements').innerText();
      for (const label of ['人', '房', '车', '商', '事', '物']) assert.match(elements, new RegExp(label));
      assert.match(elements, /人（实有人口）\s*\d{3,}/, 'the demo community has residents');
      await assert.doesNotReject(page.getByTestId('open-events').waitFor());
      // The indicator page of the county: tiles for the townships and a ranking, worst first.
      await page.goto(`${BASE}/indicators/T04?unit=${COUNTY}`);
      await assert.doesNotReject(page.getByTestId('tiles').waitFor());
      assert.ok(await page.locator('[data-testid=ranking] tbody tr').count() > 5);
      // The monthly report downloads as XLSX.
      const href = await page.goto(`${BASE}/indicators?unit=${COUNTY}`).then(() => page.getByTestId('export-xlsx').getAttribute('href'));
      const res = await page.request.get(`${BASE}${href}`);
      assert.equal(res.status(), 200);
      assert.match(res.headers()['content-type'], /spreadsheetml/);
      assert.equal((await res.body()).subarray(0, 2).toString(), 'PK');
    });
  });

  test('the city sees a choropleth of the counties and clicks into one', async () => {
    await withPage(browser, 'indicators-map', async (page) => {
      await login(page, 'e2e-city');
      await page.goto(`${BASE}/indicators/T04`);
      const map = page.getByTestId('choropleth');
      await assert.doesNotReject(map.waitFor());
      assert.equal(await map.locator('path[data-unit]').count(), 5);
      assert.ok(await map.locator('path[class^=q]').count() >= 1, 'coloured by value');
      await Promise.all([page.waitForNavigation(), map.locator(`a:has(path[data-unit="${COUNTY}"])`).click()]);
      assert.equal(new URL(page.url()).searchParams.get('unit'), COUNTY);
      assert.match(await page.getByTestId('indicator-value').innerText(), /\d/);
    });
  });

  test('a county 填报 value counts after the city approves it', async () => {
    await withPages(browser, 'indicators-report', ['county', 'city'], async ({ county, city }) => {
      await login(county, 'e2e-county');
      await county.goto(`${BASE}/indicators/reports?indicator=T26`);
      const form = county.getByTestId('report-form');
      await form.locator('input[name=unit]').fill(COUNTY);
      await form.locator('input[name=numerator]').fill(String(NUM));
      await form.locator('input[name=denominator]').fill('100');
      await form.locator('textarea[name=note]').fill('e2e 法治示范村命名文件');
      await form.locator('input[name=evidence]').setInputFiles({ name: 'proof.png', mimeType: 'image/png', buffer: png() });
      await Promise.all([county.waitForNavigation(), form.locator('button[type=submit]').click()]);
      assert.match(await county.getByTestId('notice').innerText(), /等待上级审核/);
      // The submitter cannot approve her own value.
      assert.equal(await county.getByTestId('approve').count(), 0);

      await login(city, 'e2e-city');
      await city.goto(`${BASE}/indicators/reports`);
      const row = city.locator('[data-testid=reports] tbody tr[data-state=submitted]').filter({ hasText: `${NUM} / 100` }).first();
      await assert.doesNotReject(row.waitFor());
      await Promise.all([city.waitForNavigation(), row.getByTestId('approve').click()]);
      assert.match(await city.getByTestId('notice').innerText(), /审核通过/);

      await county.goto(`${BASE}/indicators`);
      const t26 = await county.locator('tr[data-id=T26]').innerText();
      assert.match(t26, /填报/);
      assert.match(t26, new RegExp(`\\b${NUM}\\b`), t26);
    });
  });
});
