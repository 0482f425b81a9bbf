// Shared setup for the browser tests: one Chromium per test file, a fresh context (cookies) per test.
import assert from 'node:assert/strict';
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
