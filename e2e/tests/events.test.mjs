// The event loop (事件): a grid worker (e2e-grid, grid 510903001001501) reports from a phone with a
// photo and coordinates; the community worker (e2e-village, 510903001001) accepts, dispatches to
// 属地, checks and closes; the grid worker signs in, feeds back and evaluates. Also: a retried
// report makes one event, bad coordinates and fake photos are refused, a stale form is refused,
// another community cannot open the event, and the street (e2e-street, 510903001) whistles
// departments in, one of which (e2e-dept, when run.sh could put it in a department) reports in.
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { deflateSync } from 'node:zlib';
import {
  BASE, COMMUNITY, DEPARTMENT, GRID, RESULTS,
  launch, login, path, tableRows, withPages,
} from './helpers.mjs';

const GRID_USER = 'e2e-grid';
const VILLAGE = 'e2e-village';
const NEIGHBOUR = 'e2e-neighbour';
const STREET = 'e2e-street';
const DEPT_USER = 'e2e-dept';
const PHONE = { width: 390, height: 844 };

const TYPE = '06005'; // 排水不畅或积水, 1 working day, routed to 住建局 by the catalogue
const EVENT_NO = /^\d{8}-\d{4}$/;
// The two departments whistled in: county departments (their labels carry no 市 prefix).
const WHISTLED = [DEPARTMENT || '水务局', '城管局'];

// Titles carry a per-run tag so that a rerun against the same server finds only its own events.
const RUN = `${Date.now().toString(36).slice(-5)}${Math.floor(Math.random() * 100)}`;
const title = (what) => `E2E${what}${RUN}`;

// --- A real PNG ------------------------------------------------------------------------------

function crc32(buf) {
  let crc = ~0;
  for (const b of buf) {
    crc ^= b;
    for (let k = 0; k < 8; k++) crc = (crc >>> 1) ^ (0xedb88320 & -(crc & 1));
  }
  return ~crc >>> 0;
}

function pngChunk(type, data) {
  const head = Buffer.alloc(8);
  head.writeUInt32BE(data.length, 0);
  head.write(type, 4, 'ascii');
  const crc = Buffer.alloc(4);
  crc.writeUInt32BE(crc32(Buffer.concat([head.subarray(4), data])));
  return Buffer.concat([head, data, crc]);
}

/** A valid 1×1 RGB PNG of one colour. */
function onePixelPng([r, g, b] = [30, 120, 200]) {
  const ihdr = Buffer.alloc(13);
  ihdr.writeUInt32BE(1, 0); // width
  ihdr.writeUInt32BE(1, 4); // height
  ihdr[8] = 8; // bit depth
  ihdr[9] = 2; // colour type: RGB
  return Buffer.concat([
    Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]),
    pngChunk('IHDR', ihdr),
    pngChunk('IDAT', deflateSync(Buffer.from([0, r, g, b]))), // filter byte, one pixel
    pngChunk('IEND', Buffer.alloc(0)),
  ]);
}

const PNG = onePixelPng();

// --- Reporting -------------------------------------------------------------------------------

const reportForm = (page) => page.locator('form[data-testid=report]');

/**
 * Opens the report form from the list's button and fills it like a person would. `r` may set
 * type, unit, title, description, address, urgency, lon, lat, crs and photos (file payloads).
 */
async function fillReport(page, r) {
  await page.goto(`${BASE}/events`);
  const button = page.locator('a[data-testid=new-event]');
  await button.waitFor({ state: 'visible' });
  await Promise.all([page.waitForURL('**/events/new'), button.click()]);
  const form = reportForm(page);
  await form.waitFor({ state: 'visible' });
  const idem = await form.locator('input[name=idem_key]').inputValue();
  assert.ok(idem.length >= 16, `the report form should carry an idempotency key, has ${JSON.stringify(idem)}`);
  await form.locator('select[name=type_code]').selectOption(r.type ?? TYPE);
  await form.locator('select[name=unit]').selectOption(r.unit ?? GRID);
  await form.locator('input[name=title]').fill(r.title);
  // Each report's text carries its title: identical reports by one person within ten minutes are one event.
  await form.locator('textarea[name=description]').fill(r.description ?? `${r.title}：雨后路面积水，行人绕行。`);
  await form.locator('input[name=address]').fill(r.address ?? '和平东路 12 号门口');
  await form.locator('select[name=urgency]').selectOption(r.urgency ?? '一般');
  if (r.lon !== undefined) await form.locator('input[name=lon]').fill(String(r.lon));
  if (r.lat !== undefined) await form.locator('input[name=lat]').fill(String(r.lat));
  if (r.crs !== undefined) await form.locator('select[name=crs]').selectOption(r.crs);
  if (r.photos?.length) await form.locator('input[type=file][name=photo]').setInputFiles(r.photos);
  return idem;
}

/** Submits the filled report form; returns the response of the page it ends on. */
async function submitReport(page) {
  const [res] = await Promise.all([page.waitForNavigation({ waitUntil: 'load' }), reportForm(page).locator('button[type=submit]').click()]);
  return res;
}

/** The event id from an event page's URL (/events/{id} or /events/{id}/act). */
function eventIdOf(page) {
  const m = path(page).match(/^\/events\/([0-9a-f]+)(?:\/act|\/whistle)?$/);
  assert.ok(m, `not on an event page: ${page.url()}`);
  return m[1];
}

