/**
 * "Why this answer" (issue 25) in a real browser, with JavaScript on and off: the review with its
 * words marked and the map over a cell appear, axe-core finds no serious or critical violation,
 * and nothing scrolls sideways at 390 px. The page gets the production Content-Security-Policy
 * (no style attributes, no inline script), so the map's drawing is checked under it too.
 *
 * Run: npm run test:e2e (see tests/e2e/page.test.ts). Screenshots land in tests/e2e/screenshots/
 * (git-ignored) and, cropped to the result, in docs/images/ for the README.
 */
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import type { Browser, Page } from 'playwright-core';
import sharp from 'sharp';
import { buildBrowser } from '../../src/build/browser';
import { launchChromium, openPage, seriousViolations, seriousViolationsNoJs as noJsViolations, startTestServer, type Tab, type TestServer } from '../helpers/browser';
import { cellImage } from '../helpers/cell-image';

const SHOTS = path.join(__dirname, 'screenshots');
const README_IMAGES = path.join(__dirname, '..', '..', 'docs', 'images');
const DESKTOP = { width: 1000, height: 900 };
const PHONE = { width: 390, height: 844 };
/** The issue's own example: a mixed review the model calls negative by a little. */
const REVIEW =
  'The acting was wooden and the plot made no sense, but the soundtrack was wonderful and I loved the ending.';

let server: TestServer;
let browser: Browser;
let tmpDir: string;
let cells: string[];


/** A page with the production CSP on every document, console errors collected (tests/helpers/browser.ts). */
function open(js: boolean, viewport = DESKTOP, url = '/'): Promise<Tab> {
  return openPage(browser, `${server.base}${url}`, { js, viewport });
}

/** axe on a JavaScript-off page, checked as a copy (tests/helpers/browser.ts). */
const seriousViolationsNoJs = (page: Page): Promise<string[]> => noJsViolations(browser, server.base, page);

const overflow = (page: Page): Promise<number> =>
  page.evaluate<number>('document.documentElement.scrollWidth - window.innerWidth');

/** The marked review as a sighted reader sees it (the direction in words is for screen readers), and its marks. */
async function markedReview(
  page: Page,
): Promise<{ text: string; marks: Array<{ text: string; side: string; weight: number }> }> {
  return page.evaluate(`(() => {
    const p = document.querySelector('#sentiment [data-explanation="review"] .why-review');
    const copy = p.cloneNode(true);
    copy.querySelectorAll('.visually-hidden').forEach((e) => e.remove());
    const marks = Array.from(copy.querySelectorAll('mark[data-weight]')).map((m) => ({
      text: m.textContent, side: m.classList.contains('positive') ? 'positive' : 'negative', weight: Number(m.dataset.weight) }));
    return { text: copy.textContent, marks };
  })()`);
}

async function checkReview(page: Page): Promise<void> {
  await page.locator('#sentiment [data-explanation="review"]').waitFor();
  const { text, marks } = await markedReview(page);
  assert.equal(text, REVIEW);
  assert.ok(marks.length >= 4, `${marks.length} marked words`);
  for (const m of marks) assert.equal(m.side, m.weight > 0 ? 'positive' : 'negative', m.text);
  assert.equal(marks.find((m) => m.text === 'wooden')?.side, 'negative');
  assert.equal(marks.find((m) => m.text === 'wonderful')?.side, 'positive');
  assert.match(
    (await page.locator('#sentiment .why-list.positive').textContent()) ?? '',
    /Words that pushed towards positive\s*wonderful/,
  );
  assert.match((await page.locator('#sentiment .why-review').textContent()) ?? '', /wooden \(towards negative\)/);
}

/** The map over the picture: drawn cells, a loaded picture whose source is `source`, the map in words. */
async function checkCell(page: Page, source: RegExp): Promise<void> {
  await page.locator('#malaria [data-explanation="cell"]').waitFor();
  const img = page.locator('#malaria [data-explanation="cell"] .why-map img');
  assert.match((await img.getAttribute('src')) ?? '', source);
  // The picture loads (under the production CSP: a data: or blob: URL).
  await page.waitForFunction(
    `(() => { const i = document.querySelector('#malaria [data-explanation="cell"] .why-map img'); return i.complete && i.naturalWidth > 0; })()`,
    undefined,
    { timeout: 10_000 },
  );
  assert.ok((await page.locator('#malaria .why-grid rect[data-weight]').count()) > 0);
  // The map covers the picture exactly.
  const [a, b] = await Promise.all([
    img.boundingBox(),
    page.locator('#malaria [data-explanation="cell"] .why-grid').boundingBox(),
  ]);
  assert.ok(
    a !== null && b !== null && Math.abs(a.width - b.width) < 1 && Math.abs(a.height - b.height) < 1,
    'map over picture',
  );
  assert.match(
    (await page.locator('#malaria .why-summary').textContent()) ?? '',
    /^(The strongest evidence for parasitized is in the [a-z ]+ of the image|No part of the image adds evidence for parasitized)\.$/,
  );
}

