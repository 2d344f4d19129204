/**
 * The browser engine in a real browser (playwright-core + Debian chromium): /?engine=browser runs
 * the models in onnxruntime-web, the 8-bit versions by default (the cards' `quantized` sections),
 * the float ones the server runs with &precision=float, and answers as the server does (the same
 * labels; with the float files the same answers); the switch says what it downloads;
 * window.mlForms.predict rejects bad input with the API's errors in both engines; with the
 * server stopped the page reloads and predicts from the service worker's cache, which holds the
 * files the page uses; a new model version replaces the cached one; axe, the CSP, no console
 * errors and no horizontal scroll at 390 px in both modes. With ../shared/data present, the
 * validation split through both engines: with the float files, malaria labels agree on at least
 * 99.5 % of images and accuracy within 0.3 points, regression and sentiment answers (four
 * decimals) equal; with the 8-bit files (issue 28's bars, against the server's float answers),
 * accuracy within 0.3 points, the same label on >= 99 % of items, ECE <= 2 %.
 *
 * Pages here keep the app's own headers (its Content-Security-Policy included) and service
 * workers stay on, as for a visitor. Run: npm run test:e2e (it runs the browser build first).
 */
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, test, type TestContext } from 'node:test';
import type { Browser, BrowserContext, Page, Request, Response } from 'playwright-core';
import sharp from 'sharp';
import { buildBrowser } from '../../src/build/browser';
import { cspHeader } from '../../src/http/security';
import type { ModelCard, Prediction } from '../../src/predictors/types';
import { readReviews } from '../../training/imdb-data';
import { findCellImages } from '../../training/malaria-data';
import { validationIds } from '../../training/split';
import { cellImage } from '../helpers/app';
import { launchChromium, seriousViolations, startTestServer, type TestServer } from '../helpers/browser';

const ROOT = path.join(__dirname, '..', '..');
const SHOTS = path.join(__dirname, 'screenshots');
const DATA = path.join(ROOT, '..', 'shared', 'data');
const DESKTOP = { width: 1280, height: 900 };
const PHONE = { width: 390, height: 844 };
const REVIEW = 'A warm, funny and beautifully acted film. I loved every minute of it.';

/** The 8-bit version a model's card names (its `quantized` section), if any. */
function q8Version(model: string): string | undefined {
  const card = JSON.parse(fs.readFileSync(path.join(ROOT, 'models', model, 'card.json'), 'utf8')) as {
    quantized?: { version: string };
  };
  return card.quantized?.version;
}

/** ECE as the cards bin it: 10 equal-width bins of the confidence over [0.5, 1]. */
function ece(rows: Array<{ confidence: number; correct: boolean }>): number {
  const bins = Array.from({ length: 10 }, () => ({ n: 0, conf: 0, hits: 0 }));
  for (const r of rows) {
    const b = bins[Math.min(9, Math.max(0, Math.floor((r.confidence - 0.5) / 0.05)))] as {
      n: number;
      conf: number;
      hits: number;
    };
    b.n++;
    b.conf += r.confidence;
    if (r.correct) b.hits++;
  }
  return bins.reduce(
    (sum, b) => (b.n === 0 ? sum : sum + (Math.abs(b.conf / b.n - b.hits / b.n) * b.n) / rows.length),
    0,
  );
}

/** Issue 28's bars for an 8-bit version, against the server's (float) answers on the same items. */
function q8Bars(
  t: TestContext,
  what: string,
  rows: Array<{ browser: { label: string; confidence: number }; server: string; truth: string }>,
): void {
  const n = rows.length;
  const accuracy = (k: 'browser' | 'server'): number =>
    rows.filter((r) => (k === 'browser' ? r.browser.label : r.server) === r.truth).length / n;
  const same = rows.filter((r) => r.browser.label === r.server).length / n;
  const e = ece(rows.map((r) => ({ confidence: r.browser.confidence, correct: r.browser.label === r.truth })));
  t.diagnostic(
    `${what}, ${n} validation items, 8-bit in this browser: accuracy ${(accuracy('browser') * 100).toFixed(2)} % (server, float: ${(accuracy('server') * 100).toFixed(2)} %), same label ${(same * 100).toFixed(2)} %, ECE ${(e * 100).toFixed(2)} %`,
  );
  assert.ok(Math.abs(accuracy('browser') - accuracy('server')) * 100 <= 0.3, `${what}: accuracy within 0.3 points`);
  assert.ok(same >= 0.99, `${what}: the same label on ${(same * 100).toFixed(2)} % < 99 %`);
  assert.ok(e <= 0.02, `${what}: ECE ${(e * 100).toFixed(2)} % > 2 %`);
}

