// The population register (基础台账 · 人口): masked identifiers, unmasking with a purpose that lands
// in the audit log, the roster import wizard, scope, and the filters. The community worker
// e2e-village (510903001001) does the work; e2e-neighbour (510903001002) is out of scope; the
// audit admin e2e-auditor signs in with a TOTP code.
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import {
  AUDITOR, AUDITOR_TOTP, BASE, COMMUNITY, FULL_ID_IN_TEXT, OTHER_COMMUNITY, RESULTS,
  idCheckChar, isValidId, launch, login, loginWithTotp, path, tableRows, withPage,
} from './helpers.mjs';

const USER = 'e2e-village';
const NEIGHBOUR = 'e2e-neighbour';
const PEOPLE = `${BASE}/registry/${COMMUNITY}/people`;
const IMPORT = `${BASE}/registry/${COMMUNITY}/import`;
const PHONE = { width: 390, height: 844 };

const MASKED_ID = /^\d{6}\*{8}[\dX]{4}$/;
const MASKED_PHONE = /^\d{3}\*{4}\d{4}$/;
const FULL_PHONE_IN_TEXT = /(?<![0-9A-Za-z])1\d{10}(?![0-9A-Za-z])/g;

const TEMPLATE_COLUMNS = ['姓名*', '身份证号*', '性别', '出生日期', '联系电话', '人口类别', '户号', '与户主关系', '小区', '楼栋', '单元', '房号', '地址', '标签', '迁入日期'];

// Sequence numbers for the ID numbers made up here: a per-run hundred (5xx..9xx) so that a rerun
// against the same server does not collide; the last digit is the 17th of the ID (odd = 男).
const RUN = 5 + Math.floor(Math.random() * 5);
let workDir;

/** A valid ID number in 船山区 (510903) for a birth date YYYY-MM-DD and a 2-digit sequence tail. */
function makeId(birth, tail) {
  const first17 = `510903${birth.replaceAll('-', '')}${RUN}${String(tail).padStart(2, '0')}`;
  return first17 + idCheckChar(first17);
}

/** The same ID number with a wrong check character. */
function breakCheck(id) {
  const wrong = '10X98765432'.split('').find((c) => c !== id[17]);
  return id.slice(0, 17) + wrong;
}

/** Writes a roster file (template header + rows given as {column: value}) and returns its path. */
function writeRoster(name, rows) {
  const header = TEMPLATE_COLUMNS.join(',');
  const lines = rows.map((r) => TEMPLATE_COLUMNS.map((c) => r[c.replace('*', '')] ?? '').join(','));
  const file = join(workDir, name);
  writeFileSync(file, [header, ...lines].join('\r\n') + '\r\n', 'utf8');
  return file;
}

/**
 * Five rows: three valid new people (two sharing a household), a bad check digit, an unknown tag.
 * `tailBase` (10, 20, …) keeps the ID numbers of different files apart, `suffix` their names.
 */
function rosterWithErrors(birthYearMonth, tailBase, suffix) {
  const ids = [1, 2, 3, 4, 5].map((n) => makeId(`${birthYearMonth}-0${n}`, tailBase + n));
  const household = `E2E${RUN}${tailBase}A`;
  const people = [
    { 姓名: `测试甲${suffix}`, 身份证号: ids[0], 性别: '男', 出生日期: `${birthYearMonth}-01`, 联系电话: '13800001111', 人口类别: '户籍', 户号: household, 与户主关系: '户主', 小区: '阳光府', 楼栋: '1', 单元: '1', 房号: '101', 标签: '独居老人' },
    { 姓名: `测试乙${suffix}`, 身份证号: ids[1], 性别: '女', 出生日期: `${birthYearMonth}-02`, 人口类别: '户籍', 户号: household, 与户主关系: '配偶', 小区: '阳光府', 楼栋: '1', 单元: '1', 房号: '101' },
    { 姓名: `测试丙${suffix}`, 身份证号: ids[2], 性别: '男', 出生日期: `${birthYearMonth}-03`, 人口类别: '常住', 户号: `E2E${RUN}${tailBase}B`, 与户主关系: '户主', 地址: '和平东路 12 号' },
    { 姓名: `测试丁${suffix}`, 身份证号: breakCheck(ids[3]), 性别: '女', 人口类别: '户籍', 户号: `E2E${RUN}${tailBase}C`, 与户主关系: '户主', 地址: '和平东路 13 号' },
    { 姓名: `测试戊${suffix}`, 身份证号: ids[4], 性别: '男', 人口类别: '流动', 户号: `E2E${RUN}${tailBase}D`, 与户主关系: '户主', 地址: '和平东路 14 号', 标签: '外星人' },
  ];
  return { people, ids };
}