/** Reports through the form and checks the redirect to the new event's page; returns its id. */
async function reportEvent(page, r) {
  await fillReport(page, r);
  const res = await submitReport(page);
  assert.equal(res.status(), 200, `report ${r.title}: status of the page after submitting`);
  assert.match(page.url(), /\/events\/[0-9a-f]+\?reported=1$/, `report ${r.title} should redirect to the new event`);
  return eventIdOf(page);
}

/**
 * The report form's multipart body as the browser sends it, for replaying a submission: the form's
 * action (with its CSRF token) and the fields, photos as file payloads.
 */
async function reportBody(page, r) {
  await page.goto(`${BASE}/events/new`);
  const form = reportForm(page);
  const action = await form.getAttribute('action');
  const fields = {
    idem_key: r.idem_key ?? await form.locator('input[name=idem_key]').inputValue(),
    type_code: r.type ?? TYPE,
    unit: r.unit ?? GRID,
    title: r.title,
    description: r.description ?? `${r.title}：雨后路面积水，行人绕行。`,
    address: r.address ?? '',
    urgency: r.urgency ?? '一般',
    lon: r.lon === undefined ? '' : String(r.lon),
    lat: r.lat === undefined ? '' : String(r.lat),
    crs: r.crs ?? 'wgs84',
  };
  if (r.photo) fields.photo = r.photo;
  return { url: new URL(action, BASE).href, fields };
}

/** Posts a report body; redirects are not followed so that the Location can be checked. */
function postReport(page, { url, fields }) {
  return page.request.post(url, { multipart: fields, maxRedirects: 0 });
}

/** The rows of the event list for a search (by title), as the list shows them. */
async function listRows(page, q) {
  await page.goto(`${BASE}/events?q=${encodeURIComponent(q)}`);
  const table = page.locator('table[data-testid=events]');
  await table.waitFor({ state: 'visible' });
  return tableRows(table);
}

// --- The event page --------------------------------------------------------------------------

async function stateOf(page) {
  const s = page.locator('[data-testid=state]');
  await s.waitFor({ state: 'visible' });
  return { state: await s.getAttribute('data-state'), version: await s.getAttribute('data-version'), label: (await s.innerText()).trim() };
}

async function actionsOn(page) {
  return page.locator('form.act').evaluateAll((fs) => fs.map((f) => f.getAttribute('data-action')));
}

async function openEvent(page, id) {
  const res = await page.goto(`${BASE}/events/${id}`);
  assert.equal(res.status(), 200, `/events/${id} status`);
  return stateOf(page);
}

/**
 * Takes an action through its form on the current event page (inputs: note, department, reason,
 * satisfaction); returns the response of the re-rendered page.
 */
async function act(page, action, inputs = {}) {
  const form = page.locator(`form.act[data-action="${action}"]`);
  assert.equal(await form.count(), 1, `no ${action} form on ${page.url()}; the page offers ${JSON.stringify(await actionsOn(page))}`);
  for (const name of ['department', 'reason', 'satisfaction']) {
    if (inputs[name] !== undefined) await form.locator(`select[name=${name}]`).selectOption(inputs[name]);
  }
  if (inputs.note !== undefined) await form.locator('input[name=note]').fill(inputs.note);
  const [res] = await Promise.all([page.waitForNavigation({ waitUntil: 'load' }), form.locator('button[type=submit]').click()]);
  return res;
}

/** Acts and checks the outcome: a 200 page saying 已<label>, and the new state. */
async function actOk(page, action, label, expectState, inputs) {
  const before = await stateOf(page);
  const res = await act(page, action, inputs);
  const alert = page.locator('[role=alert]');
  const why = (await alert.count()) ? ` (alert ${await alert.first().getAttribute('data-code')}: ${(await alert.first().innerText()).trim()})` : '';
  assert.equal(res.status(), 200, `${action}: status${why}`);
  const status = page.locator('[role=status]');
  await status.first().waitFor({ state: 'visible' });
  assert.ok((await status.first().innerText()).includes(`已${label}`), `${action}: the page should say 已${label}, says ${JSON.stringify(await status.first().innerText())}`);
  const after = await stateOf(page);
  assert.equal(after.state, expectState, `state after ${action}`);
  assert.ok(Number(after.version) > Number(before.version), `${action} should raise the version (${before.version} → ${after.version})`);
  return after;
}

async function stepRows(page) {
  return tableRows(page.locator('table[data-testid=steps]'));
}

/** Horizontal overflow of the page in CSS pixels (0 when nothing scrolls sideways). */
function sideways(page) {
  return page.evaluate(() => document.documentElement.scrollWidth - document.documentElement.clientWidth);
}

/**
 * WGS-84 → GCJ-02, the published forward formula (Krasovsky ellipsoid). The page shows WGS-84
 * converted from what was typed in GCJ-02; converting it forward again must land where we typed.
 */
