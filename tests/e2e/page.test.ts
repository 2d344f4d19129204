/**
 * The page in a real browser (playwright-core + Debian chromium), with JavaScript on and off:
 * every form works and keeps its input, the image preview appears before submitting, confidence is
 * a <meter>, curl examples and measured accuracy are on the page, axe-core finds no serious or
 * critical violations, no console errors, no horizontal scrolling at 390 px, and the page works
 * under the production Content-Security-Policy (added here to every page response).
 *
 * Run: npm run test:e2e     (CHROMIUM=/path/to/chromium to use another browser binary;
 *                            E2E_BASE_URL=http://host:port to test a server already running)
 * Screenshots land in tests/e2e/screenshots/ (git-ignored): look at them.
 */
import assert from 'node:assert/strict';
import fs from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import type { Browser, Page } from 'playwright-core';
import sharp from 'sharp';
import { createApp } from '../../app';
import { csvRows, runCli } from '../helpers/cli';
import { buildBrowser } from '../../src/build/browser';
import { loadConfig } from '../../src/config';
import type { InferOptions, NamedTensors } from '../../src/inference/backend';
import { OnnxBackend } from '../../src/inference/onnx';
import { Registry } from '../../src/predictors/registry';
import { findCellImages } from '../../training/malaria-data';
import { validationIds } from '../../training/split';
import { launchChromium, openPage, seriousViolations, seriousViolationsNoJs as noJsViolations, startTestServer, type Tab, type TestServer } from '../helpers/browser';
import { sleep } from '../helpers/async';

const SHOTS = path.join(__dirname, 'screenshots');

const REGRESSION_STATEMENT = /^The predicted value for -?[\d.e+]+ is -?[\d.e+]+\.$/;
const MALARIA_STATEMENT = /^This cell looks (parasitized|uninfected) \((\d+\.\d %|> 99\.9 %) confidence\)\.$/;
const SENTIMENT_STATEMENT = /^This review is (positive|negative) \((\d+\.\d %|> 99\.9 %) confidence\)\.$/;
const POSITIVE_REVIEW =
  'What a lovely film: sharp writing, a wonderful cast and a finale that made the whole audience cheer.';

const DESKTOP = { width: 1280, height: 900 };
const PHONE = { width: 390, height: 844 };

let server: TestServer | undefined;
let base: string;
let browser: Browser;
let cellPng: string;
let tmpDir: string;

/** A synthetic "cell": a pink disc with a dark dot on black. No dataset image is committed. */
async function makeCell(): Promise<Buffer> {
  const svg =
    '<svg xmlns="http://www.w3.org/2000/svg" width="128" height="128">' +
    '<rect width="128" height="128" fill="#000"/><circle cx="64" cy="64" r="52" fill="#d98fb0"/>' +
    '<circle cx="80" cy="52" r="9" fill="#5b2a6e"/></svg>';
  return sharp(Buffer.from(svg)).png().toBuffer();
}


function open(options: { js: boolean; viewport?: { width: number; height: number }; url?: string }): Promise<Tab> {
  return openPage(browser, options.url ?? `${base}/`, { js: options.js, viewport: options.viewport ?? DESKTOP });
}

async function shot(page: Page, name: string): Promise<void> {
  await page.screenshot({ path: path.join(SHOTS, `${name}.png`), fullPage: true });
}

/** axe on a JavaScript-off page, checked as a copy (tests/helpers/browser.ts). */
const seriousViolationsNoJs = (page: Page): Promise<string[]> => noJsViolations(browser, base, page);

async function horizontalOverflow(page: Page): Promise<number> {
  return page.evaluate<number>('document.documentElement.scrollWidth - window.innerWidth');
}

/** Child elements of the chart's <svg> as comparable strings (whitespace between tags ignored). */
async function chartMarkup(page: Page): Promise<string> {
  return page.evaluate<string>(
    `Array.from(document.querySelectorAll('#regression-chart svg > *')).map(e => e.outerHTML).join('')`,
  );
}

async function statementOf(page: Page, model: string): Promise<string> {
  const el = page.locator(`#${model} .prediction`);
  await el.waitFor();
  return (await el.textContent())?.trim() ?? '';
}

before(async () => {
  // The page script, the engine and public/batch.js from src/browser/: never test a stale bundle.
  await buildBrowser(undefined, () => undefined);
  fs.mkdirSync(SHOTS, { recursive: true });
  tmpDir = fs.mkdtempSync(path.join(os.tmpdir(), 'ml-forms-e2e-'));
  cellPng = path.join(tmpDir, 'cell.png');
  fs.writeFileSync(cellPng, await makeCell());

  if (process.env.E2E_BASE_URL) {
    base = process.env.E2E_BASE_URL.replace(/\/$/, '');
  } else {
    server = await startTestServer();
    base = server.base;
  }

  browser = await launchChromium();
});

after(async () => {
  await browser?.close();
  await server?.stop();
  fs.rmSync(tmpDir, { recursive: true, force: true });
});