/** Chooses a file in the upload form of the import page and submits it; returns the response. */
async function upload(page, file) {
  await page.goto(IMPORT);
  const form = page.locator('form[data-testid=upload]');
  await form.locator('input[type=file][name=file]').setInputFiles(file);
  const [res] = await Promise.all([page.waitForNavigation({ waitUntil: 'load' }), form.locator('button[type=submit]').click()]);
  return res;
}

async function countOf(page, testid) {
  const text = (await page.locator(`[data-testid=${testid}]`).innerText()).trim();
  assert.match(text, /^\d+$/, `[data-testid=${testid}] should be a number, is ${JSON.stringify(text)}`);
  return Number(text);
}

/** The people table's rows on the current page. */
function peopleRows(page) {
  return tableRows(page.locator('table[data-testid=people]'));
}

/** "共 N 条" under the people table. */
async function peopleTotal(page) {
  const text = await page.locator('nav.pager').first().innerText();
  const m = text.match(/共\s*([\d,]+)\s*条/);
  assert.ok(m, `pager should say 共 N 条, says ${JSON.stringify(text)}`);
  return Number(m[1].replaceAll(',', ''));
}

/** Types into the filter form's search box and submits it. */
async function searchPeople(page, q) {
  const form = page.locator('form[data-testid=people-filter]');
  await form.locator('input[name=q]').fill(q);
  await Promise.all([page.waitForNavigation({ waitUntil: 'load' }), form.locator('button[type=submit]').click()]);
  assert.equal(path(page), `/registry/${COMMUNITY}/people`, 'the search should stay on the people list');
  return peopleRows(page);
}

function sameMask(full, masked) {
  return full.slice(0, 6) === masked.slice(0, 6) && full.slice(-4) === masked.slice(-4);
}

/** A small CSV reader: quoted fields, doubled quotes, CRLF, a leading BOM. */
function parseCsv(text) {
  const rows = [];
  let row = [];
  let field = '';
  let quoted = false;
  const s = text.replace(/^\uFEFF/, '');
  for (let i = 0; i < s.length; i++) {
    const c = s[i];
    if (quoted) {
      if (c === '"' && s[i + 1] === '"') { field += '"'; i++; } else if (c === '"') quoted = false; else field += c;
    } else if (c === '"') quoted = true;
    else if (c === ',') { row.push(field); field = ''; } else if (c === '\n') { row.push(field.replace(/\r$/, '')); rows.push(row); row = []; field = ''; } else field += c;
  }
  if (field !== '' || row.length) { row.push(field); rows.push(row); }
  return rows;
}

async function horizontalOverflow(page) {
  return page.evaluate(() => document.documentElement.scrollWidth - document.documentElement.clientWidth);
}