/** The result cropped, for the README (small PNGs) and the git-ignored screenshots. */
async function saveShot(page: Page, selector: string, name: string): Promise<void> {
  const target = page.locator(selector);
  await target.scrollIntoViewIfNeeded();
  await target.screenshot({ path: path.join(SHOTS, `${name}.png`) });
  fs.mkdirSync(README_IMAGES, { recursive: true });
  // A palette PNG: a third of the size, and the README's images stay small in the repository.
  await sharp(path.join(SHOTS, `${name}.png`))
    .png({ palette: true, compressionLevel: 9 })
    .toFile(path.join(README_IMAGES, `${name}.png`));
}

before(async () => {
  await buildBrowser(undefined, () => undefined);
  fs.mkdirSync(SHOTS, { recursive: true });
  tmpDir = fs.mkdtempSync(path.join(os.tmpdir(), 'ml-forms-why-'));
  cells = [];
  for (const [i, parasite] of [true, false, true].entries()) {
    const file = path.join(tmpDir, `cell-${i}.png`);
    fs.writeFileSync(file, await cellImage('png', { size: 140, parasite }));
    cells.push(file);
  }
  server = await startTestServer();
  browser = await launchChromium();
});

after(async () => {
  await browser?.close();
  await server?.stop();
  fs.rmSync(tmpDir, { recursive: true, force: true });
});

describe('a review: its words marked', { timeout: 120_000 }, () => {
  test('JavaScript on: drawn in place after the fetch; axe clean; no overflow at 390 px; screenshot', async () => {
    const { page, context, errors } = await open(true);
    await page.fill('#review', REVIEW);
    await page.click('#sentiment button[type="submit"]');
    await checkReview(page);
    assert.equal(new URL(page.url()).pathname, '/');
    assert.deepEqual(await seriousViolations(page), []);
    await saveShot(page, '#sentiment-result', 'explanation-review');
    await page.setViewportSize(PHONE);
    assert.ok((await overflow(page)) <= 0, 'no horizontal scrolling at 390 px');
    assert.deepEqual(errors, []);
    await context.close();
  });

  test('JavaScript off: the form post draws the same marks; axe clean; no overflow at 390 px', async () => {
    const on = await open(true);
    await on.page.fill('#review', REVIEW);
    await on.page.click('#sentiment button[type="submit"]');
    await checkReview(on.page);
    const drawnHere = await markedReview(on.page);
    await on.context.close();

    const { page, context, errors } = await open(false, PHONE);
    await page.fill('#review', REVIEW);
    await Promise.all([page.waitForURL('**/predict/sentiment'), page.click('#sentiment button[type="submit"]')]);
    await checkReview(page);
    // The page script draws what the server draws: the same words, sides and weights.
    assert.deepEqual(await markedReview(page), drawnHere);
    assert.ok((await overflow(page)) <= 0, 'no horizontal scrolling at 390 px');
    assert.deepEqual(await seriousViolationsNoJs(page), []);
    assert.deepEqual(errors, []);
    await context.close();
  });
});

describe('a review in the browser engine', { timeout: 180_000 }, () => {
  test('/?engine=browser&precision=float: the same marks as the server draws, computed in the page', async () => {
    const onServer = await open(true);
    await onServer.page.fill('#review', REVIEW);
    await onServer.page.click('#sentiment button[type="submit"]');
    await checkReview(onServer.page);
    const drawn = await markedReview(onServer.page);
    await onServer.context.close();

    const { page, context, errors } = await open(true, DESKTOP, '/?engine=browser&precision=float');
    await page.evaluate('window.mlForms.ready()');
    await page.fill('#review', REVIEW);
    await page.click('#sentiment button[type="submit"]');
    await page.locator('#sentiment-result[data-engine="browser"] [data-explanation="review"]').waitFor();
    await checkReview(page);
    const here = await markedReview(page);
    assert.equal(here.text, drawn.text);
    assert.deepEqual(
      here.marks.map((m) => [m.text, m.side]),
      drawn.marks.map((m) => [m.text, m.side]),
    );
    here.marks.forEach((m, i) => assert.ok(Math.abs(m.weight - (drawn.marks[i]?.weight ?? NaN)) <= 2e-4, m.text));
    assert.deepEqual(errors, []);
    await context.close();
  });
});

