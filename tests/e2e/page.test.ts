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
import { type Browser, type BrowserContext, chromium, type Page } from 'playwright-core';
import sharp from 'sharp';
import { createApp } from '../../app';
import { loadConfig } from '../../src/config';
import { OnnxBackend } from '../../src/inference/onnx';
import { Registry } from '../../src/predictors/registry';

const SHOTS = path.join(__dirname, 'screenshots');
const AXE_SOURCE = fs.readFileSync(require.resolve('axe-core/axe.min.js'), 'utf8');
const CSP =
  "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data: blob:; connect-src 'self'; " +
  "form-action 'self'; frame-ancestors 'none'; object-src 'none'";

const REGRESSION_STATEMENT = /^The predicted value for -?[\d.e+]+ is -?[\d.e+]+\.$/;
const MALARIA_STATEMENT = /^This cell looks (parasitized|uninfected) \((\d+\.\d %|> 99\.9 %) confidence\)\.$/;
const SENTIMENT_STATEMENT = /^This review is (positive|negative) \((\d+\.\d %|> 99\.9 %) confidence\)\.$/;
const POSITIVE_REVIEW =
  'What a lovely film: sharp writing, a wonderful cast and a finale that made the whole audience cheer.';

const DESKTOP = { width: 1280, height: 900 };
const PHONE = { width: 390, height: 844 };

let server: http.Server | undefined;
let registry: Registry | undefined;
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

interface Tab {
  page: Page;
  context: BrowserContext;
  /** Console errors and uncaught exceptions seen so far. */
  errors: string[];
}

async function open(options: { js: boolean; viewport?: { width: number; height: number } }): Promise<Tab> {
  const context = await browser.newContext({ javaScriptEnabled: options.js, viewport: options.viewport ?? DESKTOP });
  // The app's own CSP (helmet) may or may not be on; add the production policy so a violation
  // shows up here as a console error either way.
  await context.route('**/*', async (route) => {
    const request = route.request();
    // Chromium does not hand an intercepted request's uploaded files to the interceptor, so a
    // multipart post is let through untouched (its page is the same template as the others).
    if (request.resourceType() !== 'document' || /multipart/.test(request.headers()['content-type'] ?? ''))
      return route.continue();
    const response = await route.fetch({ maxRedirects: 0 });
    return route.fulfill({ response, headers: { ...response.headers(), 'content-security-policy': CSP } });
  });
  const page = await context.newPage();
  const errors: string[] = [];
  page.on('console', (msg) => {
    if (msg.type() === 'error') errors.push(msg.text());
  });
  page.on('pageerror', (err) => errors.push(String(err)));
  await page.goto(`${base}/`);
  return { page, context, errors };
}

async function shot(page: Page, name: string): Promise<void> {
  await page.screenshot({ path: path.join(SHOTS, `${name}.png`), fullPage: true });
}

/** axe-core, evaluated through the DevTools protocol (a <script> tag would be blocked by the CSP). */
async function seriousViolations(page: Page): Promise<string[]> {
  await page.evaluate(AXE_SOURCE);
  const violations = await page.evaluate<
    Array<{ id: string; impact: string; help: string; nodes: Array<{ target: string[] }> }>
  >(
    'axe.run(document, { resultTypes: ["violations"] }).then(r => r.violations.map(v => ({ id: v.id, impact: v.impact, help: v.help, nodes: v.nodes.map(n => ({ target: n.target })) })))',
  );
  return violations
    .filter((v) => v.impact === 'serious' || v.impact === 'critical')
    .map((v) => `${v.impact} ${v.id}: ${v.help} at ${v.nodes.map((n) => n.target.join(' ')).join(', ')}`);
}

/**
 * axe needs script to run, so a JavaScript-off page is checked as a copy: its HTML, without the
 * enhancement script, loaded into a JavaScript-on page at the same origin (so the CSS applies).
 */
async function seriousViolationsNoJs(page: Page): Promise<string[]> {
  const html = (await page.content()).replace(/<script[^>]*src="\/app\.js"[^>]*><\/script>/, '');
  const context = await browser.newContext({ viewport: page.viewportSize() ?? DESKTOP });
  const copy = await context.newPage();
  await copy.goto(`${base}/healthz`);
  await copy.setContent(html, { waitUntil: 'load' });
  const found = await seriousViolations(copy);
  await context.close();
  return found;
}

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
  fs.mkdirSync(SHOTS, { recursive: true });
  tmpDir = fs.mkdtempSync(path.join(os.tmpdir(), 'ml-forms-e2e-'));
  cellPng = path.join(tmpDir, 'cell.png');
  fs.writeFileSync(cellPng, await makeCell());

  if (process.env.E2E_BASE_URL) {
    base = process.env.E2E_BASE_URL.replace(/\/$/, '');
  } else {
    const config = loadConfig({ NODE_ENV: 'test' });
    registry = new Registry(new OnnxBackend(), config.modelsDir, { maxPixels: config.maxImagePixels });
    await registry.load();
    const listening = http.createServer(createApp({ config, registry }));
    server = listening;
    await new Promise<void>((resolve) => listening.listen(0, '127.0.0.1', resolve));
    base = `http://127.0.0.1:${(listening.address() as AddressInfo).port}`;
  }

  browser = await chromium.launch({
    executablePath: process.env.CHROMIUM ?? '/usr/bin/chromium',
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
});

after(async () => {
  await browser?.close();
  await new Promise<void>((resolve) => (server ? server.close(() => resolve()) : resolve()));
  await registry?.close();
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
    await page.route('**/api/predict/sentiment', async (route) => {
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