function wgs84ToGcj02(lon, lat) {
  const PI = Math.PI;
  const a = 6378245.0;
  const ee = 0.00669342162296594323;
  const x = lon - 105.0;
  const y = lat - 35.0;
  let dLat = -100.0 + 2.0 * x + 3.0 * y + 0.2 * y * y + 0.1 * x * y + 0.2 * Math.sqrt(Math.abs(x));
  dLat += ((20.0 * Math.sin(6.0 * x * PI) + 20.0 * Math.sin(2.0 * x * PI)) * 2.0) / 3.0;
  dLat += ((20.0 * Math.sin(y * PI) + 40.0 * Math.sin((y / 3.0) * PI)) * 2.0) / 3.0;
  dLat += ((160.0 * Math.sin((y / 12.0) * PI) + 320 * Math.sin((y * PI) / 30.0)) * 2.0) / 3.0;
  let dLon = 300.0 + x + 2.0 * y + 0.1 * x * x + 0.1 * x * y + 0.1 * Math.sqrt(Math.abs(x));
  dLon += ((20.0 * Math.sin(6.0 * x * PI) + 20.0 * Math.sin(2.0 * x * PI)) * 2.0) / 3.0;
  dLon += ((20.0 * Math.sin(x * PI) + 40.0 * Math.sin((x / 3.0) * PI)) * 2.0) / 3.0;
  dLon += ((150.0 * Math.sin((x / 12.0) * PI) + 300.0 * Math.sin((x / 30.0) * PI)) * 2.0) / 3.0;
  const radLat = (lat / 180.0) * PI;
  const magic = 1 - ee * Math.sin(radLat) ** 2;
  const sqrtMagic = Math.sqrt(magic);
  dLat = (dLat * 180.0) / (((a * (1 - ee)) / (magic * sqrtMagic)) * PI);
  dLon = (dLon * 180.0) / ((a / sqrtMagic) * Math.cos(radLat) * PI);
  return [lon + dLon, lat + dLat];
}

/** Distance in metres between two lon/lat points (equirectangular; fine at these distances). */
function metres([lon1, lat1], [lon2, lat2]) {
  const k = Math.PI / 180;
  const x = (lon2 - lon1) * k * Math.cos(((lat1 + lat2) / 2) * k);
  const y = (lat2 - lat1) * k;
  return 6_371_000 * Math.hypot(x, y);
}

/**
 * Opens the whistle form on the current event page, picks the kind and the departments (by their
 * labels), sets the minutes and a note and submits. With `ok`, checks for a 200 page and returns
 * its confirmation; otherwise returns {status, code} of the page.
 */
async function whistle(page, { kind, departments, minutes, note = '' }, ok = true) {
  const form = page.locator('form[data-testid=whistle]');
  assert.equal(await form.count(), 1, `no whistle form on ${page.url()}`);
  await page.locator('details:has(form[data-testid=whistle]) > summary').click();
  await form.waitFor({ state: 'visible' });
  await form.locator('select[name=kind]').selectOption(kind);
  for (const name of departments) {
    const box = form.locator('label.check', { hasText: new RegExp(`^\\s*${name}\\s*$`) }).locator('input[name=departments]');
    assert.equal(await box.count(), 1, `the whistle form should list ${name} once`);
    await box.check();
  }
  await form.locator('input[name=minutes]').fill(String(minutes));
  await form.locator('input[name=note]').fill(note);
  const [res] = await Promise.all([page.waitForNavigation({ waitUntil: 'load' }), form.locator('button[type=submit]').click()]);
  const alert = page.locator('[role=alert]');
  const code = (await alert.count()) ? await alert.first().getAttribute('data-code') : null;
  if (!ok) return { status: res.status(), code };
  assert.equal(res.status(), 200, `whistle: status (alert ${code})`);
  return (await page.locator('[role=status]').first().innerText()).trim();
}

/** The department lines under the whistles (「name：待报到」 …), whitespace removed. */
async function whistleItems(page) {
  return (await page.locator('.card li').allInnerTexts()).map((x) => x.replace(/\s+/g, ''));
}

/** The event's version as its page shows it to `page`'s user. */
async function versionSeenBy(page, id) {
  return (await openEvent(page, id)).version;
}

/** The session's CSRF token, from the logout form in the header. */
function csrfOf(page) {
  return page.locator('form[action="/logout"] input[name=_csrf]').inputValue();
}

