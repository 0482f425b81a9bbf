// Owners' ballot (业主共同决定, 民法典第二百七十八条) end to end: the community worker (e2e-village)
// drafts a ballot for the demo compound, checks the roll built from the house register, freezes it
// and opens voting; the worker binds an owner's account (e2e-owner) to her register record at the
// counter (实名认证), and she votes on a phone as herself, with no ID number to type, and gets a receipt; the
// worker enters another owner's paper ballot with its evidence; a second vote by the first owner,
// on paper, is refused; closing computes the result with exact arithmetic and archives it.
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { BASE, COMMUNITY, RESULTS, launch, login, withPages } from './helpers.mjs';

const STAFF = 'e2e-village';
const OWNER = 'e2e-owner';
const PHONE = { width: 390, height: 844 };
const RUN = `${Date.now().toString(36).slice(-5)}${Math.floor(Math.random() * 100)}`;

async function submit(page, locator) {
  await Promise.all([page.waitForNavigation({ waitUntil: 'load' }), locator.click()]);
}

/**
 * 实名认证 at the counter: on the person's register page the worker binds `username` to her, after
 * seeing her ID card. Returns false when the person is already bound to another account.
 */
async function bindAtCounter(page, href, username) {
  await page.goto(`${BASE}${href}`);
  const card = page.locator('section[data-testid=identity]');
  const bound = card.locator('[data-testid=identity-bound]');
  if (await bound.count()) return (await bound.innerText()).includes(username);
  const form = card.locator('form[data-testid=identity-bind]');
  await form.locator('input[name=username]').fill(username);
  await form.locator('input[name=confirmed]').check();
  await submit(page, form.locator('button[type=submit]'));
  const alert = card.locator('[role=alert]');
  if (await alert.count()) {
    assert.equal(await alert.getAttribute('data-code'), 'identity.person_bound', await alert.innerText());
    return false;
  }
  assert.match(await card.locator('[data-testid=identity-bound]').innerText(), new RegExp(`已绑定账户 ${username}（窗口核验`));
  return true;
}

async function choose(form, answers) {
  const sets = form.locator('fieldset');
  assert.equal(await sets.count(), answers.length, 'one fieldset per question');
  for (let i = 0; i < answers.length; i++) await sets.nth(i).locator(`input[type=radio][value=${answers[i]}]`).check();
}