describe('an example cell: one click', { timeout: 120_000 }, () => {
  for (const js of [true, false]) {
    test(`JavaScript ${js ? 'on' : 'off'}: a click on "A parasitized cell" shows its answer and its map over its picture`, async () => {
      const { page, context, errors } = await open(js);
      await Promise.all([page.waitForURL('**/predict/malaria/example'), page.click('.example-cell:has-text("A parasitized cell")')]);
      await checkCell(page, /^data:image\/jpeg;base64,/);
      assert.match((await page.textContent('#malaria-result .prediction')) ?? '', /This cell looks parasitized/);
      assert.deepEqual(js ? await seriousViolations(page) : await seriousViolationsNoJs(page), []);
      assert.deepEqual(errors, []);
      await context.close();
    });
  }
});

describe('a cell: the map over its picture', { timeout: 120_000 }, () => {
  test('JavaScript on: the map over the chosen file (an object URL); axe clean; no overflow at 390 px; screenshot', async () => {
    const { page, context, errors } = await open(true);
    await page.setInputFiles('#image', cells[0] as string);
    await page.click('#malaria button[type="submit"]');
    await checkCell(page, /^blob:/);
    assert.deepEqual(await seriousViolations(page), []);
    await saveShot(page, '#malaria-result', 'explanation-cell');
    await page.setViewportSize(PHONE);
    assert.ok((await overflow(page)) <= 0, 'no horizontal scrolling at 390 px');
    assert.deepEqual(errors, []);
    await context.close();
  });

  test('JavaScript off: the form post draws the map over its thumbnail; axe clean; no overflow at 390 px', async () => {
    const { page, context, errors } = await open(false, PHONE);
    await page.setInputFiles('#image', cells[0] as string);
    await Promise.all([page.waitForURL('**/predict/malaria'), page.click('#malaria button[type="submit"]')]);
    await checkCell(page, /^data:image\/jpeg;base64,/);
    assert.ok((await overflow(page)) <= 0, 'no horizontal scrolling at 390 px');
    assert.deepEqual(await seriousViolationsNoJs(page), []);
    assert.deepEqual(errors, []);
    await context.close();
  });

  const modes = [
    { js: false, url: '/', name: 'JavaScript off (the server draws the table)' },
    { js: true, url: '/', name: 'JavaScript on (the batch API, rows filled in place)' },
    { js: true, url: '/?engine=browser', name: 'the browser engine (classified in the page)' },
  ];
  for (const { js, url, name } of modes) {
    test(`several cells with "Classify and explain each cell", ${name}: a map in every row`, async () => {
      const { page, context, errors } = await open(js, PHONE, url);
      if (url.includes('engine=browser')) await page.evaluate('window.mlForms.ready()');
      await page.setInputFiles('#image', cells);
      const button = page.click('#malaria button[formaction="/predict/malaria?explain=1"]');
      if (js) await button;
      else await Promise.all([page.waitForURL(/\/predict\/malaria\?explain=1$/), button]);
      await page.locator('#malaria-batch-rows tr .thumb .why-map').nth(2).waitFor();
      if (js) assert.equal(new URL(page.url()).pathname, '/', 'filled in place, not a form post');
      assert.equal(await page.locator('#malaria-batch-rows tr').count(), 3);
      assert.equal(await page.locator('#malaria-batch-rows tr .thumb .why-map svg rect').first().count(), 1);
      assert.equal(await page.locator('#malaria-batch-rows tr .thumb .why-map').count(), 3);
      assert.ok((await overflow(page)) <= 0, 'no horizontal scrolling at 390 px');
      assert.deepEqual(js ? await seriousViolations(page) : await seriousViolationsNoJs(page), []);
      assert.deepEqual(errors, []);
      await context.close();
    });
  }
});