describe('events', () => {
  let browser;
  before(async () => { browser = await launch(); });
  after(async () => { await browser?.close(); });

  test('the whole loop on a phone: report with photo, accept, dispatch, sign in, feed back, close, evaluate', async () => {
    await withPages(browser, 'events-loop', ['grid', 'village'], async ({ grid, village }) => {
      const t = title('积水');
      const gcj = [105.5927, 30.5329];
      await login(grid, GRID_USER);

      // The form: the 06005 option names its limit, the grid is among the places to report from.
      await fillReport(grid, { title: t, lon: gcj[0], lat: gcj[1], crs: 'gcj02', photos: [{ name: '积水.png', mimeType: 'image/png', buffer: PNG }] });
      const option = (await reportForm(grid).locator(`select[name=type_code] option[value="${TYPE}"]`).innerText()).trim();
      assert.equal(option, '06005 排水不畅或积水（1 工作日）', 'type option text');
      assert.ok(await reportForm(grid).locator(`select[name=unit] option[value="${GRID}"]`).count(), `the grid ${GRID} is not a place to report from`);
      await grid.screenshot({ path: join(RESULTS, 'event-report-phone.png'), fullPage: true });
      assert.ok(await sideways(grid) <= 1, `the report form scrolls sideways at phone width by ${await sideways(grid)}px`);

      const res = await submitReport(grid);
      assert.equal(res.status(), 200, 'status after reporting');
      assert.match(grid.url(), /\/events\/[0-9a-f]+\?reported=1$/, 'reporting should redirect to /events/{id}?reported=1');
      const id = eventIdOf(grid);
      assert.ok((await grid.locator('[role=status]').first().innerText()).includes('已上报'), 'the new event page should confirm 已上报');
      let s = await stateOf(grid);
      assert.equal(s.state, 'reported');
      assert.equal(s.label, '待受理');
      assert.equal(await grid.locator('[data-testid=light]').getAttribute('data-light'), 'green', 'a fresh event has a green light');
      const no = (await grid.locator('h1 .tag').innerText()).trim();
      assert.match(no, EVENT_NO, 'event number in the heading');
      assert.ok((await grid.locator('h1').innerText()).includes(t), 'the heading shows the title');
      // The community handles it (属地), not the grid it happened in.
      const handling = (await grid.locator('[data-testid=handling]').innerText()).trim();
      assert.ok(handling.length > 0 && !/^\d+$/.test(handling), `handling unit should be a name, is ${JSON.stringify(handling)}`);
      // The grid worker reports; accepting is the community's.
      assert.deepEqual(await actionsOn(grid), [], 'the reporter has no actions on a reported event');

      // The photo: one img.photo that the browser decoded, served back byte for byte.
      const photos = grid.locator('img.photo');
      assert.equal(await photos.count(), 1, 'one photo on the event page');
      await grid.waitForFunction(() => { const i = document.querySelector('img.photo'); return i && i.complete; });
      assert.equal(await photos.first().evaluate((i) => i.naturalWidth), 1, 'the photo did not decode as a 1×1 image');
      const src = await photos.first().getAttribute('src');
      const img = await grid.request.get(new URL(src, BASE).href);
      assert.equal(img.status(), 200, `${src} status`);
      assert.equal(img.headers()['content-type'], 'image/png', `${src} content type`);
      assert.ok(Buffer.from(await img.body()).equals(PNG), `${src} should serve the uploaded bytes`);

      // GCJ-02 in, WGS-84 shown: a few hundred metres apart in Suining, not the same numbers.
      const facts = await grid.locator('dl.facts').innerText();
      const m = facts.match(/坐标（WGS-84）\s*([\d.]+),\s*([\d.]+)/);
      assert.ok(m, `the page should show WGS-84 coordinates; facts: ${JSON.stringify(facts)}`);
      const wgs = [Number(m[1]), Number(m[2])];
      const shift = metres(gcj, wgs);
      assert.ok(shift > 100 && shift < 1000, `GCJ-02 ${gcj} → WGS-84 ${wgs} moved ${shift.toFixed(0)} m; expected the usual 100–1000 m offset`);
      const back = wgs84ToGcj02(...wgs);
      const miss = metres(gcj, back);
      assert.ok(miss < 5, `WGS-84 ${wgs} shown for GCJ-02 ${gcj} converts forward to ${back.map((v) => v.toFixed(6))}, ${miss.toFixed(1)} m off (a conversion the wrong way round misses by twice the offset)`);

      await grid.screenshot({ path: join(RESULTS, 'event-reported-phone.png'), fullPage: true });

      // The list shows it with number, state and a green light.
      const rows = await listRows(grid, t);
      assert.equal(rows.length, 1, `list search for ${t}: ${JSON.stringify(rows)}`);
      assert.equal(rows[0]._href, `/events/${id}`);
      assert.equal(rows[0].编号, no);
      assert.equal(rows[0].状态, '待受理');
      assert.equal(await grid.locator(`table[data-testid=events] a[href="/events/${id}"]`).locator('xpath=ancestor::tr').locator('[data-light]').getAttribute('data-light'), 'green');
      assert.ok(await sideways(grid) <= 1, `the event list scrolls sideways at phone width by ${await sideways(grid)}px`);
      await grid.screenshot({ path: join(RESULTS, 'event-list-phone.png'), fullPage: true });

      // The community accepts and dispatches to itself (属地).
      await login(village, VILLAGE);
      s = await openEvent(village, id);
      assert.equal(s.state, 'reported');
      const offered = await actionsOn(village);
      for (const a of ['accept', 'reject']) assert.ok(offered.includes(a), `the community should be offered ${a}; offered ${JSON.stringify(offered)}`);
      await actOk(village, 'accept', '受理', 'accepted');
      const dispatch = village.locator('form.act[data-action=dispatch] select[name=department]');
      assert.equal(await dispatch.locator('option').first().getAttribute('value'), '', 'the first dispatch choice is 属地 (empty value)');
      assert.ok((await dispatch.locator('option').first().innerText()).includes('属地处置'), 'the first dispatch choice says 属地处置');
      await actOk(village, 'dispatch', '派遣', 'dispatched', { department: '' });
      assert.equal((await village.locator('[data-testid=handling]').innerText()).trim(), handling, 'dispatching to 属地 keeps the handling unit');

      // The grid worker signs in and feeds back; a feedback without a note is refused.
      s = await openEvent(grid, id);
      assert.equal(s.state, 'dispatched');
      await actOk(grid, 'sign_in', '签收', 'handling');
      const empty = await act(grid, 'feedback', { note: '' });
      assert.equal(empty.status(), 400, 'a feedback without a note should be refused');
      assert.equal(await grid.locator('[role=alert][data-code="event.note_required"]').count(), 1, 'alert event.note_required');
      assert.equal((await stateOf(grid)).state, 'handling', 'a refused feedback leaves the state');
      await actOk(grid, 'feedback', '处置反馈', 'fed_back', { note: '已疏通雨水篦子，积水已排净' });

      // The community checks and closes as solved.
      s = await openEvent(village, id);
      assert.equal(s.state, 'fed_back');
      assert.ok((await actionsOn(village)).includes('rework'), 'the community may also send it back (rework)');
      await actOk(village, 'close', '核查结案', 'closed', { reason: '已解决', note: '现场核查无积水' });
      assert.ok((await village.locator('dl.facts').innerText()).includes('已解决'), 'the close reason is shown');

      // The reporter evaluates.
      s = await openEvent(grid, id);
      assert.equal(s.state, 'closed');
      await actOk(grid, 'evaluate', '回访评价', 'evaluated', { satisfaction: '满意' });
      assert.deepEqual(await actionsOn(grid), [], 'nothing is left for the reporter after evaluating');

      // The steps, in order, each with who did it and the state it led to.
      s = await openEvent(grid, id);
      assert.equal(s.state, 'evaluated');
      assert.equal(s.label, '已评价');
      const steps = await stepRows(grid);
      const expected = [
        ['上报', GRID_USER, '待受理'],
        ['受理', VILLAGE, '已受理待派遣'],
        ['派遣', VILLAGE, '已派遣待签收'],
        ['签收', GRID_USER, '处置中'],
        ['处置反馈', GRID_USER, '已反馈待核查'],
        ['核查结案', VILLAGE, '已结案待回访'],
        ['回访评价', GRID_USER, '已评价'],
      ];
      assert.deepEqual(steps.map((r) => [r.操作, r.操作人, r.状态]), expected, 'steps table');
      assert.ok(steps[2].说明.includes('属地'), `the dispatch step should say 属地, says ${JSON.stringify(steps[2].说明)}`);
      assert.ok(steps[4].说明.includes('已疏通雨水篦子'), 'the feedback step keeps the note');
      assert.ok(steps[5].说明.includes('已解决'), 'the close step names the reason');
      assert.ok(steps[6].说明.includes('满意'), 'the evaluation step names the satisfaction');
      const times = steps.map((r) => r.时间);
      assert.deepEqual([...times].sort(), times, `step times should not go backwards: ${times}`);

      // What the phone shows at the end.
      assert.ok(await sideways(grid) <= 1, `the event page scrolls sideways at phone width by ${await sideways(grid)}px`);
      await grid.screenshot({ path: join(RESULTS, 'event-phone.png'), fullPage: true });
      await village.goto(`${BASE}/events/${id}`);
      await village.screenshot({ path: join(RESULTS, 'event-village-phone.png'), fullPage: true });
    }, PHONE);
  });

  test('a resubmitted report form makes one event', async () => {
    await withPages(browser, 'events-retry', ['grid'], async ({ grid }) => {
      await login(grid, GRID_USER);

      // Submitted in the browser, then the same form (same idempotency key) sent again, as a
      // flaky connection retrying does: the same event answers.
      const t = title('重试');
      const idem = await fillReport(grid, { title: t, photos: [{ name: 'a.png', mimeType: 'image/png', buffer: PNG }] });
      const res = await submitReport(grid);
      assert.equal(res.status(), 200);
      const id = eventIdOf(grid);
      const body = await reportBody(grid, { title: t, idem_key: idem, photo: { name: 'a.png', mimeType: 'image/png', buffer: PNG } });
      for (let i = 0; i < 2; i++) {
        const again = await postReport(grid, body);
        assert.ok([302, 303].includes(again.status()), `resubmission ${i + 1}: status ${again.status()}, expected a redirect`);
        assert.equal(again.headers().location, `/events/${id}?reported=1`, `resubmission ${i + 1} should lead to the first event`);
      }
      let rows = await listRows(grid, t);
      assert.equal(rows.length, 1, `after resubmitting, the list should have one ${t}: ${JSON.stringify(rows.map((r) => r.编号))}`);
      await grid.goto(`${BASE}/events/${id}`);
      assert.equal(await grid.locator('img.photo').count(), 1, 'a resubmission must not add the photo again');
      assert.equal((await stepRows(grid)).length, 1, 'a resubmission must not add steps');

      // Two submissions of one form at the same moment (a double tap): one event.
      const t2 = title('双击');
      const body2 = await reportBody(grid, { title: t2 });
      const both = await Promise.all([postReport(grid, body2), postReport(grid, body2)]);
      const locations = both.map((r) => `${r.status()} ${r.headers().location}`);
      for (const r of both) assert.ok([302, 303].includes(r.status()), `double submit: ${locations}`);
      assert.equal(both[0].headers().location, both[1].headers().location, `double submit should lead to one event: ${locations}`);
      rows = await listRows(grid, t2);
      assert.equal(rows.length, 1, `after a double submit, the list should have one ${t2}: ${JSON.stringify(rows.map((r) => r.编号))}`);

      // The browser's back button after a report, then 提交 again. The form comes back with what
      // was typed; if that makes a second event, it must at least be flagged as a likely duplicate
      // of the first, so that the community can merge it.
      const t3 = title('返回');
      await fillReport(grid, { title: t3 });
      await submitReport(grid);
      const firstId = eventIdOf(grid);
      await grid.goBack();
      assert.equal(path(grid), '/events/new', 'back from the new event should return to the form');
      assert.equal(await reportForm(grid).locator('input[name=title]').inputValue(), t3, 'the form comes back with the title typed');
      const again = await submitReport(grid);
      assert.equal(again.status(), 200, 'resubmitting after back: status');
      const secondId = eventIdOf(grid);
      if (secondId !== firstId) {
        const similar = grid.locator('[data-testid=similar]');
        assert.equal(await similar.count(), 1, `back + resubmit made a second event ${secondId} without a likely-duplicate notice`);
        assert.ok(await similar.locator(`a[href="/events/${firstId}"]`).count(), `the notice on ${secondId} should link the first event ${firstId}`);
      }
    });
  });

  test('coordinates outside Suining, a fake photo and an unknown type are refused', async () => {
    await withPages(browser, 'events-bad-input', ['grid'], async ({ grid }) => {
      await login(grid, GRID_USER);

      // Beijing (天安门) in WGS-84.
      const t1 = title('北京');
      await fillReport(grid, { title: t1, lon: 116.39, lat: 39.90, crs: 'wgs84' });
      let res = await submitReport(grid);
      assert.equal(res.status(), 400, 'coordinates in Beijing: status');
      assert.equal(path(grid), '/events/new', 'the form is shown again');
      let alert = grid.locator('[role=alert][data-code="event.outside_city"]');
      assert.equal(await alert.count(), 1, `alert event.outside_city; page alerts: ${await grid.locator('[role=alert]').allInnerTexts()}`);
      assert.ok((await alert.innerText()).includes('遂宁'), 'the alert should explain the coordinates are not in 遂宁');
      assert.equal(await reportForm(grid).locator('input[name=title]').inputValue(), t1, 'the form keeps the title typed');
      assert.equal(await reportForm(grid).locator('select[name=type_code]').inputValue(), TYPE, 'the form keeps the type chosen');
      assert.equal((await listRows(grid, t1)).length, 0, 'nothing is created for coordinates in Beijing');

      // A text file named .png.
      const t2 = title('假图');
      await fillReport(grid, { title: t2, photos: [{ name: 'photo.png', mimeType: 'image/png', buffer: Buffer.from('这不是图片，只是改了扩展名的文本。\n') }] });
      res = await submitReport(grid);
      assert.equal(res.status(), 400, 'a text file as photo: status');
      alert = grid.locator('[role=alert][data-code="event.not_an_image"]');
      assert.equal(await alert.count(), 1, `alert event.not_an_image; page alerts: ${await grid.locator('[role=alert]').allInnerTexts()}`);
      assert.ok((await alert.innerText()).includes('photo.png'), 'the alert names the file');
      assert.equal((await listRows(grid, t2)).length, 0, 'nothing is created with a fake photo');

      // A type that is not in the catalogue (the select cannot send it; a crafted post can).
      const t3 = title('未知');
      const post = await postReport(grid, await reportBody(grid, { title: t3, type: '99999' }));
      assert.equal(post.status(), 400, 'unknown type: status');
      assert.ok((await post.text()).includes('data-code="event.unknown_type"'), 'unknown type: the form says event.unknown_type');
      assert.equal((await listRows(grid, t3)).length, 0, 'nothing is created with an unknown type');
    });
  });

  test('an action from a stale page is refused with 409', async () => {
    await withPages(browser, 'events-stale', ['grid', 'first', 'second'], async ({ grid, first, second }) => {
      await login(grid, GRID_USER);
      const id = await reportEvent(grid, { title: title('过期') });

      // Two windows of the same community worker, both drawn at the reported state.
      await login(first, VILLAGE);
      await login(second, VILLAGE);
      const a = await openEvent(first, id);
      const b = await openEvent(second, id);
      assert.equal(a.version, b.version, 'both pages were drawn from the same version');

      await actOk(first, 'accept', '受理', 'accepted');
      const res = await act(second, 'reject', { note: '不属于本社区' });
      assert.equal(res.status(), 409, 'rejecting from the stale page: status');
      const alert = second.locator('[role=alert][data-code="event.stale"]');
      assert.equal(await alert.count(), 1, `alert event.stale; page alerts: ${await second.locator('[role=alert]').allInnerTexts()}`);
      assert.ok((await alert.innerText()).includes('刷新'), 'the alert should tell to refresh');
      // The 409 page is drawn fresh: it shows the accepted state, so acting again is informed.
      assert.equal((await stateOf(second)).state, 'accepted', 'the 409 page shows the current state');

      const now = await openEvent(first, id);
      assert.equal(now.state, 'accepted', 'the stale reject must not change the state');
      const steps = await stepRows(first);
      assert.deepEqual(steps.map((r) => r.操作), ['上报', '受理'], 'no reject step after the stale form');
    });
  });

  test('another community cannot open the event', async () => {
    await withPages(browser, 'events-scope', ['grid', 'neighbour'], async ({ grid, neighbour }) => {
      await login(grid, GRID_USER);
      const t = title('邻居');
      const id = await reportEvent(grid, { title: t, photos: [{ name: 'b.png', mimeType: 'image/png', buffer: PNG }] });
      const src = await grid.locator('img.photo').first().getAttribute('src');

      await login(neighbour, NEIGHBOUR);
      const res = await neighbour.goto(`${BASE}/events/${id}`);
      assert.equal(res.status(), 404, `/events/${id} for ${NEIGHBOUR}`);
      await neighbour.locator('[data-code="not_found"]').first().waitFor({ state: 'visible' });
      assert.ok(!(await neighbour.locator('body').innerText()).includes(t), 'the 404 page must not show the title');
      const photo = await neighbour.request.get(new URL(src, BASE).href);
      assert.equal(photo.status(), 404, `${src} for ${NEIGHBOUR}`);
      // Nor act on it with a well-formed post (a valid token, the right version).
      await neighbour.goto(`${BASE}/events`);
      const accept = await neighbour.request.post(`${BASE}/events/${id}/act`, {
        form: { _csrf: await csrfOf(neighbour), action: 'accept', version: await versionSeenBy(grid, id) },
      });
      assert.equal(accept.status(), 404, `${NEIGHBOUR} accepting /events/${id}: status`);
      assert.equal((await openEvent(grid, id)).state, 'reported', 'the refused accept left the state');
      assert.equal((await listRows(neighbour, t)).length, 0, `${NEIGHBOUR}'s list must not show ${t}`);

      // Control: the event's own community sees it.
      assert.equal((await listRows(grid, t)).length, 1, `${GRID_USER}'s list shows ${t}`);
    });
  });

  test('the street whistles two departments in', async () => {
    await withPages(browser, 'events-whistle', ['grid', 'street'], async ({ grid, street }) => {
      await login(grid, GRID_USER);
      const t = title('吹哨');
      const id = await reportEvent(grid, { title: t });
      // Whistling is the street's, not the grid's.
      assert.equal(await grid.locator('form[data-testid=whistle]').count(), 0, 'the grid worker must not be offered the whistle');

      await login(street, STREET);
      assert.equal((await listRows(street, t)).length, 1, `the street's list should show ${t}`);
      await openEvent(street, id);
      const status = await whistle(street, { kind: '攻坚哨', departments: WHISTLED, minutes: 30, note: '积水反复出现，请现场会商' });
      assert.ok(status.includes('攻坚哨') && status.includes('2 个部门') && status.includes('30 分钟'), `whistle confirmation: ${JSON.stringify(status)}`);

      // Both departments are listed as 待报到 under the whistle, and the step names them.
      const items = await whistleItems(street);
      for (const name of WHISTLED) {
        assert.ok(items.includes(`${name}：待报到`), `the page should list ${name}：待报到; lists ${JSON.stringify(items)}`);
      }
      assert.equal(await street.locator('[data-testid=report-in]').count(), 0, 'the street officer is in no department: no 报到 button');
      const steps = await stepRows(street);
      const last = steps[steps.length - 1];
      assert.equal(last.操作, '吹哨');
      assert.equal(last.操作人, STREET);
      for (const name of WHISTLED) assert.ok(last.说明.includes(name), `the whistle step should name ${name}: ${JSON.stringify(last.说明)}`);
      assert.ok(last.说明.includes('30 分钟'), `the whistle step should give the limit: ${JSON.stringify(last.说明)}`);
      assert.equal((await stateOf(street)).state, 'reported', 'whistling does not change the state');

      // A whistle with no department is refused.
      await openEvent(street, id);
      const none = await whistle(street, { kind: '日常哨', departments: [], minutes: 30 }, false);
      assert.equal(none.status, 400, 'a whistle with no department: status');
      assert.equal(none.code, 'event.no_departments', 'a whistle with no department: alert code');

      await street.setViewportSize(PHONE);
      await openEvent(street, id);
      assert.ok(await sideways(street) <= 1, `the whistled event page scrolls sideways at phone width by ${await sideways(street)}px`);
      await street.screenshot({ path: join(RESULTS, 'event-whistle-phone.png'), fullPage: true });
    });
  });

  test('a whistled department reports in', { skip: !DEPARTMENT && 'run.sh found no `jiceng department` command, so e2e-dept is in no department' }, async () => {
    await withPages(browser, 'events-report-in', ['grid', 'street', 'dept'], async ({ grid, street, dept }) => {
      await login(grid, GRID_USER);
      const id = await reportEvent(grid, { title: title('报到') });
      await login(street, STREET);
      await openEvent(street, id);
      await whistle(street, { kind: '日常哨', departments: WHISTLED, minutes: 30 });

      // e2e-dept's department (水务局) is not the one the catalogue routes this type to: it takes
      // part only because it was whistled in, and must be able to open the event to report in.
      await login(dept, DEPT_USER);
      const open = await dept.goto(`${BASE}/events/${id}`);
      assert.equal(open.status(), 200, `${DEPT_USER} (${DEPARTMENT}, whistled in) opening /events/${id}`);
      const button = dept.locator('[data-testid=report-in]');
      assert.equal(await button.count(), 1, `${DEPT_USER} should see one 报到 button (for ${DEPARTMENT})`);
      await Promise.all([dept.waitForURL(`**/events/${id}`), button.click()]);
      const items = await whistleItems(dept);
      assert.ok(items.some((x) => x.startsWith(`${DEPARTMENT}：已报到`)), `after reporting in: ${JSON.stringify(items)}`);
      assert.ok(items.includes(`${WHISTLED[1]}：待报到`), `the other department is still 待报到: ${JSON.stringify(items)}`);
      assert.equal(await dept.locator('[data-testid=report-in]').count(), 0, 'no 报到 button after reporting in');

      // The street sees the report-in.
      await openEvent(street, id);
      const seen = await whistleItems(street);
      assert.ok(seen.some((x) => x.startsWith(`${DEPARTMENT}：已报到`)), `the street should see ${DEPARTMENT} 已报到: ${JSON.stringify(seen)}`);
      const steps = await stepRows(street);
      assert.equal(steps[steps.length - 1].操作, '部门报到');
      assert.equal(steps[steps.length - 1].操作人, DEPT_USER);
    });
  });
});