/**
 * The page's globals, as the functions below that run in the page use them (this project's
 * TypeScript settings have no DOM types).
 */
interface MlForms {
  predict(model: string, input: unknown, options: { engine: string; explain?: boolean }): Promise<Prediction>;
}
declare const window: { mlForms: MlForms };
declare const document: { getElementById(id: string): { files: ArrayLike<Blob> } };
declare const caches: { open(name: string): Promise<{ keys(): Promise<Array<{ url: string }>> }> };

let server: TestServer;
let browser: Browser;
let tmpDir: string;
let cellPng: string;

interface Tab {
  page: Page;
  context: BrowserContext;
  errors: string[];
  response: Response | null;
}

async function open(
  url: string,
  options: {
    js?: boolean;
    viewport?: { width: number; height: number };
    serviceWorkers?: 'allow' | 'block';
    base?: string;
  } = {},
): Promise<Tab> {
  const context = await browser.newContext({
    javaScriptEnabled: options.js ?? true,
    viewport: options.viewport ?? DESKTOP,
    serviceWorkers: options.serviceWorkers ?? 'allow',
  });
  const page = await context.newPage();
  const errors: string[] = [];
  page.on('console', (msg) => {
    if (msg.type() === 'error') errors.push(msg.text());
  });
  page.on('pageerror', (err) => errors.push(String(err)));
  const response = await page.goto(`${options.base ?? server.base}${url}`);
  return { page, context, errors, response };
}

/**
 * mlForms.predict in the page; an error comes back as { error: { status, code, message } }.
 * `{ blob: base64 }` stands for a Blob of those bytes (made in the page).
 */
async function predict(page: Page, model: string, input: unknown, engine: 'server' | 'browser'): Promise<unknown> {
  return page.evaluate(
    async ([m, i, e]) => {
      const blob = i !== null && typeof i === 'object' && 'blob' in i ? (i as { blob: string }).blob : null;
      try {
        return await window.mlForms.predict(
          m,
          blob === null ? i : new Blob([Uint8Array.from(atob(blob), (c) => c.charCodeAt(0))]),
          { engine: e },
        );
      } catch (err) {
        const { status, code, message } = err as { status: number; code: string; message: string };
        return { error: { status, code, message } };
      }
    },
    [model, input, engine] as const,
  );
}

/** The image file the user picked in #image, sent to mlForms.predict. */
async function predictPicked(page: Page, engine: 'server' | 'browser'): Promise<Prediction> {
  return page.evaluate(
    (e) =>
      window.mlForms.predict('malaria', document.getElementById('image').files[0], {
        engine: e,
      }),
    engine,
  );
}

async function ready(page: Page): Promise<void> {
  await page.evaluate('window.mlForms.ready()');
}

/**
 * Submits a card's form and returns the statement of its result, which must carry `engine`; in
 * browser mode nothing may be posted anywhere meanwhile.
 */
async function submit(page: Page, model: string, engine: string): Promise<string> {
  const sent = watchPosts(page);
  await page.click(`#${model} button[type="submit"]`);
  const result = page.locator(`#${model}-result[data-engine="${engine}"] .prediction`);
  await result.waitFor();
  assert.match(
    (await page.textContent(`#${model}-result .computed`)) ?? '',
    engine === 'browser' ? /in this browser/ : /on the server/,
  );
  if (engine === 'browser') assert.deepEqual(sent.stop(), [], 'nothing is sent in browser mode');
  return (await result.textContent())?.trim() ?? '';
}

