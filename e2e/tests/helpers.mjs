// Shared setup for the browser tests: one Chromium per test file, a fresh context (cookies) per test.
import assert from 'node:assert/strict';
import { createHmac } from 'node:crypto';
import { mkdirSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromium } from 'playwright-core';

export const BASE = (process.env.JICENG_URL || 'http://127.0.0.1:8080').replace(/\/$/, '');
export const PASSWORD = process.env.E2E_PASSWORD || 'E2e-Passw0rd!';
export const RESULTS = join(dirname(dirname(fileURLToPath(import.meta.url))), 'test-results');
mkdirSync(RESULTS, { recursive: true });

// Test scopes (see run.sh): the county officer sees 船山区, the community worker one community in it.
export const COUNTY = '510903';
export const COUNTY_NAME = '船山区';
export const OTHER_COUNTY = '510904'; // 安居区: exists, but outside both test accounts' scope
export const OTHER_COUNTY_NAME = '安居区';
export const COMMUNITY = '510903001001';
export const OTHER_COMMUNITY = '510903001002'; // a sibling community: e2e-neighbour's, not e2e-village's
export const TOWNSHIP = '510903001'; // e2e-street's township (街道), above COMMUNITY
export const GRID = '510903001001501'; // e2e-grid's grid, a cell under COMMUNITY

// The department e2e-dept (department_staff at COUNTY) was put in by run.sh, or '' when the binary
// has no `department` command yet.
export const DEPARTMENT = process.env.E2E_DEPARTMENT || '';

// The audit admin created by run.sh; admins sign in with a TOTP code, run.sh passes the secret.
export const AUDITOR = 'e2e-auditor';
export const AUDITOR_TOTP = process.env.E2E_AUDITOR_TOTP || '';

export async function launch() {
  return chromium.launch({
    executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
    args: [
      '--headless',
      '--no-sandbox',
      '--disable-gpu',
      '--disable-quic',
      '--no-first-run',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
    ],
  });
}

/** A fresh browser context (no cookies) with a page; desktop-sized unless told otherwise. */
export async function newPage(browser, viewport = { width: 1280, height: 900 }) {
  const context = await browser.newContext({ viewport, locale: 'zh-CN', timezoneId: 'Asia/Shanghai' });
  const page = await context.newPage();
  page.setDefaultTimeout(15_000);
  page.setDefaultNavigationTimeout(30_000);
  return { context, page };
}

/** Runs `fn(page, context)` in a fresh context; on failure saves a screenshot named after the test. */
export async function withPage(browser, name, fn, viewport) {
  const { context, page } = await newPage(browser, viewport);
  try {
    await fn(page, context);
  } catch (err) {
    const file = join(RESULTS, `failed-${name.replace(/[^A-Za-z0-9_-]+/g, '_')}.png`);
    await page.screenshot({ path: file, fullPage: true }).catch(() => {});
    err.message += `\n  at page ${page.url()} (screenshot: ${file})`;
    throw err;
  } finally {
    await context.close();
  }
}

/**
 * Like withPage, with one context per name (several people at once): `fn({name: page, …})`. On
 * failure every page is saved as a screenshot named after the test and the person.
 */
export async function withPages(browser, name, names, fn, viewport) {
  const opened = {};
  try {
    for (const who of names) opened[who] = await newPage(browser, viewport);
    const pages = Object.fromEntries(Object.entries(opened).map(([who, { page }]) => [who, page]));
    try {
      await fn(pages);
    } catch (err) {
      const files = [];
      for (const [who, { page }] of Object.entries(opened)) {
        const file = join(RESULTS, `failed-${`${name}-${who}`.replace(/[^A-Za-z0-9_-]+/g, '_')}.png`);
        await page.screenshot({ path: file, fullPage: true }).catch(() => {});
        files.push(`${who} at ${page.url()} (screenshot: ${file})`);
      }
      err.message += `\n  pages: ${files.join('; ')}`;
      throw err;
    }
  } finally {
    for (const { context } of Object.values(opened)) await context.close();
  }
}

export function path(page) {
  return new URL(page.url()).pathname;
}

/** Fills the sign-in form on the current /login page and submits it; waits for the next page. */
export async function submitLogin(page, username, password) {
  assert.equal(path(page), '/login', 'expected to be on the sign-in page');
  await page.fill('input[name=username]', username);
  await page.fill('input[name=password]', password);
  await Promise.all([page.waitForNavigation({ waitUntil: 'load' }), page.click('button[type=submit]')]);
}

