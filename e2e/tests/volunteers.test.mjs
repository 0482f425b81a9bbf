// Volunteers (志愿服务) end to end: the community worker binds a resident's account (e2e-resident,
// 510903001001) to her register record at the counter (实名认证), she registers on a phone as that
// person (name and ID number from the register, nothing typed), signs up for an activity the community worker posts, checks in and out with the
// site's signed QR links, the worker confirms the record, it is published for 3 working days
// (crossed with the test clock), the hours are deposited into the time bank and spent on a service.
// Then the household declares points, the review group and a different checker pass them, and the
// household spends them in the points shop. Also: the same person cannot register twice, a forged
// code is refused, the reviewer cannot also be the checker.
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { BASE, COMMUNITY, RESULTS, launch, login, withPages } from './helpers.mjs';

const VILLAGE = 'e2e-village';
const RESIDENT = 'e2e-resident';
const OTHER = 'e2e-resident2';
const PHONE = { width: 390, height: 844 };
const RUN = `${Date.now().toString(36).slice(-5)}${Math.floor(Math.random() * 100)}`;

async function advance(minutes) {
  const res = await fetch(`${BASE}/test/clock/advance`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ minutes }) });
  assert.equal(res.status, 200, `advancing the test clock by ${minutes} min`);
}

/** How far a page scrolls sideways (0 when it fits the phone's width). */
async function sideways(page) {
  return page.evaluate(() => document.documentElement.scrollWidth - document.documentElement.clientWidth);
}

async function submit(page, locator) {
  await Promise.all([page.waitForNavigation({ waitUntil: 'load' }), locator.click()]);
}

/** datetime-local text for a JS Date, in Beijing time. */
function local(d) {
  const b = new Date(d.getTime() + 8 * 3600_000);
  return b.toISOString().slice(0, 16);
}

/** Name and register page of the n-th person aged 60–79 in the community. */
async function personFromRegister(page, n) {
  await page.goto(`${BASE}/registry/${COMMUNITY}/people?age=2`);
  const links = await page.locator('table[data-testid=people] tbody a[href^="/registry/people/"]').evaluateAll((as) => as.map((a) => a.getAttribute('href')));
  assert.ok(links.length > n, `the register lists only ${links.length} people aged 60–79`);
  await page.goto(`${BASE}${links[n]}`);
  const name = await page.locator('h1').evaluate((h) => h.firstChild.textContent.trim());
  return { name, href: links[n] };
}

/** 实名认证 at the counter: binds `username` to the person; returns the refusal code or null. */
async function bindAtCounter(page, who, username) {
  await page.goto(`${BASE}${who.href}`);
  const card = page.locator('section[data-testid=identity]');
  if (await card.locator('[data-testid=identity-bound]').count()) return 'identity.person_bound';
  const form = card.locator('form[data-testid=identity-bind]');
  await form.locator('input[name=username]').fill(username);
  await form.locator('input[name=confirmed]').check();
  await submit(page, form.locator('button[type=submit]'));
  const alert = card.locator('[role=alert]');
  if (await alert.count()) return alert.getAttribute('data-code');
  assert.match(await card.locator('[data-testid=identity-bound]').innerText(), new RegExp(`已绑定账户 ${username}（窗口核验`));
  return null;
}

async function revokeAtCounter(page, who, reason) {
  await page.goto(`${BASE}${who.href}`);
  const form = page.locator('form[data-testid=identity-revoke]');
  await form.locator('input[name=reason]').fill(reason);
  await submit(page, form.locator('button[type=submit]'));
  await page.locator('form[data-testid=identity-bind]').waitFor();
}

/** Self-registration: name and ID number come from the register through the bound account. */
async function register(page) {
  await page.goto(`${BASE}/volunteers/register`);
  const form = page.locator('form[data-testid=register]');
  if (!(await form.count())) {
    await page.locator('[data-testid=identity-required]').waitFor();
    return 'volunteer.identity_required';
  }
  assert.equal(await form.locator('input[name=id_number]').count(), 0, 'no typed ID number');
  await form.locator('input[name=skills]').fill('读报、陪伴');
  await form.locator('input[name=availability]').fill('周末上午');
  await submit(page, form.locator('button[type=submit]'));
  const alert = page.locator('.alert');
  return (await alert.count()) ? await alert.getAttribute('data-code') : null;
}