/** Every request that is not a GET, from now until stop(). */
function watchPosts(page: Page): { stop(): string[] } {
  const seen: string[] = [];
  const onRequest = (r: Request): void => {
    if (r.method() !== 'GET') seen.push(`${r.method()} ${r.url()}`);
  };
  page.on('request', onRequest);
  return {
    stop: () => {
      page.off('request', onRequest);
      return seen;
    },
  };
}

const directives = (csp: string): string[] =>
  csp
    .split(';')
    .map((d) => d.trim())
    .filter((d) => d !== '')
    .sort();

before(async () => {
  fs.mkdirSync(SHOTS, { recursive: true });
  tmpDir = fs.mkdtempSync(path.join(os.tmpdir(), 'ml-forms-engine-'));
  cellPng = path.join(tmpDir, 'cell.png');
  fs.writeFileSync(cellPng, await cellImage('png', { parasite: true }));
  await buildBrowser(ROOT, () => undefined);
  server = await startTestServer();
  browser = await launchChromium();
});

after(async () => {
  await browser?.close();
  await server?.stop();
  fs.rmSync(tmpDir, { recursive: true, force: true });
});

describe('the engine choice', { timeout: 180_000 }, () => {
  test('/?engine=browser: every form answers in this browser as the server does; axe, CSP, no console errors, 390 px', async () => {
    const { page, context, errors, response } = await open('/?engine=browser');
    assert.deepEqual(directives(response?.headers()['content-security-policy'] ?? ''), directives(cspHeader()));
    assert.equal(await page.isChecked('input[name="engine"][value="browser"]'), true);
    await ready(page);
    assert.match((await page.textContent('#engine-status')) ?? '', /nothing you enter leaves this device/);

    await page.fill('#x', '5');
    const regression = await submit(page, 'regression', 'browser');
    assert.equal(regression, ((await predict(page, 'regression', '5', 'server')) as Prediction).statement);
    assert.equal(await page.locator('#regression-chart circle.point').count(), 1);

    // The 8-bit versions by default: the server's labels, and the answers say which version computed them.
    assert.equal(await page.evaluate('window.mlForms.precision'), '8-bit');
    assert.match(
      (await page.textContent('#engine-download')) ?? '',
      /a download of [\d.]+ MB once .*8-bit models \d+ kB.*full precision.*[\d.]+ MB/,
    );
    await page.setInputFiles('#image', cellPng);
    await submit(page, 'malaria', 'browser');
    const [cellHere, cellThere] = [await predictPicked(page, 'browser'), await predictPicked(page, 'server')];
    assert.equal(cellHere.label, cellThere.label);
    assert.equal(cellHere.version, q8Version('malaria'));
    assert.equal(await page.locator('#malaria-result meter').count(), 2);

    await page.fill('#review', REVIEW);
    await submit(page, 'sentiment', 'browser');
    const [reviewHere, reviewThere] = [
      (await predict(page, 'sentiment', REVIEW, 'browser')) as Prediction,
      (await predict(page, 'sentiment', REVIEW, 'server')) as Prediction,
    ];
    assert.equal(reviewHere.label, reviewThere.label);
    assert.equal(reviewHere.version, q8Version('sentiment'));

    await page.screenshot({ path: path.join(SHOTS, 'desktop-browser-engine.png'), fullPage: true });
    assert.deepEqual(await seriousViolations(page), []);
    await page.setViewportSize(PHONE);
    assert.ok((await page.evaluate<number>('document.documentElement.scrollWidth - window.innerWidth')) <= 0);
    await page.screenshot({ path: path.join(SHOTS, 'phone-browser-engine.png'), fullPage: true });
    assert.deepEqual(errors, []);

    // The policy is enforced, not just sent: an inline script is refused (and logged as an error).
    await page.evaluate(
      `document.body.append(Object.assign(document.createElement('script'), { textContent: 'window.inlineRan = true' }))`,
    );
    assert.equal(await page.evaluate('window.inlineRan === true'), false);
    assert.ok(errors.some((e) => /Content Security Policy/.test(e)));
    await context.close();
  });

  test('/?engine=browser&precision=float: the float files the server runs, the same answers; the cache keeps what the page uses', async () => {
    const { page, context, errors } = await open('/?engine=browser&precision=float');
    await ready(page);
    assert.equal(await page.evaluate('window.mlForms.precision'), 'float');
    assert.match(
      (await page.textContent('#engine-download')) ?? '',
      /full-precision models [\d.]+ MB.*8-bit, the default/,
    );
    await page.setInputFiles('#image', cellPng);
    const malaria = await submit(page, 'malaria', 'browser');
    assert.equal(malaria, (await predictPicked(page, 'server')).statement);
    assert.deepEqual(await predictPicked(page, 'browser'), await predictPicked(page, 'server'));
    await page.fill('#review', REVIEW);
    const sentiment = await submit(page, 'sentiment', 'browser');
    assert.equal(sentiment, ((await predict(page, 'sentiment', REVIEW, 'server')) as Prediction).statement);
    assert.deepEqual(
      await predict(page, 'sentiment', REVIEW, 'browser'),
      await predict(page, 'sentiment', REVIEW, 'server'),
    );
    const cached = await page.evaluate(async () =>
      (await (await caches.open('ml-forms-data')).keys()).map((r) => new URL(r.url).pathname).sort(),
    );
    const card = (m: string): { version: string } =>
      JSON.parse(fs.readFileSync(path.join(ROOT, 'models', m, 'card.json'), 'utf8')) as { version: string };
    for (const m of ['malaria', 'sentiment']) {
      assert.ok(cached.includes(`/models/${m}/${card(m).version}/model.onnx`), `${m}: the float file is cached`);
      assert.ok(!cached.includes(`/models/${m}/${q8Version(m)}/model.onnx`), `${m}: the 8-bit file is not`);
    }
    assert.deepEqual(errors, []);
    await context.close();
  });

  test('/?engine=browser&precision=float: explanations equal the server\'s to 4 decimals (issue 25)', async () => {
    const { page, context, errors } = await open('/?engine=browser&precision=float');
    await ready(page);
    const explained = (model: string, input: unknown, engine: 'server' | 'browser'): Promise<Prediction> =>
      page.evaluate(
        async ([m, i, e]) => {
          const blob = i !== null && typeof i === 'object' && 'blob' in i ? (i as { blob: string }).blob : null;
          const value = blob === null ? i : new Blob([Uint8Array.from(atob(blob), (c) => c.charCodeAt(0))]);
          return window.mlForms.predict(m, value, { engine: e, explain: true });
        },
        [model, input, engine] as const,
      );
    /** Every number of `a` within 5e-5 of `b`'s (equal to 4 decimals), and everything else equal. */
    const close = (a: unknown, b: unknown, where: string): void => {
      if (typeof a === 'number' && typeof b === 'number') assert.ok(Math.abs(a - b) <= 5e-5, `${where}: ${a} vs ${b}`);
      else if (Array.isArray(a) && Array.isArray(b)) {
        assert.equal(a.length, b.length, `${where}: length`);
        a.forEach((x, i) => close(x, b[i], `${where}[${i}]`));
      } else if (a !== null && b !== null && typeof a === 'object' && typeof b === 'object') {
        assert.deepEqual(Object.keys(a).sort(), Object.keys(b).sort(), where);
        for (const k of Object.keys(a)) close((a as Record<string, unknown>)[k], (b as Record<string, unknown>)[k], `${where}.${k}`);
      } else assert.equal(a, b, where);
    };
    const reviews = [REVIEW, 'The acting was wooden and the plot made no sense, but the soundtrack was wonderful and I loved the ending.'];
    for (const review of reviews) {
      const here = await explained('sentiment', review, 'browser');
      const there = await explained('sentiment', review, 'server');
      assert.ok(((there.explanation?.tokens as unknown[] | undefined) ?? []).length >= 5);
      close(here.explanation, there.explanation, 'sentiment');
    }
    const cell = { blob: fs.readFileSync(cellPng).toString('base64') };
    const here = await explained('malaria', cell, 'browser');
    const there = await explained('malaria', cell, 'server');
    assert.ok(Array.isArray(there.explanation?.values));
    close(here.explanation, there.explanation, 'malaria');
    assert.deepEqual(errors, []);
    await context.close();
  });

  test('the default is the server; choosing the browser changes the URL, results say where they were computed', async () => {
    const { page, context, errors } = await open('/', { viewport: PHONE });
    assert.equal(await page.isChecked('input[name="engine"][value="server"]'), true);
    await page.fill('#x', '2');
    assert.match(await submit(page, 'regression', 'server'), /for 2 is/);
    assert.deepEqual(await seriousViolations(page), []);
    assert.ok((await page.evaluate<number>('document.documentElement.scrollWidth - window.innerWidth')) <= 0);

    await page.check('input[name="engine"][value="browser"]');
    assert.equal(new URL(page.url()).search, '?engine=browser');
    await ready(page);
    await page.fill('#x', '3');
    assert.match(await submit(page, 'regression', 'browser'), /for 3 is/);
    await page.check('input[name="engine"][value="server"]');
    assert.equal(new URL(page.url()).search, '');
    assert.deepEqual(errors, []);
    await context.close();
  });

  test('several images in browser mode: the results table is filled here, nothing is sent', async () => {
    const { page, context, errors } = await open('/?engine=browser');
    await ready(page);
    const files = [
      cellPng,
      path.join(tmpDir, 'healthy.webp'),
      path.join(tmpDir, 'notes.png'), // not an image, whatever its name
    ];
    fs.writeFileSync(files[1] as string, await cellImage('webp'));
    fs.writeFileSync(files[2] as string, 'not an image');
    const sent = watchPosts(page);
    await page.setInputFiles('#image', files);
    await page.click('#malaria button[type="submit"]');
    await page.locator('#malaria-batch-summary[data-total="3"]').waitFor();
    assert.deepEqual(sent.stop(), [], 'nothing is sent in browser mode');
    assert.equal(await page.getAttribute('#malaria-batch', 'data-engine'), 'browser');
    assert.match((await page.textContent('#malaria-batch .computed')) ?? '', /in this browser/);
    assert.equal(await page.getAttribute('#malaria-batch-summary', 'data-unreadable'), '1');
    for (const file of files) {
      const row = page.locator(`#malaria-batch-rows tr[data-file="${path.basename(file)}"]`);
      const server = (await predict(page, 'malaria', { blob: fs.readFileSync(file).toString('base64') }, 'server')) as {
        label?: string;
        error?: { code: string };
      };
      if (server.error === undefined) assert.equal(await row.getAttribute('data-label'), server.label);
      else assert.equal(await row.getAttribute('data-error'), server.error.code);
    }
    assert.deepEqual(await seriousViolations(page), []);
    // Chromium logs the server's 415 for the comparison above; nothing else may complain.
    assert.deepEqual(
      errors.filter((e) => !/status of 415/.test(e)),
      [],
    );
    await context.close();
  });

  test('without JavaScript, /?engine=browser is the plain page and the server answers', async () => {
    const { page, context, errors } = await open('/?engine=browser', { js: false });
    assert.equal(await page.locator('.engine-choice').count(), 0);
    await page.fill('#review', REVIEW);
    await Promise.all([page.waitForURL('**/predict/sentiment'), page.click('#sentiment button[type="submit"]')]);
    assert.equal(await page.getAttribute('#sentiment-result', 'data-engine'), 'server');
    const [plain, asked] = await Promise.all([fetch(`${server.base}/`), fetch(`${server.base}/?engine=browser`)]);
    assert.equal(await asked.text(), await plain.text());
    assert.deepEqual(errors, []);
    await context.close();
  });
});