describe('owners’ ballot from roll to result', () => {
  let browser;
  before(async () => {
    browser = await launch();
  });
  after(async () => {
    await browser?.close();
  });

  test('roll → phone vote → paper ballot → refused second vote → close → archived result', async () => {
    await withPages(browser, 'consultation-ballot', ['staff', 'owner'], async ({ staff, owner }) => {
      await login(staff, STAFF);
      // The demo compound: the one the demo ballot runs in.
      await staff.goto(`${BASE}/consultation`);
      await submit(staff, staff.locator('table[data-testid=ballots] a', { hasText: '演示数据' }).first());
      const unitText = await staff.locator('dl.facts dd').first().innerText();
      const compound = unitText.match(/（(\d{15})）/)?.[1];
      assert.ok(compound, `no compound code in ${JSON.stringify(unitText)}`);

      // Draft: two questions with their Art. 278 items (④ ordinary, ⑥ raising the fund, special).
      await staff.goto(`${BASE}/consultation/ballots/new`);
      const form = staff.locator('form[data-testid=ballot-form]');
      await form.locator('input[name=unit]').fill(compound);
      await form.locator('input[name=title]').fill(`续聘物业与筹集维修资金 ${RUN}`);
      await form.locator('input[name=organiser]').fill('小区业主委员会');
      await form.locator('select[name=electorate]').selectOption('owners');
      await form.locator('select[name=preset]').selectOption('civil_code_278');
      await form.locator('input[name=q1]').fill('续聘现物业服务企业');
      await form.locator('select[name=matter1]').selectOption('4');
      await form.locator('input[name=q2]').fill('筹集专项维修资金');
      await form.locator('select[name=matter2]').selectOption('6');
      await submit(staff, form.locator('button[type=submit]'));
      assert.match(new URL(staff.url()).pathname, /^\/consultation\/ballots\/[0-9a-f]+$/);
      const ballotUrl = staff.url();
      assert.equal(await staff.locator('[data-testid=state]').getAttribute('data-state'), 'draft');
      assert.equal(await staff.locator('[data-testid=roll-error]').count(), 0, 'the demo compound has owners and areas for every unit');
      const total = await staff.locator('[data-testid=roll-total]').innerText();
      const m = total.match(/应参与 (\d+) 人，专有部分面积 ([\d.]+) 平方米/);
      assert.ok(m, `roll totals: ${total}`);
      const heads = Number(m[1]);
      assert.ok(heads >= 4, `a roll of ${heads} owners`);
      assert.ok(await staff.locator('table[data-testid=roll] td', { hasText: '建设单位未售出房屋' }).count() === 1, 'the developer’s unsold units are one owner');

      // Two owners on the roll, with their roll numbers and register pages.
      const rows = await staff.locator('table[data-testid=roll] tbody tr').evaluateAll((trs) =>
        trs.map((tr) => ({ seq: tr.getAttribute('data-seq'), href: tr.querySelector('a')?.getAttribute('href') || null, name: tr.querySelector('td[data-label=选民]').textContent.trim() })).filter((r) => r.href),
      );
      assert.ok(rows.length >= 2, 'at least two owners with register entries');
      // The owner's account is bound to her register record at the counter (实名认证): the first
      // owner not already bound to another account (the demo resident is bound to someone).
      let first = null;
      for (const r of rows) {
        if (await bindAtCounter(staff, r.href, OWNER)) {
          first = r;
          break;
        }
      }
      assert.ok(first, 'an owner on the roll could be bound to the e2e owner account');
      const second = rows.find((r) => r !== first);

      // Freeze the roll and open voting.
      await staff.goto(ballotUrl);
      await submit(staff, staff.locator('form[data-testid=open] button'));
      assert.equal(await staff.locator('[data-testid=state]').getAttribute('data-state'), 'open');
      assert.match(await staff.locator('[data-testid=flash]').innerText(), new RegExp(`名册已冻结（${heads} 人）`));

      // The owner votes on a phone as her verified self (no ID number to type), and gets a receipt.
      await owner.setViewportSize(PHONE);
      await login(owner, OWNER);
      await owner.goto(`${BASE}/me/identity`);
      assert.match(await owner.locator('[data-identity=verified]').innerText(), /^已实名认证：.+由 e2e-village 核验$/);
      await owner.goto(ballotUrl);
      const app = owner.locator('form[data-testid=vote-app]');
      assert.equal(await app.locator('input[name=id_number]').count(), 0, 'no typed ID number for app votes');
      assert.match(await app.locator('[data-testid=app-voter]').innerText(), new RegExp(`以实名认证身份投票：${first.name}`));
      await choose(app, ['yes', 'yes']);
      await submit(owner, app.locator('button[type=submit]'));
      assert.match(await owner.locator('[data-testid=flash]').innerText(), new RegExp(`${first.name}的选票已记录（手机投票）`));
      const receipt = (await owner.locator('[data-testid=receipt-code]').innerText()).trim();
      assert.match(receipt, /^[0-9a-f]{20}$/);
      await owner.screenshot({ path: join(RESULTS, 'consultation-phone-vote.png'), fullPage: true });

      // The worker enters the second owner's paper ballot with its evidence.
      await staff.goto(ballotUrl);
      let paper = staff.locator('form[data-testid=vote-staff]');
      await paper.locator('select[name=channel]').selectOption('paper');
      await paper.locator('input[name=roll_no]').fill(second.seq);
      await paper.locator('input[name=evidence]').fill(`纸质票 ${RUN}-002，签字照片存档`);
      await choose(paper, ['yes', 'no']);
      await submit(staff, paper.locator('button[type=submit]'));
      assert.match(await staff.locator('[data-testid=flash]').innerText(), /纸质票录入/);
      assert.match(await staff.locator('[data-testid=took-part]').innerText(), /已参与 2 人/);

      // A paper ballot for the owner who already voted on the phone is refused.
      paper = staff.locator('form[data-testid=vote-staff]');
      await paper.locator('select[name=channel]').selectOption('paper');
      await paper.locator('input[name=roll_no]').fill(first.seq);
      await paper.locator('input[name=evidence]').fill(`纸质票 ${RUN}-001`);
      await choose(paper, ['no', 'no']);
      await submit(staff, paper.locator('button[type=submit]'));
      const refused = staff.locator('[data-testid=error]');
      assert.equal(await refused.getAttribute('data-code'), 'ballot.already_voted');
      assert.match(await refused.innerText(), /手机投票/);
      assert.match(await staff.locator('[data-testid=took-part]').innerText(), /已参与 2 人/, 'the refused ballot is not counted');

      // Close: two of the owners took part, short of two thirds — the result is invalid, not rejected.
      await submit(staff, staff.locator('form[data-testid=close] button'));
      assert.match(new URL(staff.url()).pathname, /\/result$/);
      const outcomes = await staff.locator('[data-testid=outcomes] li').evaluateAll((lis) => lis.map((li) => li.getAttribute('data-outcome')));
      assert.deepEqual(outcomes, ['invalid_quorum', 'invalid_quorum']);
      const doc = await staff.locator('[data-testid=document]').innerText();
      assert.match(doc, new RegExp(`参与表决人数 2 / 应参与 ${heads}，要求三分之二以上（含本数）：未达到`));
      assert.match(doc, /手机投票 1 人/);
      assert.match(doc, /纸质票录入 1 人/);
      assert.match(doc, /无效：参与表决未达法定人数/);
      assert.match(await staff.locator('[data-testid=hash]').innerText(), /^[0-9a-f]{64}$/);
      await staff.screenshot({ path: join(RESULTS, 'consultation-result.png'), fullPage: true });

      // The owner checks the receipt: the choices were counted as cast.
      await owner.goto(`${ballotUrl}/receipt?code=${receipt}`);
      assert.match(await owner.locator('[data-testid=receipt-found]').innerText(), /第1项：同意；第2项：同意/);
    });
  });

  test('the village’s public page shows its published affairs without signing in', async () => {
    await withPages(browser, 'consultation-public', ['anon'], async ({ anon }) => {
      const res = await anon.goto(`${BASE}/public/affairs/510903001001`);
      assert.equal(res.status(), 200);
      assert.match(await anon.locator('h1').innerText(), /村务公开栏/);
      assert.ok((await anon.locator('text=小微权力清单').count()) >= 1);
    });
  });

  test('小微权力清单: the village adopts the template, adds an item, and the public page shows it', async () => {
    await withPages(browser, 'consultation-power', ['staff', 'anon'], async ({ staff, anon }) => {
      await login(staff, STAFF);
      await staff.goto(`${BASE}/consultation/power/${COMMUNITY}`);
      const adopt = staff.locator('form[data-testid=power-adopt] button');
      if (await adopt.count()) {
        await submit(staff, adopt);
        assert.equal(await staff.locator('[data-testid=power-item]').count(), 12);
      }
      const name = `农机购置补贴初审 ${RUN}`;
      const add = staff.locator('form[data-testid=power-add]');
      await add.locator('input[name=category]').fill('便民服务');
      await add.locator('input[name=name]').fill(name);
      await add.locator('input[name=basis]').fill('县农业农村局农机购置补贴实施方案');
      await add.locator('textarea[name=steps]').fill('农户申请\n村核实\n公示 5 天\n报乡镇');
      await add.locator('input[name=responsible]').fill('村民委员会');
      await submit(staff, add.locator('button[type=submit]'));
      assert.match(await staff.locator('[data-testid=flash]').innerText(), /已新增事项/);
      await anon.goto(`${BASE}/public/affairs/${COMMUNITY}`);
      const row = anon.locator('table[data-testid=power-list] tr', { hasText: name });
      assert.equal(await row.count(), 1);
      assert.match(await row.innerText(), /农户申请 → 村核实 → 公示 5 天 → 报乡镇/);
    });
  });

  test('村民代表: the worker adds a villager from the register with the 户 group, then retires them', async () => {
    await withPages(browser, 'consultation-representatives', ['staff'], async ({ staff }) => {
      await login(staff, STAFF);
      // The full ID number comes from the register, unmasked for a stated purpose.
      await staff.goto(`${BASE}/registry/${COMMUNITY}/people`);
      const href = await staff.locator('a[href^="/registry/people/"]').first().getAttribute('href');
      await staff.goto(`${BASE}${href}`);
      const unmask = staff.locator('form[data-testid=unmask]');
      await unmask.locator('select[name=purpose]').selectOption({ index: 1 });
      await unmask.locator('input[name=note]').fill(`村民代表登记 ${RUN}`);
      await submit(staff, unmask.locator('button[type=submit]'));
      const codes = (await staff.locator('[data-testid=revealed] code').allInnerTexts()).map((c) => c.trim());
      const idNumber = codes.find((c) => /^\d{17}[\dX]$/.test(c));
      assert.ok(idNumber, `no ID number revealed: ${JSON.stringify(codes)}`);

      await staff.goto(`${BASE}/consultation/representatives/${COMMUNITY}`);
      const group = `五组 ${RUN}`;
      const add = staff.locator('form[data-testid=representative-add]');
      await add.locator('input[name=id_number]').fill(idNumber);
      await add.locator('input[name=household_group]').fill(group);
      await submit(staff, add.locator('button[type=submit]'));
      assert.match(await staff.locator('[data-testid=flash]').innerText(), /已登记村民代表/);
      const row = staff.locator('[data-testid=representative]', { hasText: group });
      assert.equal(await row.count(), 1);
      assert.equal((await staff.content()).match(new RegExp(idNumber)), null, 'the list shows the ID number masked');
      await submit(staff, row.locator('button[type=submit]'));
      assert.match(await staff.locator('[data-testid=flash]').innerText(), /已卸任/);
      assert.equal(await staff.locator('[data-testid=representative]', { hasText: group }).count(), 0);
      assert.match(await staff.locator('[data-testid=retired]').innerText(), new RegExp(group));
    });
  });

  test('meeting attendance and quorum update live on every screen', async () => {
    await withPages(browser, 'consultation-meeting', ['desk', 'hall'], async ({ desk, hall }) => {
      await login(desk, STAFF);
      await login(hall, STAFF);
      await desk.goto(`${BASE}/consultation`);
      const raise = desk.locator('form[data-testid=raise-topic]');
      await raise.locator('input[name=title]').fill(`小区停车管理 ${RUN}`);
      await raise.locator('textarea[name=body]').fill('居民反映夜间停车难');
      await submit(desk, raise.locator('button[type=submit]'));
      const topicUrl = desk.url();
      const mf = desk.locator('form[data-testid=meeting-form]');
      await desk.locator('details', { has: mf }).locator('summary').click();
      await mf.locator('input[name=title]').fill('居民议事会');
      await mf.locator('input[name=due]').fill('3');
      await mf.locator('input[name=present]').fill('1');
      await submit(desk, mf.locator('button[type=submit]'));
      await hall.goto(topicUrl);
      const quorum = (page) => page.locator('[data-testid=meeting] [data-testid=meeting-quorum]').first();
      assert.equal(await quorum(hall).getAttribute('data-ok'), 'false');
      assert.match(await quorum(hall).innerText(), /实到 1 人/);

      // The desk signs one person in: its own count changes without a reload…
      await desk.locator('form[data-testid=arrive] button').first().click();
      await desk.waitForFunction(() => /实到 2 人/.test(document.querySelector('[data-testid=meeting-quorum]')?.textContent || ''));
      assert.equal(new URL(desk.url()).pathname, new URL(topicUrl).pathname, 'no navigation');
      assert.equal(await quorum(desk).getAttribute('data-ok'), 'true', '2 of 3 is exactly two thirds');
      // …and the screen in the hall follows by itself.
      await hall.waitForFunction(() => document.querySelector('[data-testid=meeting-quorum]')?.getAttribute('data-ok') === 'true', null, { timeout: 10_000 });
      assert.match(await quorum(hall).innerText(), /实到 2 人.*已达到法定人数/);
    });
  });
});