describe('volunteers', () => {
  let browser;
  before(async () => { browser = await launch(); });
  after(async () => { await browser?.close(); });

  test('register → sign up → check in/out → confirm → publication → deposit → redeem', async () => {
    await withPages(browser, 'volunteers-loop', ['office', 'resident', 'other'], async ({ office, resident, other }) => {
      await login(office, VILLAGE);
      await login(resident, RESIDENT);
      await resident.setViewportSize(PHONE);

      // Not verified yet (实名认证): the form is replaced by the way to get verified.
      assert.equal(await register(resident), 'volunteer.identity_required');

      // The worker binds the resident's account to her register record at the counter, and she
      // registers as that person. Someone already registered (a demo volunteer) is refused as a
      // duplicate: the worker revokes that binding (kept in the history) and tries the next person.
      let who;
      for (let n = 0; n < 8 && !who; n++) {
        const candidate = await personFromRegister(office, n);
        const bound = await bindAtCounter(office, candidate, RESIDENT);
        if (bound !== null) {
          assert.equal(bound, 'identity.person_bound', `binding refused with ${bound}`);
          continue;
        }
        const code = await register(resident);
        if (code === null) who = candidate;
        else {
          assert.equal(code, 'volunteer.duplicate', `registration refused with ${code}`);
          await revokeAtCounter(office, candidate, '该居民已注册志愿者，换人测试');
        }
      }
      assert.ok(who, 'could not register any of the first people of the register');
      await resident.locator('[data-testid=volunteer-no]').waitFor();
      assert.match(await resident.locator('[data-testid=volunteer-no]').innerText(), /^ZY510903\d{7}$/);
      await resident.screenshot({ path: join(RESULTS, 'volunteer-home-phone.png'), fullPage: true });
      assert.ok(await sideways(resident) <= 1, `the volunteer home scrolls sideways at phone width by ${await sideways(resident)}px`);

      // The same person from another account: she cannot be bound twice, and an unverified
      // account cannot register anyone.
      await login(other, OTHER);
      assert.equal(await bindAtCounter(office, who, OTHER), 'identity.person_bound');
      assert.equal(await register(other), 'volunteer.identity_required');

      // The community worker sets up a team and posts an activity.
      await office.goto(`${BASE}/volunteers/manage`);
      const orgForm = office.locator('form[action="/volunteers/orgs"]');
      await orgForm.locator('select[name=unit]').selectOption(COMMUNITY);
      await orgForm.locator('input[name=name]').fill(`E2E助老队${RUN}`);
      await submit(office, orgForm.locator('button[type=submit]'));
      const title = `E2E周末助老${RUN}`;
      const act = office.locator('form[data-testid=new-activity]');
      const orgValue = await act.locator('select[name=org_id] option', { hasText: `E2E助老队${RUN}` }).getAttribute('value');
      await act.locator('select[name=org_id]').selectOption(orgValue);
      await act.locator('input[name=title]').fill(title);
      await act.locator('input[name=place]').fill('社区活动室');
      // Starting now on the server's (test) clock: check-in opens an hour before the start.
      const clock = await (await fetch(`${BASE}/test/clock`)).json();
      const start = new Date(clock.now_ms - 10 * 60_000);
      await act.locator('input[name=starts]').fill(local(start));
      await act.locator('input[name=ends]').fill(local(new Date(start.getTime() + 3 * 3600_000)));
      await act.locator('input[name=quota]').fill('5');
      await submit(office, act.locator('button[type=submit]'));
      const activityUrl = office.url().split('?')[0];
      assert.match(activityUrl, /\/volunteers\/activities\/[0-9a-f]{32}$/);

      // The resident finds it and signs up.
      await resident.goto(`${BASE}/volunteers`);
      await submit(resident, resident.locator('[data-testid=activities] a', { hasText: title }));
      await submit(resident, resident.locator('[data-testid=signup]'));
      await resident.locator('[data-testid=signed]').waitFor();

      // Check in with the site code; a tampered code is refused.
      await office.goto(activityUrl);
      const checkin = await office.locator('[data-testid=checkin-link]').getAttribute('href');
      assert.ok(await office.locator('.qr svg').count() >= 2, 'the organiser page shows two QR codes');
      await resident.goto(checkin.replace('.in.', '.out.'));
      assert.equal(await resident.locator('.alert').getAttribute('data-code'), 'scan.forged');
      await resident.goto(checkin);
      await submit(resident, resident.locator('[data-testid=scan-confirm]'));
      assert.match(await resident.locator('[data-testid=scan-done]').innerText(), /签到成功/);

      // 25 minutes of service, then check out with a fresh code.
      await advance(25);
      await office.goto(activityUrl);
      const checkout = await office.locator('[data-testid=checkout-link]').getAttribute('href');
      await resident.goto(checkout);
      await submit(resident, resident.locator('[data-testid=scan-confirm]'));
      assert.match(await resident.locator('[data-testid=scan-done]').innerText(), /本次服务 25分钟/);

      // The organiser confirms; the record is published.
      await office.goto(`${BASE}/volunteers/manage`);
      const pending = office.locator('form[data-testid=pending-record]', { hasText: title });
      await submit(office, pending.locator('[data-testid=confirm]'));
      await resident.goto(`${BASE}/volunteers/me`);
      assert.match(await resident.locator('[data-testid=records] tr', { hasText: title }).innerText(), /公示中/);

      // After the publication window the record is final and can be deposited, then spent.
      // Two weeks cover 3 working days even across the Spring Festival holiday.
      await advance(14 * 24 * 60);
      await login(resident, RESIDENT);
      await resident.goto(`${BASE}/volunteers/me`);
      assert.match(await resident.locator('[data-testid=records] tr', { hasText: title }).innerText(), /已生效/);
      await resident.goto(`${BASE}/volunteers/timebank`);
      const before = Number(await resident.locator('[data-testid=tb-balance]').getAttribute('data-minutes'));
      await submit(resident, resident.locator('li', { hasText: title }).locator('[data-testid=deposit]'));
      const afterDeposit = Number(await resident.locator('[data-testid=tb-balance]').getAttribute('data-minutes'));
      assert.equal(afterDeposit, before + 25, 'the deposit adds the confirmed minutes');
      await submit(resident, resident.locator('[data-testid=services] li', { hasText: '上门理发' }).locator('[data-testid=redeem]'));
      assert.match(await resident.locator('.notice').innerText(), /兑换成功/);
      const afterRedeem = Number(await resident.locator('[data-testid=tb-balance]').getAttribute('data-minutes'));
      assert.equal(afterRedeem, afterDeposit - 30, 'the redemption spends the service price');
      assert.ok(await resident.locator('[data-testid=tb-history] tr', { hasText: '兑换服务' }).count() >= 1);
      await resident.screenshot({ path: join(RESULTS, 'volunteer-timebank-phone.png'), fullPage: true });
      assert.ok(await sideways(resident) <= 1, `the time bank scrolls sideways at phone width by ${await sideways(resident)}px`);

      // A free proof with a certificate number.
      await resident.goto(`${BASE}/volunteers/me`);
      await submit(resident, resident.locator('[data-testid=proof]'));
      assert.match(await resident.locator('[data-testid=certificate-no]').innerText(), /^ZYZM510903\d{8}[0-9A-F]{8}$/);
      assert.ok((await resident.locator('[data-testid=proof-page]').innerText()).includes(title));

      // Points bank: she declares a deed of her own (个人积分, found by her bound identity) under the
      // approved rules, the community's review group passes it, a different person (the street)
      // checks it, and she spends it; her household's points do not move.
      await resident.goto(`${BASE}/volunteers/points`);
      const householdBefore = Number(await resident.locator('[data-testid=points-balance]').innerText());
      const pointsBefore = Number(await resident.locator('[data-testid=person-points]').innerText());
      await resident.locator('summary', { hasText: '申报积分' }).click();
      const claim = resident.locator('form[action="/volunteers/points/awards"]');
      await claim.locator('select[name=whom]').selectOption('me');
      await claim.locator('select[name=rule]').selectOption('L03');
      await claim.locator('input[name=evidence]').fill(`庭院已整理 E2E${RUN}`);
      await submit(resident, claim.locator('button[type=submit]'));
      assert.match(await resident.locator('.notice').innerText(), /申报已提交/);

      await login(office, VILLAGE);
      await office.goto(`${BASE}/volunteers/points?unit=${COMMUNITY}`);
      const review = office.locator('form', { hasText: `E2E${RUN}` });
      await submit(office, review.locator('button[value=approve]'));
      // The reviewer cannot also be the supervisory check.
      await submit(office, office.locator('form', { hasText: `E2E${RUN}` }).locator('button[value=approve]'));
      assert.match(await office.locator('main').innerText(), /评议人以外/);

      await login(other, 'e2e-street');
      await other.goto(`${BASE}/volunteers/points?unit=${COMMUNITY}`);
      await submit(other, other.locator('form', { hasText: `E2E${RUN}` }).locator('button[value=approve]'));

      await resident.goto(`${BASE}/volunteers/points`);
      assert.equal(Number(await resident.locator('[data-testid=person-points]').innerText()), pointsBefore + 10);
      const item = resident.locator('[data-testid=shop] li', { hasText: '牙膏' });
      const stockBefore = Number((await item.innerText()).match(/库存 (\d+)/)[1]);
      await submit(resident, item.locator('[data-testid=buy-person]'));
      assert.match(await resident.locator('.notice').innerText(), /兑换成功/);
      assert.equal(Number(await resident.locator('[data-testid=person-points]').innerText()), pointsBefore + 10 - 10);
      assert.equal(Number(await resident.locator('[data-testid=points-balance]').innerText()), householdBefore, 'the household account did not pay');
      const stockAfter = Number((await resident.locator('[data-testid=shop] li', { hasText: '牙膏' }).innerText()).match(/库存 (\d+)/)[1]);
      assert.equal(stockAfter, stockBefore - 1, 'one item left the stock');
      await resident.screenshot({ path: join(RESULTS, 'volunteer-points-phone.png'), fullPage: true });

      // The monthly publication lists her own points apart, with the reason.
      await resident.goto(`${BASE}/volunteers/points/publication?unit=${COMMUNITY}`);
      assert.match(await resident.locator('[data-testid=points-publication]').innerText(), /（个人）[\s\S]*庭院整洁/);

      // At the counter the worker may redeem for her (residents without a phone): refused until her
      // presence is ticked, and then held to the same balance (she has just spent her points).
      await office.goto(`${BASE}/volunteers/points?unit=${COMMUNITY}`);
      let assisted = office.locator('form[data-testid=assisted-redeem]');
      const pick = async (form) => {
        const value = await form.locator('select[name=person] option', { hasText: who.name }).first().getAttribute('value');
        await form.locator('select[name=person]').selectOption(value);
        const toothpaste = await form.locator('select[name=item] option', { hasText: '牙膏' }).first().getAttribute('value');
        await form.locator('select[name=item]').selectOption(toothpaste);
        await form.locator('select[name=from]').selectOption('person');
      };
      await pick(assisted);
      await submit(office, assisted.locator('button[type=submit]'));
      assert.equal(await office.locator('[data-code="assist.presence_required"]').count(), 1, 'presence must be confirmed');
      await office.goto(`${BASE}/volunteers/points?unit=${COMMUNITY}`);
      assisted = office.locator('form[data-testid=assisted-redeem]');
      await pick(assisted);
      await assisted.locator('input[name=present]').check();
      await submit(office, assisted.locator('button[type=submit]'));
      assert.equal(await office.locator('[data-code="ledger.insufficient"]').count(), 1, 'the same balance check applies');
    });
  });
});