describe('population register', () => {
  let browser;
  before(async () => {
    browser = await launch();
    workDir = mkdtempSync(join(tmpdir(), 'jiceng-e2e-roster-'));
  });
  after(async () => {
    await browser?.close();
    if (workDir) rmSync(workDir, { recursive: true, force: true });
  });

  test('the people list shows ID numbers and phones masked only', async () => {
    await withPage(browser, 'registry-masked', async (page) => {
      await login(page, USER);
      await page.goto(`${BASE}/registry`);
      assert.equal(path(page), `/registry/${COMMUNITY}/people`, '/registry should lead to the own community\'s people list');

      const rows = await peopleRows(page);
      assert.ok(rows.length >= 10, `people table shows ${rows.length} rows, expected a page of the ~5,772 synthetic residents`);
      const links = await page.locator('table[data-testid=people] a[href^="/registry/people/"]').count();
      assert.equal(links, rows.length, 'every row should link to the person');

      let phones = 0;
      for (const row of rows) {
        assert.match(row['身份证号'], MASKED_ID, `ID number of ${row['姓名']} is not masked as 6+8*+4`);
        const phone = row['联系电话'];
        if (phone && phone !== '—') {
          assert.match(phone, MASKED_PHONE, `phone of ${row['姓名']} is not masked as 3+4*+4`);
          phones++;
        }
      }
      assert.ok(phones >= 1, 'no row shows a (masked) phone number');
      const codes = await page.locator('table[data-testid=people] tbody code').allInnerTexts();
      assert.ok(codes.some((c) => MASKED_ID.test(c.trim())), 'masked ID numbers should be shown in <code>');

      const html = await page.content();
      const ids = (html.match(FULL_ID_IN_TEXT) || []).filter(isValidId);
      assert.deepEqual(ids, [], 'the people list HTML contains unmasked ID numbers');
      const fullPhones = html.match(FULL_PHONE_IN_TEXT) || [];
      assert.deepEqual(fullPhones, [], 'the people list HTML contains unmasked mobile numbers');
    });
  });

  test('unmasking needs a purpose, shows the full ID and is in the audit log', async () => {
    const purpose = '入户走访核实';
    const note = `e2e-${Date.now().toString(36)}`;
    let personId;
    let fullId;
    await withPage(browser, 'registry-unmask', async (page) => {
      await login(page, USER);
      await page.goto(PEOPLE);
      const [first] = await peopleRows(page);
      assert.ok(first?._href, 'the people list has no person link');
      personId = first._href.split('/').pop();

      await page.goto(`${BASE}${first._href}`);
      const masked = (await page.locator('[data-testid=id-masked]').innerText()).trim();
      assert.match(masked, MASKED_ID, 'the person page shows the ID number masked');
      assert.equal(masked, first['身份证号'], 'the person page and the list mask the same ID number');
      assert.equal(await page.locator('[data-testid=revealed]').count(), 0, 'nothing is revealed before asking');
      assert.deepEqual((await page.content()).match(FULL_ID_IN_TEXT)?.filter(isValidId) ?? [], [], 'the person page leaks the full ID before unmasking');

      const form = page.locator('form[data-testid=unmask]');
      await form.locator('select[name=purpose]').selectOption(purpose);
      await form.locator('input[name=note]').fill(note);
      await Promise.all([page.waitForNavigation({ waitUntil: 'load' }), form.locator('button[type=submit]').click()]);

      const revealed = page.locator('[data-testid=revealed]');
      await revealed.waitFor({ state: 'visible' });
      const codes = (await revealed.locator('code').allInnerTexts()).map((c) => c.trim());
      fullId = codes.find((c) => /^\d{17}[\dX]$/.test(c));
      assert.ok(fullId, `[data-testid=revealed] shows no 18-character ID in <code>: ${JSON.stringify(codes)}`);
      assert.ok(isValidId(fullId), `revealed ID ${fullId} fails the GB 11643 check digit`);
      assert.ok(sameMask(fullId, masked), `revealed ${fullId} does not match masked ${masked}`);
      assert.ok((await revealed.innerText()).includes(purpose), 'the notice should name the purpose');

      // Without a purpose the server refuses, whatever the browser's `required` would do.
      const csrf = await form.locator('input[name=_csrf]').inputValue();
      const res = await page.request.post(`${BASE}/registry/people/${personId}/unmask`, { form: { _csrf: csrf, purpose: '', note: '' }, maxRedirects: 0 });
      assert.equal(res.status(), 400, 'unmask without a purpose should be refused with 400');
      assert.ok(!(await res.text()).includes(fullId), 'unmask without a purpose revealed the ID number');
    });

    await withPage(browser, 'registry-unmask-audit', async (page) => {
      await loginWithTotp(page, AUDITOR, AUDITOR_TOTP);
      const res = await page.goto(`${BASE}/admin/audit?action=registry.unmask`);
      assert.equal(res.status(), 200, '/admin/audit status for the audit admin');
      const rows = await tableRows(page.locator('main table').first());
      assert.ok(rows.length >= 1, 'the audit log lists no registry.unmask rows');
      for (const row of rows) assert.ok(row['操作'].includes('registry.unmask'), `the action filter let through ${row['操作']}`);
      const mine = rows.filter((r) => r['操作人'] === USER && r['说明'].includes(purpose) && r['说明'].includes(note));
      assert.equal(mine.length, 1, `expected one registry.unmask row by ${USER} with purpose ${purpose} and note ${note}; rows: ${JSON.stringify(rows)}`);
      assert.equal(mine[0]['对象'], personId, 'the audit row should name the person unmasked');
      assert.ok(!JSON.stringify(rows).includes(fullId), 'the audit log must not store the full ID number');
    });

    // The community worker cannot read the audit log.
    await withPage(browser, 'registry-audit-refused', async (page) => {
      await login(page, USER);
      const res = await page.goto(`${BASE}/admin/audit?action=registry.unmask`);
      assert.ok([403, 404].includes(res.status()), `/admin/audit for ${USER} should be refused, status ${res.status()}`);
      assert.ok(!(await page.content()).includes(note), 'the refused page shows audit entries');
    });
  });

  test('roster import: preview lists problems, commit writes the valid rows, a re-upload finds duplicates', async (t) => {
    await withPage(browser, 'registry-import', async (page) => {
      await login(page, USER);

      // The downloadable template has the columns this test writes.
      const tpl = await page.request.get(`${BASE}/registry/template/people.csv`);
      assert.equal(tpl.status(), 200, 'CSV template status');
      assert.deepEqual(parseCsv(await tpl.text())[0], TEMPLATE_COLUMNS, 'CSV template header');

      const { people, ids } = rosterWithErrors('1990-05', 10, '一');
      const file = writeRoster('roster.csv', people);

      const res = await upload(page, file);
      assert.equal(res.status(), 200, 'preview status');
      assert.equal(await countOf(page, 'ok-count'), 3, 'ok-count');
      assert.equal(await countOf(page, 'error-count'), 2, 'error-count');
      const errors = await tableRows(page.locator('table[data-testid=errors]'));
      assert.deepEqual(errors.map((e) => [e['行号'], e['列']]), [['5', '身份证号'], ['6', '标签']], `errors table: ${JSON.stringify(errors)}`);
      for (const e of errors) {
        assert.ok(e['问题'].length > 0, `row ${e['行号']} has no explanation`);
        assert.match(e['代码'], /^[a-z_]+\.[a-z_]+$/, `row ${e['行号']} has no error code`);
      }
      assert.ok(errors[1]['问题'].includes('外星人'), 'the tag problem should name the unknown tag');
      const previewHtml = await page.content();
      for (const id of ids) assert.ok(!previewHtml.includes(id), `the preview shows the full ID ${id}`);

      // Nothing is written before the commit.
      const commit = page.locator('[data-testid=commit]');
      assert.ok(await commit.isVisible(), 'the preview offers no commit button');
      await Promise.all([page.waitForURL(/\/registry\/imports\/[^/?#]+$/), commit.click()]);
      const status = page.locator('[data-testid=import-status]');
      const state = await status.getAttribute('data-state');
      assert.ok(['running', 'done'].includes(state), `import-status data-state is ${state}`);
      t.diagnostic(`import status first seen as ${state}`);
      if (state === 'running') {
        assert.equal(await page.locator('meta[http-equiv=refresh]').count(), 1, 'a running import page should refresh itself');
      }
      await page.locator('[data-testid=import-status][data-state=done]').waitFor({ timeout: 60_000 });
      // The wording is checked at the end, so that a changed text does not hide the checks below.
      const doneText = (await status.innerText()).replace(/\s+/g, ' ').trim();
      assert.match(doneText, /已导入\s*3\s*(人|条)/, `the done page should report 3 imported, says ${JSON.stringify(doneText)}`);

      // The first new person is found by the full ID number, and only they.
      await page.goto(PEOPLE);
      const found = await searchPeople(page, ids[0]);
      assert.equal(found.length, 1, `searching ${ids[0]} found ${found.length} rows`);
      assert.ok(found[0]['姓名'].startsWith(people[0]['姓名']), `searching ${ids[0]} found ${found[0]['姓名']}`);
      assert.ok(sameMask(ids[0], found[0]['身份证号']) && MASKED_ID.test(found[0]['身份证号']), `found row shows ${found[0]['身份证号']}`);
      assert.ok(found[0]['标签'].includes('独居老人'), 'the imported tag 独居老人 is not shown');
      assert.equal(found[0]['性别'], '男');
      // Rows with problems were skipped.
      assert.equal((await searchPeople(page, ids[4])).length, 0, 'the row with an unknown tag was imported');
      assert.equal((await searchPeople(page, ids[3])).length, 0, 'the row with a bad check digit was imported (under the corrected ID)');

      // The two people with the same 户号 are one household.
      await page.goto(`${BASE}${found[0]._href}`);
      const household = page.locator(`a[href^="/registry/people/"]`, { hasText: people[1]['姓名'] });
      assert.equal(await household.count(), 1, `${people[0]['姓名']}'s page should list ${people[1]['姓名']} in the household`);
      assert.equal(await page.locator(`a[href^="/registry/people/"]`, { hasText: people[2]['姓名'] }).count(), 0, 'a person with another 户号 is listed in the household');

      // Uploading the same file again: the three are now registered.
      await upload(page, file);
      assert.equal(await countOf(page, 'ok-count'), 0, 'ok-count on re-upload');
      assert.equal(await countOf(page, 'error-count'), 5, 'error-count on re-upload');
      const again = await tableRows(page.locator('table[data-testid=errors]'));
      const dup = again.filter((e) => e['代码'] === 'registry.duplicate_in_db');
      assert.deepEqual(dup.map((e) => [e['行号'], e['列']]), [['2', '身份证号'], ['3', '身份证号'], ['4', '身份证号']], `duplicates: ${JSON.stringify(again)}`);
      const commitAgain = page.locator('[data-testid=commit]');
      assert.ok((await commitAgain.count()) === 0 || (await commitAgain.isDisabled()), 'nothing to import, yet a commit button is offered');

      assert.ok(doneText.includes('已导入 3 人'), `the done page of a people import should say 已导入 3 人, says ${JSON.stringify(doneText)}`);
    });
  });

  test('a CSV renamed to .xlsx is refused and nothing is written', async () => {
    await withPage(browser, 'registry-not-xlsx', async (page) => {
      await login(page, USER);
      await page.goto(PEOPLE);
      const before = await peopleTotal(page);

      const { people, ids } = rosterWithErrors('1991-06', 20, '二');
      const file = writeRoster('roster-renamed.xlsx', people.slice(0, 3));
      const res = await upload(page, file);
      assert.ok(res.status() >= 400 && res.status() < 500, `a fake .xlsx should be refused with 4xx, got ${res.status()}`);
      const alert = page.locator('[role=alert][data-code="import.not_xlsx"]');
      await alert.first().waitFor({ state: 'visible' });
      assert.ok((await alert.first().innerText()).trim().length > 0, 'the alert is empty');
      assert.equal(await page.locator('[data-testid=commit]').count(), 0, 'a refused file must not offer a commit');
      assert.equal(await page.locator('form[data-testid=upload]').count(), 1, 'the upload form should be offered again');

      await page.goto(PEOPLE);
      assert.equal(await peopleTotal(page), before, 'the number of people changed');
      assert.equal((await searchPeople(page, ids[0])).length, 0, 'a person from the refused file was written');
    });
  });

  test('registers outside the own community are not found', async () => {
    let person;
    await withPage(browser, 'registry-scope-own', async (page) => {
      await login(page, USER);
      const res = await page.goto(PEOPLE);
      assert.equal(res.status(), 200, `${PEOPLE} status for its own worker`);
      [person] = await peopleRows(page);
      assert.ok(person?._href, 'no person in the own community');

      for (const url of [`/registry/${OTHER_COMMUNITY}/people`, `/registry/${OTHER_COMMUNITY}/import`]) {
        const other = await page.goto(`${BASE}${url}`);
        assert.equal(other.status(), 404, `${url} status for ${USER}`);
        await page.locator('[data-code="not_found"]').first().waitFor({ state: 'visible' });
      }
      for (const url of [`/registry/${OTHER_COMMUNITY}/people/export.csv`, `/registry/${OTHER_COMMUNITY}/people/export.xlsx`]) {
        const other = await page.request.get(`${BASE}${url}`);
        assert.equal(other.status(), 404, `${url} status for ${USER}`);
      }
    });

    await withPage(browser, 'registry-scope-neighbour', async (page) => {
      await login(page, NEIGHBOUR);
      const name = person['姓名'].replace(/\s*演示$/, '');
      const res = await page.goto(`${BASE}${person._href}`);
      assert.equal(res.status(), 404, `${person._href} status for ${NEIGHBOUR}`);
      await page.locator('[data-code="not_found"]').first().waitFor({ state: 'visible' });
      assert.ok(!(await page.locator('body').innerText()).includes(name), 'the 404 page names the person');

      const csrf = await page.locator('input[name=_csrf]').first().inputValue();
      const unmask = await page.request.post(`${BASE}${person._href}/unmask`, { form: { _csrf: csrf, purpose: '入户走访核实', note: '' }, maxRedirects: 0 });
      assert.equal(unmask.status(), 404, `unmasking ${person._href} as ${NEIGHBOUR} status`);
      assert.deepEqual(((await unmask.text()).match(FULL_ID_IN_TEXT) || []).filter(isValidId), [], 'an out-of-scope unmask revealed an ID');

      // Control: the neighbour's own register opens.
      const own = await page.goto(`${BASE}/registry/${OTHER_COMMUNITY}/people`);
      assert.equal(own.status(), 200, `/registry/${OTHER_COMMUNITY}/people status for ${NEIGHBOUR}`);
    });
  });

  test('the tag filter shows only people with that tag, and export follows it', async () => {
    await withPage(browser, 'registry-filter', async (page) => {
      await login(page, USER);
      await page.goto(PEOPLE);
      const all = await peopleTotal(page);
      const tag = '独居老人';
      const form = page.locator('form[data-testid=people-filter]');
      await form.locator('select[name=tag]').selectOption(tag);
      await Promise.all([page.waitForURL(/[?&]tag=/), form.locator('button[type=submit]').click()]);
      assert.equal(new URL(page.url()).searchParams.get('tag'), tag, 'the URL should carry the tag');
      assert.equal(await form.locator('select[name=tag]').inputValue(), tag, 'the tag select should keep the choice');

      const total = await peopleTotal(page);
      assert.ok(total >= 1 && total < all, `filtering by ${tag} should narrow ${all} people to some, got ${total}`);
      const exportHref = await form.locator('a[href*="/people/export.csv"]').first().getAttribute('href');
      let seen = 0;
      for (let pages = 0; pages < 5; pages++) {
        const rows = await peopleRows(page);
        if (pages === 0) assert.ok(rows.length >= 1, `no row tagged ${tag}`);
        for (const row of rows) assert.ok(row['标签'].includes(tag), `${row['姓名']} is listed under ${tag} with tags ${JSON.stringify(row['标签'])}`);
        seen += rows.length;
        const next = page.locator('nav.pager a[rel=next]');
        if (!(await next.count())) break;
        const res = await page.goto(new URL(await next.getAttribute('href'), page.url()).href);
        assert.equal(res.status(), 200, 'next page of the filtered list');
      }
      if (total <= 5 * 50) assert.equal(seen, total, 'rows listed over the pages vs 共 N 条');

      // The CSV export link of the filtered list: the same people, masked.
      const csv = await page.request.get(new URL(exportHref, BASE).href);
      assert.equal(csv.status(), 200, `export.csv status (${exportHref})`);
      const text = await csv.text();
      const [head, ...lines] = parseCsv(text).filter((r) => r.some((f) => f !== ''));
      const tagCol = head.indexOf('标签');
      assert.ok(tagCol >= 0, `export header has no 标签: ${head}`);
      assert.equal(lines.length, total, 'exported rows vs 共 N 条');
      for (const l of lines) assert.ok(l[tagCol].includes(tag), `exported ${l[0]} without ${tag}`);
      assert.deepEqual((text.match(FULL_ID_IN_TEXT) || []).filter(isValidId), [], 'the export contains unmasked ID numbers');
    });
  });

  test('the unfiltered people list\'s next-page and export links work', async () => {
    await withPage(browser, 'registry-links', async (page) => {
      await login(page, USER);
      await page.goto(PEOPLE); // as the 人口 tab opens it: no query string
      const next = page.locator('nav.pager a[rel=next]');
      assert.equal(await next.count(), 1, 'the first page of ~5,772 people has no next-page link');
      const links = [
        ['下一页', await next.getAttribute('href'), (res, body) => body.toString('utf8').includes('data-testid="people"')],
        ['导出 CSV', await page.locator('a[href*="/people/export.csv"]').first().getAttribute('href'), (res, body) => body.toString('utf8').includes('身份证号')],
        ['导出 Excel', await page.locator('a[href*="/people/export.xlsx"]').first().getAttribute('href'), (res, body) => body.subarray(0, 2).toString('latin1') === 'PK'],
      ];
      const broken = [];
      for (const [label, href, looksRight] of links) {
        const url = new URL(href, page.url()).href;
        const res = await page.request.get(url);
        const body = await res.body();
        if (res.status() !== 200 || !looksRight(res, body)) {
          broken.push(`${label} ${url} → ${res.status()} ${JSON.stringify(body.toString('utf8').slice(0, 100))}`);
        }
      }
      assert.deepEqual(broken, [], 'links on the unfiltered people list are broken');
    });
  });

  test('a resident\'s home opens as a house page; a report started there links back to it', async () => {
    await withPage(browser, 'registry-house', async (page) => {
      await login(page, USER);
      await page.goto(PEOPLE);
      await page.locator('table[data-testid=people] a[href^="/registry/people/"]').first().click();
      const home = page.locator('[data-testid=person-house]');
      await home.waitFor();
      const address = (await home.innerText()).trim();
      await Promise.all([page.waitForNavigation({ waitUntil: 'load' }), home.click()]);
      assert.match(path(page), /^\/registry\/houses\/[0-9a-f]{32}$/, 'the home links to its house page');
      assert.equal((await page.locator('h1').innerText()).replace('演示数据', '').trim(), address, 'the house page is titled with the address');
      const members = page.locator('[data-testid=house-households] a[href^="/registry/people/"]');
      assert.ok((await members.count()) >= 1, 'the house page lists who lives there');
      assert.deepEqual(((await page.content()).match(FULL_ID_IN_TEXT) || []).filter(isValidId), [], 'the house page shows no full ID number');
      const housePath = path(page);

      await Promise.all([page.waitForNavigation({ waitUntil: 'load' }), page.locator('[data-testid=house-report]').click()]);
      assert.ok((await page.locator('[data-testid=report-house]').innerText()).includes(address), 'the report form names the house');
      const form = page.locator('form[data-testid=report]');
      await form.locator('select[name=type_code]').selectOption('90005');
      await form.locator('textarea[name=description]').fill('楼道堆放杂物，请上门查看');
      await Promise.all([page.waitForNavigation({ waitUntil: 'load' }), form.locator('button[type=submit]').click()]);
      assert.match(path(page), /^\/events\/[0-9a-f]{32}$/, 'the report was filed');
      const link = page.locator('[data-testid=event-house]');
      assert.equal((await link.innerText()).trim(), address, 'the event names the house');
      const eventPath = path(page);
      await Promise.all([page.waitForNavigation({ waitUntil: 'load' }), link.click()]);
      assert.equal(path(page), housePath);
      assert.ok(await page.locator(`[data-testid=house-related] a[href="${eventPath}"]`).count() === 1, 'the house page lists the event');
    });
  });

  test('people list and import preview at phone width', async () => {
    await withPage(browser, 'registry-phone', async (page) => {
      await login(page, USER);
      await page.goto(PEOPLE);
      await page.screenshot({ path: join(RESULTS, 'registry-people-phone.png'), fullPage: true });
      const listOverflow = await horizontalOverflow(page);

      const { people } = rosterWithErrors('1992-07', 30, '三');
      await upload(page, writeRoster('roster-phone.csv', people));
      await page.locator('[data-testid=ok-count]').waitFor();
      await page.screenshot({ path: join(RESULTS, 'registry-preview-phone.png'), fullPage: true });
      const previewOverflow = await horizontalOverflow(page);

      assert.ok(listOverflow <= 1, `the people list scrolls sideways at phone width by ${listOverflow}px`);
      assert.ok(previewOverflow <= 1, `the import preview scrolls sideways at phone width by ${previewOverflow}px`);
    }, PHONE);
  });
});