describe('ballot voting window on the test clock', async () => {
  const clock = await fetch(`${BASE}/test/clock`).then((r) => (r.ok ? r.json() : null)).catch(() => null);
  const skip = !clock && 'the server has no test clock (start it with JICENG_TEST_CLOCK=1, as run.sh does)';
  let browser;
  before(async () => { if (!skip) browser = await launch(); });
  after(async () => {
    await browser?.close();
    if (!skip) await fetch(`${BASE}/test/clock/reset`, { method: 'POST' });
  });

  async function advance(minutes) {
    const res = await fetch(`${BASE}/test/clock/advance`, { method: 'POST', headers: { 'Content-Type': 'application/json' }, body: JSON.stringify({ minutes }) });
    assert.equal(res.status, 200, `advancing the test clock by ${minutes} min`);
    return res.json();
  }
  // Beijing wall-clock time for a datetime-local input.
  const beijing = (ms) => new Date(ms + 8 * 3600_000).toISOString().slice(0, 16);

  test('refused before the opening time, paper entered in the window, closed by the system at the closing time', { skip }, async () => {
    await withPages(browser, 'consultation-window', ['staff'], async ({ staff }) => {
      const now = (await (await fetch(`${BASE}/test/clock`)).json()).now_ms;
      await login(staff, STAFF);
      await staff.goto(`${BASE}/consultation`);
      await submit(staff, staff.locator('table[data-testid=ballots] a', { hasText: '演示数据' }).first());
      const compound = (await staff.locator('dl.facts dd').first().innerText()).match(/（(\d{15})）/)?.[1];
      assert.ok(compound);
      await staff.goto(`${BASE}/consultation/ballots/new`);
      const form = staff.locator('form[data-testid=ballot-form]');
      await form.locator('input[name=unit]').fill(compound);
      await form.locator('input[name=title]').fill(`更换电梯 ${RUN}`);
      await form.locator('input[name=organiser]').fill('小区业主委员会');
      await form.locator('select[name=electorate]').selectOption('owners');
      await form.locator('select[name=preset]').selectOption('civil_code_278');
      await form.locator('input[name=q1]').fill('使用维修资金更换电梯');
      await form.locator('select[name=matter1]').selectOption('5');
      await form.locator('[data-testid=opens-at]').fill(beijing(now + 60 * 60_000));
      await form.locator('[data-testid=closes-at]').fill(beijing(now + 120 * 60_000));
      await submit(staff, form.locator('button[type=submit]'));
      const ballotUrl = staff.url();
      assert.match(new URL(ballotUrl).pathname, /^\/consultation\/ballots\/[0-9a-f]+$/);
      await submit(staff, staff.locator('form[data-testid=open] button'));
      assert.equal(await staff.locator('[data-testid=window]').getAttribute('data-window'), 'not_open_yet');

      const enterPaper = async (evidence) => {
        const paper = staff.locator('form[data-testid=vote-staff]');
        await paper.locator('select[name=channel]').selectOption('paper');
        await paper.locator('input[name=roll_no]').fill('1');
        await paper.locator('input[name=evidence]').fill(evidence);
        await choose(paper, ['yes']);
        await submit(staff, paper.locator('button[type=submit]'));
      };
      await enterPaper(`纸质票 ${RUN}-early`);
      assert.equal(await staff.locator('[data-testid=error]').getAttribute('data-code'), 'ballot.not_open_yet');

      // Ninety minutes on: inside the window, the paper ballot counts.
      await advance(90);
      await login(staff, STAFF);
      await staff.goto(ballotUrl);
      await enterPaper(`纸质票 ${RUN}-001`);
      assert.match(await staff.locator('[data-testid=flash]').innerText(), /纸质票录入/);

      // Past the closing time the system closes the ballot and archives the result.
      await advance(60);
      await login(staff, STAFF);
      await staff.goto(ballotUrl);
      assert.equal(await staff.locator('[data-testid=state]').getAttribute('data-state'), 'closed');
      await submit(staff, staff.locator('[data-testid=result-link]'));
      const doc = await staff.locator('[data-testid=document]').innerText();
      assert.match(doc, /纸质票录入 1 人/);
      assert.match(await staff.locator('[data-testid=hash]').innerText(), /^[0-9a-f]{64}$/);
    });
  });
});