// --- Time limits on the injected clock ------------------------------------------------------
// run.sh starts the server with JICENG_TEST_CLOCK=1: POST /test/clock/advance moves its clock
// forward and runs one escalation sweep at once, as the minute job would. Sessions do not survive
// a jump past the idle limit (30 minutes) or of days (12 h after sign-in), so an observer signs in
// again after such a jump. The
// clock goes back to the wall clock after these tests.

const COUNTY_USER = 'e2e-county';

async function testClock() {
  const res = await fetch(`${BASE}/test/clock`).catch(() => null);
  return res?.ok ? res.json() : null;
}

/** Moves the server's clock forward; returns the sweep it ran. */
async function advance(minutes) {
  const res = await fetch(`${BASE}/test/clock/advance`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ minutes }),
  });
  assert.equal(res.status, 200, `advancing the test clock by ${minutes} min`);
  return (await res.json()).sweep;
}

async function handlingOf(page, id) {
  await openEvent(page, id);
  const text = (await page.locator('[data-testid=handling]').innerText()).trim();
  const light = await page.locator('[data-testid=light]').getAttribute('data-light');
  return { text, light };
}

describe('events on the test clock', async () => {
  const clock = await testClock();
  const skip = !clock && 'the server has no test clock (start it with JICENG_TEST_CLOCK=1, as run.sh does)';
  let browser;
  before(async () => { if (!skip) browser = await launch(); });
  after(async () => {
    await browser?.close();
    if (!skip) await fetch(`${BASE}/test/clock/reset`, { method: 'POST' });
  });

  test('an event nobody accepts turns red and rises village → street → county', { skip }, async () => {
    await withPages(browser, 'events-escalation', ['grid', 'county'], async ({ grid, county }) => {
      await login(grid, GRID_USER);
      const t = title('超时');
      const id = await reportEvent(grid, { title: t, type: '06001' });
      await login(county, COUNTY_USER);
      const start = await handlingOf(county, id);
      assert.equal(start.light, 'green', 'a fresh report is green');
      assert.ok(start.text.includes('社区'), `the community handles it first: ${JSON.stringify(start.text)}`);

      // Acceptance has 2 working hours. Fifteen calendar days hold working hours even across the
      // longest holiday on the calendar, so the stage is red and the sweep moves it up one level.
      let sweep = await advance(15 * 24 * 60);
      assert.ok(sweep.escalated >= 1, `the sweep should escalate at least this event: ${JSON.stringify(sweep)}`);
      await login(county, COUNTY_USER);
      const first = await handlingOf(county, id);
      assert.ok(first.text.includes('街道') && first.text.includes('已上报 1 级'), `after the first red: ${JSON.stringify(first.text)}`);
      assert.equal(first.light, 'green', 'the street gets a fresh limit');
      let steps = await stepRows(county);
      assert.equal(steps[steps.length - 1].操作, '超时自动上报');
      assert.ok(steps[steps.length - 1].说明.includes('超时（红灯）'), `the step says why: ${JSON.stringify(steps[steps.length - 1].说明)}`);

      sweep = await advance(15 * 24 * 60);
      await login(county, COUNTY_USER);
      const second = await handlingOf(county, id);
      assert.ok(second.text.includes('船山区') && second.text.includes('已上报 2 级'), `after the second red: ${JSON.stringify(second.text)}`);

      // The list shows it as overdue for the county.
      const rows = await listRows(county, t);
      assert.equal(rows.length, 1, `the county's list should show ${t}`);
    });
  });

  test('an unanswered 特急 alarm climbs a level every 15 minutes until someone accepts it', { skip }, async () => {
    await withPages(browser, 'events-critical', ['grid', 'county'], async ({ grid, county }) => {
      await login(grid, GRID_USER);
      const id = await reportEvent(grid, { title: title('特急'), type: '06001', urgency: '特急' });
      await login(county, COUNTY_USER);
      assert.ok((await handlingOf(county, id)).text.includes('社区'));

      // Ten minutes: still the community's, turning yellow (75 % of 15 minutes is 11¼).
      await advance(10);
      assert.ok((await handlingOf(county, id)).text.includes('社区'), 'ten minutes are within the 15-minute limit');
      await advance(6);
      assert.ok((await handlingOf(county, id)).text.includes('街道'), 'after 16 minutes the street has it');
      await advance(16);
      const atCounty = await handlingOf(county, id);
      assert.ok(atCounty.text.includes('船山区') && atCounty.text.includes('已上报 2 级'), `after 32 minutes: ${JSON.stringify(atCounty.text)}`);

      // The county answers it: accepting restarts the clock, so ten more minutes change nothing.
      await actOk(county, 'accept', '受理', 'accepted');
      await advance(10);
      const answered = await handlingOf(county, id);
      assert.ok(answered.text.includes('已上报 2 级'), `an answered alarm stays where it is: ${JSON.stringify(answered.text)}`);
    });
  });

  test('a whistled department that does not report in within the limit is marked late', { skip }, async () => {
    await withPages(browser, 'events-whistle-late', ['grid', 'street'], async ({ grid, street }) => {
      await login(grid, GRID_USER);
      const id = await reportEvent(grid, { title: title('迟到'), type: '06001' });
      await login(street, STREET);
      await openEvent(street, id);
      await whistle(street, { kind: '应急哨', departments: WHISTLED, minutes: 30 });
      assert.ok((await whistleItems(street)).includes(`${WHISTLED[1]}：待报到`));
      await advance(31);
      // 31 minutes idle also ends the street officer's session (30 minutes).
      await login(street, STREET);
      await openEvent(street, id);
      const items = await whistleItems(street);
      for (const name of WHISTLED) {
        assert.ok(items.includes(`${name}：超时未报到`), `after 31 minutes ${name} should be 超时未报到: ${JSON.stringify(items)}`);
      }
    });
  });
});