/** Signs in through the form and checks that the header then shows the user. */
export async function login(page, username, password = PASSWORD) {
  await page.goto(`${BASE}/login`);
  await submitLogin(page, username, password);
  await assertSignedIn(page, username);
}

/** RFC 6238 TOTP (HMAC-SHA1, 30 s steps, 6 digits) for a base32 secret. */
export function totp(secret, nowMs = Date.now()) {
  const alphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZ234567';
  let bits = '';
  for (const ch of secret.replace(/[\s=]/g, '').toUpperCase()) {
    const v = alphabet.indexOf(ch);
    if (v < 0) throw new Error(`TOTP secret is not base32: ${JSON.stringify(ch)}`);
    bits += v.toString(2).padStart(5, '0');
  }
  const key = Buffer.alloc(Math.floor(bits.length / 8));
  for (let i = 0; i < key.length; i++) key[i] = parseInt(bits.slice(i * 8, i * 8 + 8), 2);
  const counter = Buffer.alloc(8);
  counter.writeBigUInt64BE(BigInt(Math.floor(nowMs / 30_000)));
  const mac = createHmac('sha1', key).update(counter).digest();
  const offset = mac[mac.length - 1] & 0x0f;
  return String((mac.readUInt32BE(offset) & 0x7fffffff) % 1_000_000).padStart(6, '0');
}

/**
 * Signs an admin in: username and password, then the 6-digit code on the second step. A refused
 * code (a 30 s step boundary, or a code already used) is retried once with the next step's code.
 */
export async function loginWithTotp(page, username, secret, password = PASSWORD) {
  assert.ok(secret, `no TOTP secret for ${username} (run.sh passes it in E2E_AUDITOR_TOTP)`);
  for (let attempt = 0; ; attempt++) {
    await page.goto(`${BASE}/login`);
    await submitLogin(page, username, password);
    const code = page.locator('input[name=code]');
    await code.waitFor({ state: 'visible' });
    await code.fill(totp(secret));
    await Promise.all([page.waitForNavigation({ waitUntil: 'load' }), page.locator('form:has(input[name=code]) button[type=submit]').click()]);
    if (await page.locator('[data-testid=logout]').count() || attempt >= 1) break;
    await page.waitForTimeout(30_000 - (Date.now() % 30_000) + 500);
  }
  await assertSignedIn(page, username);
}

export async function assertSignedIn(page, username) {
  assert.notEqual(path(page), '/login', `sign-in as ${username} did not leave /login`);
  const who = page.locator('header .who');
  await who.waitFor({ state: 'visible' });
  const text = (await who.innerText()).trim();
  assert.ok(text.includes(username), `header should name ${username}, shows ${JSON.stringify(text)}`);
  assert.ok(await page.locator('[data-testid=logout]').isVisible(), 'header has no visible logout button');
}

/** The child-unit links in the children table of a unit page (not those in the map). */
export function childLinks(page) {
  return page.locator('table a[data-unit]');
}

export async function childCodes(page) {
  return childLinks(page).evaluateAll((as) => as.map((a) => a.getAttribute('data-unit')));
}

/**
 * The body rows of a table as objects keyed by the header texts (cell text, whitespace folded);
 * `_href` is the first link in the row. Rows with a spanning cell (the "nothing found" row) are left out.
 */
export async function tableRows(table) {
  return table.evaluate((t) => {
    const heads = [...t.querySelectorAll('thead th')].map((th) => th.textContent.replace(/\s+/g, ' ').trim());
    return [...t.querySelectorAll('tbody tr')]
      .filter((tr) => !tr.querySelector('td[colspan]'))
      .map((tr) => {
        const row = {};
        [...tr.cells].forEach((td, i) => { row[heads[i] ?? String(i)] = td.textContent.replace(/\s+/g, ' ').trim(); });
        const a = tr.querySelector('a[href]');
        row._href = a ? a.getAttribute('href') : null;
        return row;
      });
  });
}

// GB 11643 citizen ID numbers: 17 digits and a MOD 11-2 check character.
const ID_WEIGHTS = [7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2];
export function idCheckChar(first17) {
  assert.match(first17, /^\d{17}$/);
  const sum = [...first17].reduce((s, d, i) => s + Number(d) * ID_WEIGHTS[i], 0);
  return '10X98765432'[sum % 11];
}
export function isValidId(id) {
  return /^\d{17}[\dX]$/.test(id) && idCheckChar(id.slice(0, 17)) === id[17];
}
/** An 18-character ID number anywhere in a text, not part of a longer run of letters or digits. */
export const FULL_ID_IN_TEXT = /(?<![0-9A-Za-z])\d{17}[\dX](?![0-9A-Za-z])/g;