describe('the page, as served', { timeout: 120_000 }, () => {
  test('GET /: three contract forms, measured accuracy, curl examples; no console errors', async () => {
    const { page, context, errors } = await open({ js: true });
    assert.equal(await page.locator('h1').count(), 1);
    assert.equal(await page.getAttribute('html', 'lang'), 'en');
    assert.equal(await page.locator('form[action="/predict/regression"] input[name="x"]').count(), 1);
    assert.equal(
      await page
        .locator('form[action="/predict/malaria"][enctype="multipart/form-data"] input[type="file"][name="image"]')
        .count(),
      1,
    );
    assert.equal(await page.locator('form[action="/predict/sentiment"] textarea[name="review"]').count(), 1);
    assert.match((await page.locator('#regression .metric').textContent()) ?? '', /R² 0\.\d{3}.* held-out points/);
    assert.match(
      (await page.locator('#malaria .metric').textContent()) ?? '',
      /\d+\.\d % accuracy on [\d,]+ held-out cell images/,
    );
    assert.match(
      (await page.locator('#sentiment .metric').textContent()) ?? '',
      /\d+\.\d % accuracy on [\d,]+ held-out reviews/,
    );
    const api = (await page.locator('#api').textContent()) ?? '';
    assert.ok(
      api.includes(`curl -s -X POST ${base}/api/predict/regression -H 'Content-Type: application/json' -d '{"x": 5}'`),
    );
    assert.ok(api.includes(`curl -s -X POST ${base}/api/predict/malaria -F image=@cell.png`));
    assert.ok(api.includes(`${base}/api/predict/sentiment -H 'Content-Type: application/json' -d '{"review": `));
    assert.match(api, /"error": \{\s*"code": "invalid_x",\s*"message": /);
    assert.deepEqual(await seriousViolations(page), []);
    assert.deepEqual(errors, []);
    await context.close();
  });
});

describe('the API reference, /docs', { timeout: 120_000 }, () => {
  test('reached from the API section; every endpoint; no console errors under the CSP; axe clean; no overflow at 390 px', async () => {
    for (const viewport of [DESKTOP, PHONE]) {
      const { page, context, errors } = await open({ js: true, viewport });
      await page.locator('#api a[href="/docs"]').click();
      await page.waitForURL(`${base}/docs`);
      assert.equal(await page.locator('h1').textContent(), 'API reference');
      for (const path of ['/api/predict/regression', '/api/predict/malaria', '/api/predict/sentiment', '/api/models', '/healthz', '/readyz', '/metrics']) {
        assert.equal(await page.locator('.endpoint-title code', { hasText: new RegExp(`^${path}$`) }).count(), 1, path);
      }
      assert.match((await page.locator('#predictRegression').textContent()) ?? '', /"value": -?\d/);
      assert.deepEqual(await seriousViolations(page), []);
      assert.ok((await horizontalOverflow(page)) <= 0, 'no horizontal scrolling');
      assert.deepEqual(errors, []);
      if (viewport === PHONE) await shot(page, 'docs-phone');
      await context.close();
    }
  });
});

describe('with JavaScript off: plain form posts re-render the page', { timeout: 120_000 }, () => {
  test('regression: statement, chart point, input kept', async () => {
    const { page, context, errors } = await open({ js: false });
    await page.fill('#x', '5');
    await Promise.all([page.waitForURL('**/predict/regression'), page.click('#regression button[type="submit"]')]);
    assert.match(await statementOf(page, 'regression'), REGRESSION_STATEMENT);
    assert.equal(await page.inputValue('#x'), '5');
    assert.equal(await page.locator('#regression-chart circle.point').count(), 1);
    assert.deepEqual(errors, []);
    await context.close();
  });

  test('malaria: statement and one meter per class; file name echoed', async () => {
    const { page, context, errors } = await open({ js: false });
    await page.setInputFiles('#image', cellPng);
    await Promise.all([page.waitForURL('**/predict/malaria'), page.click('#malaria button[type="submit"]')]);
    assert.match(await statementOf(page, 'malaria'), MALARIA_STATEMENT);
    assert.equal(await page.locator('#malaria-result meter').count(), 2);
    assert.match((await page.locator('#malaria').textContent()) ?? '', /Last upload: cell\.png/);
    await shot(page, 'desktop-nojs-malaria');
    assert.deepEqual(errors, []);
    await context.close();
  });

  test('sentiment: statement, meters, review kept; axe clean; no overflow at 390 px', async () => {
    const { page, context, errors } = await open({ js: false, viewport: PHONE });
    await page.fill('#review', POSITIVE_REVIEW);
    await Promise.all([page.waitForURL('**/predict/sentiment'), page.click('#sentiment button[type="submit"]')]);
    assert.match(await statementOf(page, 'sentiment'), SENTIMENT_STATEMENT);
    assert.equal(await page.locator('#sentiment-result meter').count(), 2);
    assert.equal(await page.inputValue('#review'), POSITIVE_REVIEW);
    assert.ok((await horizontalOverflow(page)) <= 0, 'no horizontal scrolling at 390 px');
    await shot(page, 'phone-nojs-sentiment');
    assert.deepEqual(await seriousViolationsNoJs(page), []);
    assert.deepEqual(errors, []);
    await context.close();
  });

  test('bad input: 400, message beside the form, input kept', async () => {
    const { page, context } = await open({ js: false });
    await page.fill('#x', 'five');
    const [response] = await Promise.all([
      page.waitForResponse('**/predict/regression'),
      page.click('#regression button[type="submit"]'),
    ]);
    assert.equal(response.status(), 400);
    await page.waitForURL('**/predict/regression');
    assert.match((await page.locator('#regression-error').textContent()) ?? '', /must be a number/);
    assert.equal(await page.getAttribute('#x', 'aria-invalid'), 'true');
    assert.equal(await page.inputValue('#x'), 'five');
    assert.deepEqual(await seriousViolationsNoJs(page), []);
    await context.close();
  });
});

describe('with JavaScript on: fetch to the JSON API, card updated in place', { timeout: 120_000 }, () => {
  test('all three forms on one page; same statements as the server render; axe clean; screenshots', async () => {
    const { page, context, errors } = await open({ js: true });

    // Regression, filled by its example button.
    await page.click('button.example[data-fill="x"][data-value="5"]');
    assert.equal(await page.inputValue('#x'), '5');
    await page.click('#regression button[type="submit"]');
    const regression = await statementOf(page, 'regression');
    assert.match(regression, REGRESSION_STATEMENT);
    assert.equal(await page.locator('#regression-chart circle.point').count(), 1);

    // Malaria: the preview appears before anything is sent.
    await page.setInputFiles('#image', cellPng);
    await page.locator('#image-preview-img').waitFor({ state: 'visible' });
    assert.match((await page.getAttribute('#image-preview-img', 'src')) ?? '', /^blob:/);
    assert.equal(await page.locator('#malaria .prediction').count(), 0);
    await page.click('#malaria button[type="submit"]');
    const malaria = await statementOf(page, 'malaria');
    assert.match(malaria, MALARIA_STATEMENT);
    assert.equal(await page.locator('#malaria-result meter').count(), 2);

    // Sentiment, filled by a sample review.
    await page.click('button.example[data-fill="review"] >> text=Positive');
    const review = await page.inputValue('#review');
    assert.ok(review.length > 20);
    await page.click('#sentiment button[type="submit"]');
    const sentiment = await statementOf(page, 'sentiment');
    assert.match(sentiment, SENTIMENT_STATEMENT);
    assert.equal(await page.locator('#sentiment-result meter').count(), 2);

    // Still the same page, with every input kept.
    assert.equal(new URL(page.url()).pathname, '/');
    assert.equal(await page.inputValue('#x'), '5');
    assert.equal(await page.inputValue('#review'), review);
    assert.equal(await page.evaluate<number>(`document.getElementById('image').files.length`), 1);

    await shot(page, 'desktop-js-results');
    assert.deepEqual(await seriousViolations(page), []);
    await page.setViewportSize(PHONE);
    assert.ok((await horizontalOverflow(page)) <= 0, 'no horizontal scrolling at 390 px');
    await shot(page, 'phone-js-results');
    assert.deepEqual(errors, []);

    // The no-JS path answers the same statements for the same inputs.
    const plain = await open({ js: false });
    await plain.page.fill('#review', review);
    await Promise.all([
      plain.page.waitForURL('**/predict/sentiment'),
      plain.page.click('#sentiment button[type="submit"]'),
    ]);
    assert.equal(await statementOf(plain.page, 'sentiment'), sentiment);
    await plain.page.goto(`${base}/`);
    await plain.page.setInputFiles('#image', cellPng);
    await Promise.all([
      plain.page.waitForURL('**/predict/malaria'),
      plain.page.click('#malaria button[type="submit"]'),
    ]);
    assert.equal(await statementOf(plain.page, 'malaria'), malaria);
    await plain.context.close();
    await context.close();
  });

  test('the chart redrawn in the browser is the chart the server draws, inside and outside the training range', async () => {
    const { page, context, errors } = await open({ js: true });
    const plain = await open({ js: false });
    for (const x of ['5', '0.001', '12.5', '-3', '-250000']) {
      await page.fill('#x', x);
      await page.click('#regression button[type="submit"]');
      await page.locator('#regression .prediction', { hasText: `for ${Number(x)} is` }).waitFor();
      await plain.page.goto(`${base}/`);
      await plain.page.fill('#x', x);
      await Promise.all([
        plain.page.waitForURL('**/predict/regression'),
        plain.page.click('#regression button[type="submit"]'),
      ]);
      assert.equal(
        await statementOf(page, 'regression'),
        await statementOf(plain.page, 'regression'),
        `statement for x = ${x}`,
      );
      assert.equal(await chartMarkup(page), await chartMarkup(plain.page), `chart for x = ${x}`);
      assert.equal(
        await page.textContent('#regression-chart figcaption'),
        await plain.page.textContent('#regression-chart figcaption'),
      );
      assert.equal(
        await page.isVisible('#regression-chart-note'),
        await plain.page.isVisible('#regression-chart-note'),
      );
    }
    assert.ok(await page.isVisible('#regression-chart-note'), 'x far outside the training range is flagged');
    assert.deepEqual(errors, []);
    await plain.context.close();
    await context.close();
  });

  test('button disabled and loading shown while waiting', async () => {
    const { page, context, errors } = await open({ js: true });
    let release: () => void = () => undefined;
    const held = new Promise<void>((resolve) => (release = resolve));
    await page.route('**/api/predict/sentiment*', async (route) => {
      await held;
      await route.continue();
    });
    await page.fill('#review', POSITIVE_REVIEW);
    await page.click('#sentiment button[type="submit"]');
    assert.equal(await page.isDisabled('#sentiment button[type="submit"]'), true);
    assert.equal(await page.getAttribute('#sentiment form', 'aria-busy'), 'true');
    assert.ok(await page.isVisible('#sentiment .spinner'));
    release();
    assert.match(await statementOf(page, 'sentiment'), SENTIMENT_STATEMENT);
    assert.equal(await page.isDisabled('#sentiment button[type="submit"]'), false);
    assert.equal(await page.getAttribute('#sentiment form', 'aria-busy'), null);
    assert.deepEqual(errors, []);
    await context.close();
  });

  test('an API error is shown beside its form and the input is kept', async () => {
    const { page, context, errors } = await open({ js: true });
    await page.fill('#x', 'five');
    await page.click('#regression button[type="submit"]');
    await page.locator('#regression-error').waitFor({ state: 'visible' });
    assert.match((await page.textContent('#regression-error')) ?? '', /must be a number/);
    assert.equal(await page.inputValue('#x'), 'five');
    assert.equal(await page.getAttribute('#x', 'aria-invalid'), 'true');
    // Chromium logs the 400 itself ("Failed to load resource"); nothing else may complain.
    assert.deepEqual(
      errors.filter((e) => !/Failed to load resource.*400/.test(e)),
      [],
    );
    // Fixing the input clears the error.
    await page.fill('#x', '2');
    await page.click('#regression button[type="submit"]');
    await page.locator('#regression .prediction', { hasText: 'for 2 is' }).waitFor();
    assert.equal(await page.isVisible('#regression-error'), false);
    await context.close();
  });

  test('an image dropped or pasted onto the card is previewed and then classified', async () => {
    const { page, context, errors } = await open({ js: true });
    const b64 = fs.readFileSync(cellPng).toString('base64');
    const makeTransfer = `(() => { const bytes = Uint8Array.from(atob('${b64}'), c => c.charCodeAt(0));
      const dt = new DataTransfer(); dt.items.add(new File([bytes], 'dropped.png', { type: 'image/png' })); return dt; })()`;
    const dropped = await page.evaluateHandle(makeTransfer);
    await page.dispatchEvent('#malaria .dropzone', 'dragenter', { dataTransfer: dropped });
    await page.dispatchEvent('#malaria .dropzone', 'drop', { dataTransfer: dropped });
    await page.locator('#image-preview-img').waitFor({ state: 'visible' });
    assert.match((await page.textContent('#image-preview-name')) ?? '', /dropped\.png/);
    assert.equal(await page.evaluate<string>(`document.getElementById('image').files[0].name`), 'dropped.png');

    await page.evaluate(
      `document.dispatchEvent(new ClipboardEvent('paste', { clipboardData: ${makeTransfer.replace("'dropped.png'", "'pasted.png'")}, bubbles: true }))`,
    );
    await page.locator('#image-preview-name', { hasText: 'pasted.png' }).waitFor();
    await page.click('#malaria button[type="submit"]');
    assert.match(await statementOf(page, 'malaria'), MALARIA_STATEMENT);

    // A file that is not an image is refused before it is sent.
    const text = await page.evaluateHandle(
      `(() => { const dt = new DataTransfer(); dt.items.add(new File(['hello'], 'notes.txt', { type: 'text/plain' })); return dt; })()`,
    );
    await page.dispatchEvent('#malaria .dropzone', 'drop', { dataTransfer: text });
    assert.match((await page.textContent('#malaria-error')) ?? '', /not a PNG, JPEG, WebP or GIF/);
    assert.equal(await page.isVisible('#image-preview-img'), false);
    assert.deepEqual(errors, []);
    await context.close();
  });

  test('keyboard: the forms can be reached and used without a mouse', async () => {
    const { page, context, errors } = await open({ js: true });
    await page.focus('#x');
    await page.keyboard.type('3');
    await page.keyboard.press('Enter');
    assert.match(await statementOf(page, 'regression'), /for 3 is/);
    // Focus is visible: the outline style applies to a focused control.
    await page.focus('#review');
    await page.keyboard.press('Tab');
    const outline = await page.evaluate<string>(`getComputedStyle(document.activeElement).outlineStyle`);
    assert.equal(outline, 'solid');
    assert.deepEqual(errors, []);
    await context.close();
  });
});

/* ---- Many cells at once: the results table ---------------------------------------------------- */

const DATA = process.env.ML_FORMS_DATA ?? path.join(__dirname, '..', '..', '..', 'shared', 'data');
const HAS_DATA = fs.existsSync(path.join(DATA, 'malaria'));

interface CellSet {
  dir: string;
  /** 20 cells and one truncated PNG, in the order they are posted. */
  files: string[];
}

/** Synthetic cells (no data needed): pink discs on black, a dark dot in every other one, sizes and formats varied. */
async function syntheticCells(dir: string): Promise<string[]> {
  const files: string[] = [];
  for (let i = 0; i < 20; i++) {
    const size = 90 + (i % 5) * 20;
    const c = size / 2;
    const dot = i % 2 === 0 ? `<circle cx="${c + 10}" cy="${c - 8}" r="${6 + (i % 3)}" fill="#5b2a6e"/>` : '';
    const svg = `<svg xmlns="http://www.w3.org/2000/svg" width="${size}" height="${size}"><rect width="100%" height="100%" fill="#000"/><circle cx="${c}" cy="${c}" r="${c * 0.82}" fill="#${['d98fb0', 'e2b2bd', 'c9a0b8'][i % 3]}"/>${dot}</svg>`;
    const format = (['png', 'jpeg', 'webp'] as const)[i % 3] as 'png' | 'jpeg' | 'webp';
    const file = path.join(dir, `synthetic-${String(i + 1).padStart(2, '0')}.${format === 'jpeg' ? 'jpg' : format}`);
    fs.writeFileSync(file, await sharp(Buffer.from(svg)).toFormat(format).toBuffer());
    files.push(file);
  }
  return files;
}

/** 20 cells from the malaria validation split (10 of each class), copied under their class-prefixed names. */
function heldOutCells(dir: string): string[] {
  const items = findCellImages(DATA);
  const held = validationIds(items);
  const pick = (label: string) => items.filter((it) => it.label === label && held.has(it.id)).slice(0, 10);
  return [...pick('parasitized'), ...pick('uninfected')].map((it) => {
    const file = path.join(dir, `${it.label}-${path.basename(it.file)}`);
    fs.copyFileSync(it.file, file);
    return file;
  });
}

async function cellSet(kind: 'synthetic' | 'held-out'): Promise<CellSet> {
  const dir = fs.mkdtempSync(path.join(tmpDir, `${kind}-`));
  const cells = kind === 'synthetic' ? await syntheticCells(dir) : heldOutCells(dir);
  const truncated = path.join(dir, 'truncated.png');
  const whole = await makeCell();
  fs.writeFileSync(truncated, whole.subarray(0, Math.floor(whole.length / 2)));
  // The damaged file in the middle: its row must not disturb the others.
  return { dir, files: [...cells.slice(0, 10), truncated, ...cells.slice(10)] };
}

/** What the single-image API answers for a file (Node's fetch, no browser). */
async function singleAnswer(file: string): Promise<{ label?: string; confidence?: number; scores?: Record<string, number>; error?: { code: string; message: string } }> {
  const body = new FormData();
  body.append('image', new Blob([fs.readFileSync(file)]), path.basename(file));
  const res = await fetch(`${base}/api/predict/malaria`, { method: 'POST', body });
  const json = (await res.json()) as Record<string, unknown>;
  return res.ok ? json : { error: json.error as { code: string; message: string } };
}

/**
 * What the batch command line (`ml-forms predict malaria <files>`, run for real) writes for these
 * files, as CSV rows. Its `input` is the path it was given; the page's is the file name the browser
 * sent, so that column is compared by file name.
 */
async function cliRows(files: string[]): Promise<string[][]> {
  const cli = await runCli(['predict', 'malaria', '--quiet', ...files]);
  assert.equal(cli.code, 1, `one row has an error, so the command exits 1: ${cli.stderr}`);
  return csvRows(cli.stdout).map((row, i) => (i === 0 ? row : [path.basename(row[0] as string), ...row.slice(1)]));
}

/** The "Download CSV" link clicked: the file the browser saves. */
async function downloadCsv(page: Page): Promise<string> {
  const [download] = await Promise.all([page.waitForEvent('download'), page.click('#malaria-batch a.csv')]);
  assert.equal(download.suggestedFilename(), 'malaria-results.csv');
  return fs.readFileSync(await download.path(), 'utf8');
}

interface ProgressRecord {
  value: number;
  max: number;
  rows: number;
  shown: boolean;
  text: string;
}

/** From now on, the progress bar and the number of rows each time the results section changes. */
async function recordProgress(page: Page): Promise<void> {
  await page.evaluate(`window.__progress = []; new MutationObserver(() => {
    const p = document.getElementById('malaria-batch-progress');
    window.__progress.push({ value: p.value, max: p.max, rows: document.querySelectorAll('#malaria-batch-rows tr').length,
      shown: !p.closest('[hidden]'), text: p.parentElement.querySelector('.batch-progress-text').textContent });
  }).observe(document.getElementById('malaria-batch'), { subtree: true, attributes: true, childList: true, characterData: true })`);
}

const progressRecords = (page: Page): Promise<ProgressRecord[]> => page.evaluate<ProgressRecord[]>('window.__progress');

interface TableRow {
  file: string;
  index: number;
  label?: string;
  confidence?: number;
  error?: string;
}

async function tableRows(page: Page): Promise<TableRow[]> {
  return page.evaluate<TableRow[]>(`Array.from(document.querySelectorAll('#malaria-batch-rows tr')).map(tr => ({
    file: tr.dataset.file, index: Number(tr.dataset.index), label: tr.dataset.label,
    confidence: tr.dataset.confidence === undefined ? undefined : Number(tr.dataset.confidence), error: tr.dataset.error }))`);
}

/** The summary line's numbers, checked to add up to the table's rows. */
async function checkSummary(page: Page, rows: TableRow[]): Promise<void> {
  const text = (await page.textContent('#malaria-batch-summary')) ?? '';
  const m = /^(\d+) images: (\d+) parasitized, (\d+) uninfected, (\d+) unreadable\.$/.exec(text);
  assert.ok(m, `summary: ${text}`);
  const [total, parasitized, uninfected, unreadable] = m.slice(1).map(Number);
  assert.equal(total, rows.length);
  assert.equal(parasitized, rows.filter((r) => r.label === 'parasitized').length);
  assert.equal(uninfected, rows.filter((r) => r.label === 'uninfected').length);
  assert.equal(unreadable, rows.filter((r) => r.error !== undefined).length);
  assert.equal((parasitized as number) + (uninfected as number) + (unreadable as number), total);
}

/**
 * The must-holds for one set of cells, with the table on `page`: 21 rows, 20 labelled as the
 * single-image API labels them and one error, least sure first, a summary that adds up, the CSV
 * the batch command line would write, axe clean, no sideways scrolling at 390 px.
 */
async function checkTable(page: Page, set: CellSet, csvText: string, axe: () => Promise<string[]>): Promise<void> {
  const rows = await tableRows(page);
  assert.equal(rows.length, 21);
  assert.equal(rows.filter((r) => r.label !== undefined).length, 20);
  assert.deepEqual(
    rows.filter((r) => r.error !== undefined).map((r) => [r.file, r.error]),
    [['truncated.png', 'invalid_image']],
  );
  assert.deepEqual(
    [...rows].sort((a, b) => a.index - b.index).map((r) => r.file),
    set.files.map((f) => path.basename(f)),
  );
  for (const row of rows.filter((r) => r.error === undefined)) {
    const single = await singleAnswer(path.join(set.dir, row.file));
    assert.deepEqual([row.label, row.confidence], [single.label, single.confidence], `${row.file}: as the single-image API`);
  }
  const confidences = rows.slice(1).map((r) => r.confidence as number);
  assert.deepEqual(confidences, [...confidences].sort((a, b) => a - b), 'least sure first');
  assert.equal(rows[0]?.error, 'invalid_image', 'unreadable first');
  await checkSummary(page, rows);
  const review = await page.locator('#malaria-batch-rows tr.review').count();
  assert.equal(review, rows.filter((r) => r.confidence !== undefined && r.confidence < 0.9).length);
  assert.deepEqual(csvRows(csvText), await cliRows(set.files), 'the CSV is what the batch command line writes');
  assert.match(csvText, /^input,label,confidence,score_parasitized,score_uninfected,error\n/);
  assert.deepEqual(await axe(), []);
  await page.setViewportSize(PHONE);
  assert.ok((await horizontalOverflow(page)) <= 0, 'no horizontal scrolling at 390 px');
}

for (const kind of ['synthetic', 'held-out'] as const) {
  const skip = kind === 'held-out' && !HAS_DATA ? `no data at ${DATA}` : false;
  describe(`many cells at once (${kind} cells)`, { timeout: 180_000, skip }, () => {
    let set: CellSet;
    before(async () => {
      set = await cellSet(kind);
    });

    test('without JavaScript: the posted form answers with the results table', async () => {
      const { page, context, errors } = await open({ js: false });
      await page.setInputFiles('#image', set.files);
      await Promise.all([page.waitForURL('**/predict/malaria'), page.click('#malaria button[type="submit"]')]);
      assert.match((await page.getAttribute('#malaria-batch a.csv', 'href')) ?? '', /^data:text\/csv;charset=utf-8,/);
      assert.equal(await page.locator('#malaria-batch-rows img[src^="data:image/jpeg;base64,"]').count(), 20);
      await shot(page, `desktop-nojs-batch-${kind}`);
      await checkTable(page, set, await downloadCsv(page), () => seriousViolationsNoJs(page));
      await shot(page, `phone-nojs-batch-${kind}`);
      assert.deepEqual(errors, []);
      await context.close();
    });

    test('with JavaScript: rows come in with a progress bar, the form stays usable, the CSV is made in the page', async () => {
      const { page, context, errors } = await open({ js: true });
      await page.setInputFiles('#image', set.files);
      await page.locator('#image-chosen', { hasText: '21 images chosen' }).waitFor();
      await recordProgress(page);
      await page.click('#malaria button[type="submit"]');
      assert.equal(await page.isEnabled('#malaria button[type="submit"]'), true, 'the form stays usable');
      assert.equal(await page.isEnabled('#image'), true);
      await page.locator('#malaria-batch-summary', { hasText: /^21 images:/ }).waitFor();
      const progress = await progressRecords(page);
      assert.ok(progress.some((p) => p.shown && p.max === 21 && p.value === 21 && p.rows === 21), JSON.stringify(progress));
      assert.ok(progress.every((p) => p.max !== 21 || p.rows === p.value), 'each classified image is a row');
      assert.equal(await page.isVisible('#malaria-batch .batch-progress'), false);
      assert.equal(new URL(page.url()).pathname, '/');
      assert.match((await page.getAttribute('#malaria-batch a.csv', 'href')) ?? '', /^blob:/);
      assert.equal(await page.locator('#malaria-batch-rows img[src^="blob:"]').count(), 20);
      await shot(page, `desktop-js-batch-${kind}`);
      await checkTable(page, set, await downloadCsv(page), () => seriousViolations(page));
      await shot(page, `phone-js-batch-${kind}`);
      // Upload order on request, least sure first again after.
      await page.click('#malaria-batch .batch-sort');
      assert.deepEqual((await tableRows(page)).map((r) => r.index), Array.from({ length: 21 }, (_, i) => i));
      await page.click('#malaria-batch .batch-sort');
      assert.equal((await tableRows(page))[0]?.error, 'invalid_image');
      assert.deepEqual(errors, []);
      await context.close();
    });
  });
}

describe('a model answering 0.99995: never "100.0 %"', { timeout: 120_000 }, () => {
  /** The real models, except that both classifiers put 0.99995 on their first class (their explanations stay the models'). */
  class AlmostSure extends OnnxBackend {
    override async infer(model: string, inputs: NamedTensors, options?: InferOptions): Promise<NamedTensors> {
      const outputs = await super.infer(model, inputs, options);
      if (model !== 'malaria' && model !== 'sentiment') return outputs;
      return { ...outputs, probabilities: { type: 'float32', dims: [1, 2], data: Float32Array.of(0.99995, 0.00005) } };
    }
  }
  let sure: TestServer;
  before(async () => {
    sure = await startTestServer({ backend: new AlmostSure() });
  });
  after(() => sure.stop());

  /** The result box's statement, meters and percentages, as the browser shows them. */
  const shown = (page: Page, model: string): Promise<string[]> =>
    page.evaluate<string[]>(
      `Array.from(document.querySelectorAll('#${model}-result .prediction, #${model}-result meter, #${model}-result .pct'), (e) => e.textContent.trim())`,
    );

  for (const js of [true, false]) {
    test(`with JavaScript ${js ? 'on (the page script)' : 'off (the server\'s page)'}: "> 99.9 %" and "< 0.1 %" in the statement, meters and percentages`, async () => {
      const { page, context, errors } = await open({ js, url: `${sure.base}/` });
      await page.fill('#review', 'Fine.');
      if (js) await page.click('#sentiment button[type="submit"]');
      else await Promise.all([page.waitForURL('**/predict/sentiment'), page.click('#sentiment button[type="submit"]')]);
      await page.locator('#sentiment-result .pct').first().waitFor();
      if (js) {
        // Updated in place by the page script, not a form post.
        assert.equal(new URL(page.url()).pathname, '/');
        assert.equal(await page.getAttribute('#sentiment-result', 'data-engine'), 'server');
        assert.equal(await page.locator('#sentiment-result .computed').count(), 1);
      }
      assert.deepEqual(await shown(page, 'sentiment'), [
        'This review is negative (> 99.9 % confidence).',
        '> 99.9 %',
        '> 99.9 %',
        '< 0.1 %',
        '< 0.1 %',
      ]);
      const text = (await page.locator('body').textContent()) ?? '';
      assert.ok(text.includes('99.9 %'));
      assert.ok(!text.includes('100.0 %'), 'no 100.0 % anywhere on the page');
      if (js) {
        await page.setInputFiles('#image', cellPng);
        await page.click('#malaria button[type="submit"]');
        await page.locator('#malaria-result .pct').first().waitFor();
        assert.deepEqual((await shown(page, 'malaria')).slice(1), ['> 99.9 %', '> 99.9 %', '< 0.1 %', '< 0.1 %']);
        assert.ok(!((await page.locator('body').textContent()) ?? '').includes('100.0 %'));
      }
      assert.deepEqual(errors, []);
      await context.close();
    });
  }
});

describe('many cells at once: rows as each image finishes', { timeout: 180_000 }, () => {
  test('with a model that takes 60 ms an image, rows and the progress bar advance while the rest is classified', async () => {
    // Here the server, not the upload, takes the time, as with a big batch on a busy server.
    class SlowBackend extends OnnxBackend {
      override async infer(model: string, inputs: Parameters<OnnxBackend['infer']>[1]) {
        if (model === 'malaria') await sleep(60);
        return super.infer(model, inputs);
      }
    }
    const config = loadConfig({ NODE_ENV: 'test', BATCH_CONCURRENCY: '2' });
    const slow = new Registry(new SlowBackend(), config.modelsDir, { maxPixels: config.maxImagePixels });
    await slow.load();
    const listening = http.createServer(createApp({ config, registry: slow }));
    await new Promise<void>((resolve) => listening.listen(0, '127.0.0.1', resolve));
    try {
      const { page, context, errors } = await open({ js: true, url: `http://127.0.0.1:${(listening.address() as AddressInfo).port}/` });
      const files = Array.from({ length: 12 }, (_, i) => ({ name: `cell-${i}.png`, mimeType: 'image/png', buffer: fs.readFileSync(cellPng) }));
      await page.setInputFiles('#image', files);
      await recordProgress(page);
      await page.click('#malaria button[type="submit"]');
      await page.locator('#malaria-batch-summary', { hasText: /^12 images:/ }).waitFor();
      const progress = await progressRecords(page);
      const partial = progress.filter((p) => p.shown && p.max === 12 && p.rows > 0 && p.rows < 12);
      assert.ok(partial.length >= 3, `rows shown while others were still being classified: ${JSON.stringify(progress)}`);
      assert.ok(partial.every((p) => p.value === p.rows && p.text === `${p.rows} of 12 classified`));
      assert.ok(progress.some((p) => p.shown && /^Sen(ding|t)/.test(p.text)), 'the upload had its own progress');
      assert.deepEqual(errors, []);
      await context.close();
    } finally {
      await new Promise<void>((resolve) => listening.close(() => resolve()));
      await slow.close();
    }
  });
});

describe('many cells at once: dropping, pasting, limits', { timeout: 180_000 }, () => {
  /** A DataTransfer of small PNG files made in the page. */
  const transfer = (names: string[]): string => {
    const b64 = fs.readFileSync(cellPng).toString('base64');
    return `(() => { const bytes = Uint8Array.from(atob('${b64}'), c => c.charCodeAt(0)); const dt = new DataTransfer();
      for (const n of ${JSON.stringify(names)}) dt.items.add(new File([bytes], n, { type: 'image/png' })); return dt; })()`;
  };

  test('several files dropped, or pasted, on the card become one batch', async () => {
    const { page, context, errors } = await open({ js: true });
    const dropped = await page.evaluateHandle(transfer(['a.png', 'b.png', 'c.png']));
    await page.dispatchEvent('#malaria .dropzone', 'drop', { dataTransfer: dropped });
    await page.locator('#image-chosen', { hasText: '3 images chosen' }).waitFor();
    assert.equal(await page.evaluate<number>(`document.getElementById('image').files.length`), 3);
    await page.click('#malaria button[type="submit"]');
    await page.locator('#malaria-batch-summary', { hasText: /^3 images:/ }).waitFor();
    assert.deepEqual((await tableRows(page)).map((r) => r.file).sort(), ['a.png', 'b.png', 'c.png']);

    await page.evaluate(`document.dispatchEvent(new ClipboardEvent('paste', { clipboardData: ${transfer(['p1.png', 'p2.png'])}, bubbles: true }))`);
    await page.locator('#image-chosen', { hasText: '2 images chosen' }).waitFor();
    await page.click('#malaria button[type="submit"]');
    await page.locator('#malaria-batch-summary', { hasText: /^2 images:/ }).waitFor();
    assert.deepEqual((await tableRows(page)).map((r) => r.file).sort(), ['p1.png', 'p2.png']);
    assert.deepEqual(errors, []);
    await context.close();
  });

  test('a dropped folder: its images, with their paths, other files left out', async () => {
    const { page, context, errors } = await open({ js: true });
    const b64 = fs.readFileSync(cellPng).toString('base64');
    // Chromium gives a real drop's folders as FileSystemEntry objects; a script cannot make those, so
    // this drop carries look-alikes with the same methods (file(), createReader().readEntries()).
    await page.evaluate(`(() => {
      const bytes = Uint8Array.from(atob('${b64}'), c => c.charCodeAt(0));
      const file = (path) => ({ isFile: true, isDirectory: false, name: path.split('/').pop(), fullPath: '/' + path,
        file: (ok) => ok(new File([path.endsWith('.png') ? bytes : 'text'], path.split('/').pop(), { type: path.endsWith('.png') ? 'image/png' : 'text/plain' })) });
      const dir = (path, children) => ({ isFile: false, isDirectory: true, name: path.split('/').pop(), fullPath: '/' + path,
        createReader: () => { let sent = false; return { readEntries: (ok) => { ok(sent ? [] : children); sent = true; } }; } });
      const root = dir('cells', [file('cells/b.png'), file('cells/notes.txt'), dir('cells/more', [file('cells/more/a.png')]), file('cells/a.png')]);
      const data = { items: [{ kind: 'file', webkitGetAsEntry: () => root }], files: [new File([], 'cells')], types: ['Files'] };
      const event = new DragEvent('drop', { bubbles: true, cancelable: true });
      Object.defineProperty(event, 'dataTransfer', { value: data });
      document.querySelector('#malaria .dropzone').dispatchEvent(event);
    })()`);
    await page.locator('#image-chosen', { hasText: '3 images chosen' }).waitFor();
    await page.click('#malaria button[type="submit"]');
    await page.locator('#malaria-batch-summary', { hasText: /^3 images:/ }).waitFor();
    assert.deepEqual(
      (await tableRows(page)).sort((a, b) => a.index - b.index).map((r) => r.file),
      ['cells/a.png', 'cells/b.png', 'cells/more/a.png'],
    );
    assert.deepEqual(errors, []);
    await context.close();
  });

  /** 101 copies of one small cell. */
  const manyFiles = (): string[] => {
    const dir = fs.mkdtempSync(path.join(tmpDir, 'many-'));
    return Array.from({ length: 101 }, (_, i) => {
      const f = path.join(dir, `cell-${i}.png`);
      fs.copyFileSync(cellPng, f);
      return f;
    });
  };
  /** 51 MB in 11 files, each under the 5 MB single-image limit. */
  const heavyFiles = (): string[] => {
    const dir = fs.mkdtempSync(path.join(tmpDir, 'heavy-'));
    const png = fs.readFileSync(cellPng);
    return Array.from({ length: 11 }, (_, i) => {
      const f = path.join(dir, `heavy-${i}.png`);
      fs.writeFileSync(f, Buffer.concat([png, Buffer.alloc(Math.ceil((51 * 1024 * 1024) / 11) - png.length, 1)]));
      return f;
    });
  };

  for (const [what, files, message] of [
    ['101 files', manyFiles, 'Send at most 100 images at once.'],
    ['51 MB', heavyFiles, 'more than 50 MB'],
  ] as const) {
    test(`${what}: 413 without JavaScript and a message before sending with it; the page stays whole`, async () => {
      const list = files();
      const plain = await open({ js: false });
      await plain.page.setInputFiles('#image', list);
      const [response] = await Promise.all([
        plain.page.waitForResponse('**/predict/malaria'),
        plain.page.click('#malaria button[type="submit"]'),
      ]);
      assert.equal(response.status(), 413);
      await plain.page.waitForURL('**/predict/malaria');
      assert.ok(((await plain.page.textContent('#malaria-error')) ?? '').includes(message));
      for (const form of ['regression', 'malaria', 'sentiment']) {
        assert.equal(await plain.page.locator(`form[action="/predict/${form}"]`).count(), 1);
      }
      assert.equal(await plain.page.isVisible('#malaria-batch'), false);
      await plain.context.close();

      const { page, context, errors } = await open({ js: true });
      let posted = false;
      page.on('request', (r) => (posted ||= r.url().includes('/api/predict/malaria/batch')));
      await page.setInputFiles('#image', list);
      await page.click('#malaria button[type="submit"]');
      await page.locator('#malaria-error', { hasText: message }).waitFor();
      assert.equal(posted, false, 'nothing was sent');
      assert.equal(await page.getAttribute('#image', 'aria-invalid'), 'true');
      assert.deepEqual(errors, []);
      await context.close();
    });
  }
});