describe('window.mlForms.predict: the API errors for bad input, in both engines', { timeout: 180_000 }, () => {
  test('regression, sentiment and malaria inputs outside the limits', async () => {
    const { page, context } = await open('/');
    const huge = await sharp({ create: { width: 5001, height: 5000, channels: 3, background: '#000' } })
      .png()
      .toBuffer();
    const cell = fs.readFileSync(cellPng);
    // Blobs are built in the page from bytes sent as base64.
    const blob = (bytes: Buffer | string): { blob: string } => ({ blob: Buffer.from(bytes).toString('base64') });
    const cases: Array<[string, string, unknown]> = [
      ['regression', 'missing_x', null],
      ['regression', 'invalid_x', 'five'],
      ['regression', 'invalid_x', '1e39'],
      ['sentiment', 'missing_review', null],
      ['sentiment', 'empty_review', '   '],
      ['sentiment', 'invalid_review', 42],
      ['sentiment', 'review_too_long', 'a'.repeat(20_001)],
      ['malaria', 'missing_image', null],
      ['malaria', 'empty_file', blob('')],
      ['malaria', 'unsupported_image_type', blob('hello, not an image')],
      ['malaria', 'file_too_large', blob(Buffer.alloc(5 * 1024 * 1024 + 1, 0x89))],
      ['malaria', 'invalid_image', blob(cell.subarray(0, cell.length - 200))],
      ['malaria', 'image_too_large', blob(huge)],
    ];
    for (const [model, code, input] of cases) {
      const server = await predict(page, model, input, 'server');
      assert.equal((server as { error?: { code: string } }).error?.code, code, `server: ${model} ${code}`);
      assert.deepEqual(await predict(page, model, input, 'browser'), server, `${model} ${code}`);
    }
    await context.close();
  });
});

describe('the validation data through both engines', { timeout: 900_000 }, () => {
  const haveData = fs.existsSync(path.join(DATA, 'malaria')) && fs.existsSync(path.join(DATA, 'imdb'));

  test(
    'malaria: float files: labels agree on ≥ 99.5 % of the validation images, accuracy within 0.3 points; 8-bit files: the issue-28 bars',
    { skip: !haveData && 'no ../shared/data' },
    async (t: TestContext) => {
      const images = findCellImages(DATA);
      const held = validationIds(images);
      const validation = images.filter((f) => held.has(f.id));
      const float = await open('/?engine=browser&precision=float', { serviceWorkers: 'block' });
      const q8 = await open('/?engine=browser', { serviceWorkers: 'block' });
      await ready(float.page);
      await ready(q8.page);
      const malaria = server.registry.get('malaria');
      const labels: Array<[string, string]> = [];
      const q8Rows: Array<{ browser: { label: string; confidence: number }; server: string; truth: string }> = [];
      const inPage = (
        page: Page,
        images: string[],
      ): Promise<Array<{ label: string; confidence: number; version: string }>> =>
        page.evaluate(async (list) => {
          const out: Array<{ label: string; confidence: number; version: string }> = [];
          for (const b64 of list) {
            const blob = new Blob([Uint8Array.from(atob(b64), (c) => c.charCodeAt(0))]);
            const p = await window.mlForms.predict('malaria', blob, { engine: 'browser' });
            out.push({ label: p.label as string, confidence: p.confidence as number, version: p.version });
          }
          return out;
        }, images);
      const BATCH = 250;
      for (let start = 0; start < validation.length; start += BATCH) {
        const part = validation.slice(start, start + BATCH);
        const files = part.map((f) => fs.readFileSync(f.file));
        const b64 = files.map((f) => f.toString('base64'));
        // The browser's answers in the pages; the server's from its predictor (what the API answers), meanwhile.
        const [here, here8, there] = await Promise.all([
          inPage(float.page, b64),
          inPage(q8.page, b64),
          Promise.all(files.map(async (f) => (await malaria.predict(f)).label as string)),
        ]);
        here.forEach((p, i) => labels.push([p.label, there[i] as string]));
        here8.forEach((p, i) => {
          assert.equal(p.version, q8Version('malaria'));
          q8Rows.push({ browser: p, server: there[i] as string, truth: part[i]?.label as string });
        });
      }
      const n = validation.length;
      const agree = labels.filter(([b, s]) => b === s).length / n;
      const accuracy = (k: 0 | 1): number => labels.filter((l, i) => l[k] === validation[i]?.label).length / n;
      t.diagnostic(
        `malaria, ${n} validation images, float in this browser: labels agree ${(agree * 100).toFixed(2)} %; accuracy browser ${(accuracy(0) * 100).toFixed(2)} %, server ${(accuracy(1) * 100).toFixed(2)} %`,
      );
      assert.ok(agree >= 0.995, `labels agree on ${(agree * 100).toFixed(2)} % < 99.5 %`);
      assert.ok(Math.abs(accuracy(0) - accuracy(1)) * 100 <= 0.3, 'accuracy within 0.3 points');
      q8Bars(t, 'malaria', q8Rows);
      await float.context.close();
      await q8.context.close();
    },
  );

  test(
    'sentiment: the 8-bit file in this browser on the whole validation split: the issue-28 bars',
    { skip: !haveData && 'no ../shared/data' },
    async (t: TestContext) => {
      const reviews = readReviews(DATA);
      const held = validationIds(reviews);
      const validation = reviews.filter((r) => held.has(r.id));
      const { page, context } = await open('/?engine=browser', { serviceWorkers: 'block' });
      await ready(page);
      const sentiment = server.registry.get('sentiment');
      const rows: Array<{ browser: { label: string; confidence: number }; server: string; truth: string }> = [];
      const BATCH = 500;
      for (let start = 0; start < validation.length; start += BATCH) {
        const part = validation.slice(start, start + BATCH);
        const [here, there] = await Promise.all([
          page.evaluate(
            async (texts) => {
              const out: Array<{ label: string; confidence: number; version: string }> = [];
              for (const text of texts) {
                const p = await window.mlForms.predict('sentiment', text, { engine: 'browser' });
                out.push({ label: p.label as string, confidence: p.confidence as number, version: p.version });
              }
              return out;
            },
            part.map((r) => r.text),
          ),
          Promise.all(part.map(async (r) => (await sentiment.predict(r.text)).label as string)),
        ]);
        here.forEach((p, i) => {
          assert.equal(p.version, q8Version('sentiment'));
          rows.push({ browser: p, server: there[i] as string, truth: part[i]?.label as string });
        });
      }
      q8Bars(t, 'sentiment', rows);
      await context.close();
    },
  );

  test(
    'regression and sentiment, float files: the browser answers equal the server answers (probabilities to 4 decimals)',
    { skip: !haveData && 'no ../shared/data' },
    async (t: TestContext) => {
      const reviews = readReviews(DATA);
      const held = validationIds(reviews);
      // Every 25th held-out review (200 of 5,000), in a fixed order.
      const sample = reviews.filter((r) => held.has(r.id)).filter((_, i) => i % 25 === 0);
      const xs = [-1000, -3.5, 0, 0.001, 0.25, 1, 5, 7.75, 10, 12345, 1e6, '2.5', ' 7 ', '1e3'];
      const { page, context } = await open('/?engine=browser&precision=float', { serviceWorkers: 'block' });
      await ready(page);
      const compare = async (model: string, inputs: unknown[]): Promise<void> => {
        const answers = await page.evaluate(
          async ([m, list]) => {
            const mlForms = (window as unknown as { mlForms: { predict: (...a: unknown[]) => Promise<unknown> } })
              .mlForms;
            const out: Array<[unknown, unknown]> = [];
            for (const input of list) {
              out.push([
                await mlForms.predict(m, input, { engine: 'browser' }),
                await mlForms.predict(m, input, { engine: 'server' }),
              ]);
            }
            return out;
          },
          [model, inputs] as const,
        );
        answers.forEach(([here, there], i) => assert.deepEqual(here, there, `${model} #${i}`));
      };
      await compare('regression', xs);
      await compare(
        'sentiment',
        sample.map((r) => r.text),
      );
      t.diagnostic(
        `regression: ${xs.length} inputs; sentiment: ${sample.length} validation reviews; every answer equal`,
      );
      await context.close();
    },
  );
});

describe('offline and model updates', { timeout: 180_000 }, () => {
  test('load in browser mode, stop the server, reload: the page still loads and predicts each model', async () => {
    const own = await startTestServer();
    const { page, context, errors } = await open('/?engine=browser', { base: own.base });
    await ready(page);
    assert.match((await page.textContent('#engine-status')) ?? '', /works offline/);
    // The service worker keeps what the page uses: the 8-bit files by default, not the float ones.
    const kept = await page.evaluate(async () =>
      (await (await caches.open('ml-forms-data')).keys()).map((r) => new URL(r.url).pathname),
    );
    for (const m of ['malaria', 'sentiment'])
      assert.ok(kept.includes(`/models/${m}/${q8Version(m)}/model.onnx`), `${m}: the 8-bit file is cached`);
    assert.equal(kept.filter((u) => u.startsWith('/models/malaria/')).length, 1);
    await page.setInputFiles('#image', cellPng);
    const before = {
      regression: await predict(page, 'regression', 5, 'browser'),
      sentiment: await predict(page, 'sentiment', REVIEW, 'browser'),
      malaria: await predictPicked(page, 'browser'),
    };
    await own.stop();

    const response = await page.reload();
    assert.ok(response?.fromServiceWorker(), 'the page came from the service worker');
    await ready(page);
    assert.equal(await page.isChecked('input[name="engine"][value="browser"]'), true);
    await page.fill('#x', '5');
    assert.equal(await submit(page, 'regression', 'browser'), (before.regression as Prediction).statement);
    await page.fill('#review', REVIEW);
    assert.equal(await submit(page, 'sentiment', 'browser'), (before.sentiment as Prediction).statement);
    await page.setInputFiles('#image', cellPng);
    assert.equal(await submit(page, 'malaria', 'browser'), before.malaria.statement);
    assert.deepEqual(await predict(page, 'regression', 5, 'browser'), before.regression);
    // The server engine says what happened instead of failing silently.
    assert.equal(
      ((await predict(page, 'regression', 5, 'server')) as { error: { code: string } }).error.code,
      'network_error',
    );
    assert.deepEqual(
      errors.filter((e) => !/Failed to load resource|ERR_CONNECTION_REFUSED/.test(e)),
      [],
    );
    await context.close();
  });

  test('a new model version on the server replaces the cached one', async () => {
    const modelsDir = path.join(tmpDir, 'models');
    fs.cpSync(path.join(ROOT, 'models'), modelsDir, { recursive: true });
    const first = await startTestServer({ env: { MODELS_DIR: modelsDir } });
    const { page, context } = await open('/?engine=browser', { base: first.base });
    await ready(page);
    const cached = (): Promise<string[]> =>
      page.evaluate(async () =>
        (await (await caches.open('ml-forms-data')).keys()).map((r) => new URL(r.url).pathname).sort(),
      );
    const v1 = (await predict(page, 'regression', 5, 'browser')) as Prediction;
    assert.ok((await cached()).includes('/models/regression/1/model.onnx'));
    await first.stop();

    // Version 2: the same graph with another slope (2.0), so its answers differ.
    const cardFile = path.join(modelsDir, 'regression', 'card.json');
    const card = JSON.parse(fs.readFileSync(cardFile, 'utf8')) as ModelCard;
    const bytes = fs.readFileSync(path.join(modelsDir, 'regression', '1', 'model.onnx'));
    const w = bytes.indexOf(Buffer.from([0x42, 0x01, 0x57])) - 4; // raw_data of initializer "W"
    assert.ok(Math.abs(bytes.readFloatLE(w) - (card.fitted?.slope ?? NaN)) < 1e-3, 'found the slope');
    bytes.writeFloatLE(2, w);
    fs.mkdirSync(path.join(modelsDir, 'regression', '2'));
    fs.writeFileSync(path.join(modelsDir, 'regression', '2', 'model.onnx'), bytes);
    fs.rmSync(path.join(modelsDir, 'regression', '1'), { recursive: true });
    const sha256 = (await import('node:crypto')).createHash('sha256').update(bytes).digest('hex');
    fs.writeFileSync(cardFile, JSON.stringify({ ...card, version: '2', artifact: { ...card.artifact, sha256 } }));
    const second = await startTestServer({ port: first.port, env: { MODELS_DIR: modelsDir } });
    try {
      await page.reload();
      await ready(page);
      const v2 = (await predict(page, 'regression', 5, 'browser')) as Prediction;
      assert.equal(v2.version, '2');
      assert.notEqual(v2.value, v1.value);
      assert.deepEqual(v2, await predict(page, 'regression', 5, 'server'));
      const models = await cached();
      assert.ok(models.includes('/models/regression/2/model.onnx'));
      assert.ok(!models.includes('/models/regression/1/model.onnx'), 'the old version is gone from the cache');
    } finally {
      await context.close();
      await second.stop();
    }
  });
});
