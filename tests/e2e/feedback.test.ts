/**
 * "Was this right?" (issue 26, must hold 6) in a real browser: a person flags a wrong answer from
 * the page, with JavaScript on (the page script posts to /api/feedback and the form gives way to
 * the "Thank you" status, no page load) and off (the form posts to /feedback and the server's page
 * says the same), and the operator sees it counted on /monitor (HTTP Basic with ADMIN_TOKEN).
 * axe-core finds no serious or critical violation on the page with the form open, on the
 * JavaScript-off pages and on /monitor, and neither scrolls sideways at 390 px. Every page gets the
 * production Content-Security-Policy (tests/helpers/browser.ts), so the form's script runs under it.
 *
 * The app runs in this process with the real models and its own SQLite file in a temp folder
 * (DATABASE_URL=sqlite:///…; never the project's data/ file).
 *
 * Run: npm run build && node --test-reporter=spec --import tsx --test tests/e2e/feedback.test.ts
 * With SCREENSHOTS=1 it also writes the README's docs/images/monitor.png (/monitor after a mix of
 * held-out cells, cells at a quarter of their size, held-out reviews and feedback on some of them;
 * needs ../shared/data) and docs/images/feedback.png (a result with the form open).
 */
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import type { Browser, Page } from 'playwright-core';
import sharp from 'sharp';
import { buildBrowser } from '../../src/build/browser';
import { type CellImageFile, MALARIA_LABELS, findCellImages } from '../../training/malaria-data';
import { readReviews } from '../../training/imdb-data';
import { mulberry32 } from '../../training/mulberry32';
import { splitKey, validationIds } from '../../training/split';
import {
  launchChromium,
  openPage,
  seriousViolations,
  seriousViolationsNoJs as noJsViolations,
  startTestServer,
  type Tab,
  type TestServer,
} from '../helpers/browser';
import { cellImage } from '../helpers/cell-image';

const TOKEN = 'e2e-feedback-admin-token';
const DESKTOP = { width: 1000, height: 900 };
const PHONE = { width: 390, height: 844 };
const REVIEW =
  'The acting was wooden and the plot made no sense, but the soundtrack was wonderful and I loved the ending.';
const THANKS = 'Thank you: your feedback was recorded.';
const KEPT = 'Your input is kept with it, for training.';
const DATA = path.join(__dirname, '..', '..', '..', 'shared', 'data');
const README_IMAGES = path.join(__dirname, '..', '..', 'docs', 'images');
const SHOTS = process.env.SCREENSHOTS === '1';

let browser: Browser;
let tmpDir: string;
let server: TestServer;
let cellFile: string;

/** A server with the prediction log on its own fresh SQLite file, and /monitor behind TOKEN. */
function monitoredServer(name: string): Promise<TestServer> {
  const file = path.join(tmpDir, `${name}.sqlite`);
  return startTestServer({ env: { ADMIN_TOKEN: TOKEN, DATABASE_URL: `sqlite://${file}` }, monitoring: true });
}

function open(on: TestServer, js: boolean, viewport = DESKTOP, url = '/'): Promise<Tab> {
  return openPage(browser, `${on.base}${url}`, { js, viewport });
}

/** /monitor as the admin's browser opens it: Basic auth answered by the context. */
function openMonitor(on: TestServer, viewport = DESKTOP): Promise<Tab> {
  return openPage(browser, `${on.base}/monitor`, {
    js: true,
    viewport,
    httpCredentials: { username: 'admin', password: TOKEN },
  });
}

const overflow = (page: Page): Promise<number> =>
  page.evaluate<number>('document.documentElement.scrollWidth - window.innerWidth');

/** What /monitor's section for `model` says: its predictions and feedback, as attributes and as the figure a person reads. */
async function monitorCounts(model: string): Promise<{ predictions: number; feedback: number }> {
  const { page, context, errors } = await openMonitor(server);
  const section = page.locator(`section.monitor-model[data-model="${model}"]`);
  const predictions = Number(await section.getAttribute('data-predictions'));
  const feedback = Number(await section.getAttribute('data-feedback'));
  // The number on the page is the one in the attribute.
  assert.equal(Number(await section.locator('dd.feedback-count').textContent()), feedback);
  assert.deepEqual(errors, []);
  await context.close();
  assert.ok(
    Number.isInteger(predictions) && Number.isInteger(feedback),
    `${model}: ${predictions} predictions, ${feedback} feedback`,
  );
  return { predictions, feedback };
}

/** The label the card shows as its answer (the top score's row). */
async function answeredLabel(page: Page, model: string): Promise<string> {
  const label = (await page.locator(`#${model}-result li.score.top label`).textContent())?.trim() ?? '';
  assert.ok(label !== '', `${model}: an answer on the page`);
  return label;
}

/**
 * Opens "Wrong?" under `model`'s result and fills it: the label other than the model's answer
 * (or `value`), a note, and the share box. Returns the prediction id the form names.
 */
async function fillFeedback(
  page: Page,
  model: string,
  answer: { otherThan: string } | { value: string },
): Promise<string> {
  const result = page.locator(`#${model}-result`);
  const details = result.locator('details.feedback');
  const id = await result.getAttribute('data-prediction-id');
  assert.ok(id !== null && id !== '', `${model}: the result has an id`);
  assert.equal(await details.getAttribute('data-prediction-id'), id);
  await details.locator('summary').click();
  assert.notEqual(await details.getAttribute('open'), null, 'the form is open');
  const form = details.locator('form.feedback-form');
  if ('value' in answer) {
    await form.locator('input[name="value"]').fill(answer.value);
  } else {
    const radios = form.locator('input[type="radio"][name="label"]');
    const values = await Promise.all((await radios.all()).map(async (r) => (await r.getAttribute('value')) ?? ''));
    assert.ok(values.includes(answer.otherThan), `${values.join(', ')} offers the model's answer`);
    const other = values.find((v) => v !== answer.otherThan);
    assert.ok(other !== undefined, 'another label to pick');
    await form.locator(`input[type="radio"][value="${other}"]`).check();
  }
  await form.locator('textarea[name="note"]').fill('Checked by hand: the model had this one wrong.');
  await form.locator('input[name="share_input"]').check();
  return id;
}

before(async () => {
  await buildBrowser(undefined, () => undefined);
  tmpDir = fs.mkdtempSync(path.join(os.tmpdir(), 'ml-forms-feedback-'));
  cellFile = path.join(tmpDir, 'cell.png');
  fs.writeFileSync(cellFile, await cellImage('png', { size: 140, parasite: true }));
  server = await monitoredServer('log');
  browser = await launchChromium();
});

after(async () => {
  await browser?.close();
  await server?.stop();
  fs.rmSync(tmpDir, { recursive: true, force: true });
});

describe('flag a wrong answer, then see it on /monitor', { timeout: 120_000 }, () => {
  test('JavaScript on: a review, "Wrong?", the other label, shared → "Thank you" in place; /monitor counts it', async () => {
    const before = await monitorCounts('sentiment');
    const { page, context, errors } = await open(server, true);
    await page.fill('#review', REVIEW);
    await page.click('#sentiment button[type="submit"]');
    await page.locator('#sentiment-result[data-prediction-id] details.feedback').waitFor();
    // Marks the document: a page load would lose it.
    await page.evaluate('window.sameDocument = true');
    const id = await fillFeedback(page, 'sentiment', { otherThan: await answeredLabel(page, 'sentiment') });
    assert.deepEqual(await seriousViolations(page), [], 'axe, the form open');
    await page.setViewportSize(PHONE);
    assert.ok((await overflow(page)) <= 0, 'no horizontal scrolling at 390 px, the form open');
    await page.setViewportSize(DESKTOP);

    const [response] = await Promise.all([
      page.waitForResponse((r) => new URL(r.url()).pathname === '/api/feedback'),
      page.click('#sentiment-result form.feedback-form button[type="submit"]'),
    ]);
    assert.equal(response.status(), 201);
    const sent = response.request().postDataJSON() as Record<string, unknown>;
    assert.equal(sent.prediction_id, id);
    assert.equal(sent.share_input, true);
    const done = page.locator('#sentiment-result p.feedback-done[role="status"]');
    await done.waitFor();
    assert.equal((await done.textContent())?.trim(), `${THANKS} ${KEPT}`);
    assert.equal(await page.locator('#sentiment-result details.feedback').count(), 0, 'the form gave way');
    assert.equal(await page.evaluate('window.sameDocument'), true, 'no page load');
    assert.equal(new URL(page.url()).pathname, '/');
    assert.deepEqual(await seriousViolations(page), [], 'axe, after sending');
    assert.deepEqual(errors, []);
    await context.close();

    const now = await monitorCounts('sentiment');
    assert.equal(now.feedback, before.feedback + 1);
    assert.ok(now.predictions >= before.predictions + 1, 'the prediction is logged');
  });

  test('the browser engine: a review answered here, nothing sent; "Wrong?" (no share box) logs the answer, then the feedback; /monitor counts both', async () => {
    const before = await monitorCounts('sentiment');
    const { page, context, errors } = await open(server, true, DESKTOP, '/?engine=browser');
    await page.evaluate('window.mlForms.ready()');
    const posted: string[] = [];
    page.on('request', (r) => {
      if (r.method() !== 'GET') posted.push(new URL(r.url()).pathname);
    });
    await page.fill('#review', REVIEW);
    await page.click('#sentiment button[type="submit"]');
    const details = page.locator('#sentiment-result[data-engine="browser"] details.feedback[data-engine="browser"]');
    await details.waitFor();
    assert.deepEqual(posted, [], 'answering sends nothing');
    const label = await answeredLabel(page, 'sentiment');
    await details.locator('summary').click();
    const form = details.locator('form.feedback-form');
    assert.equal(await form.locator('input[name="share_input"]').count(), 0, 'no input to share');
    assert.match((await form.locator('p.kept').textContent()) ?? '', /worked out in your browser: feedback sends the answer and what you write here, never your input/);
    const other = (await form.locator('input[type="radio"][name="label"]').evaluateAll((rs) => rs.map((r) => r.getAttribute('value') ?? ''))).find((v) => v !== label);
    assert.ok(other !== undefined, 'another label to pick');
    await form.locator(`input[type="radio"][value="${other}"]`).check();
    assert.deepEqual(await seriousViolations(page), [], 'axe, the form open');

    const [reported, feedback] = await Promise.all([
      page.waitForResponse((r) => new URL(r.url()).pathname === '/api/browser-predictions'),
      page.waitForResponse((r) => new URL(r.url()).pathname === '/api/feedback'),
      form.locator('button[type="submit"]').click(),
    ]);
    assert.equal(reported.status(), 201);
    const report = reported.request().postDataJSON() as Record<string, unknown>;
    assert.deepEqual(Object.keys(report).sort(), ['confidence', 'label', 'latency_ms', 'model', 'version']);
    assert.equal(report.label, label);
    assert.equal(feedback.status(), 201);
    assert.equal((feedback.request().postDataJSON() as Record<string, unknown>).prediction_id, ((await reported.json()) as { id: string }).id);
    const done = page.locator('#sentiment-result p.feedback-done[role="status"]');
    await done.waitFor();
    assert.equal((await done.textContent())?.trim(), `${THANKS} Your input was not kept.`);
    assert.deepEqual(posted, ['/api/browser-predictions', '/api/feedback']);
    assert.deepEqual(errors, []);
    await context.close();

    const now = await monitorCounts('sentiment');
    assert.equal(now.feedback, before.feedback + 1);
    assert.equal(now.predictions, before.predictions + 1, 'the flagged answer, and nothing else, is logged');
  });

  test('JavaScript off: the number model, "Wrong?", the right value, shared → the server\'s "Thank you" page; /monitor counts it', async () => {
    const before = await monitorCounts('regression');
    const { page, context, errors } = await open(server, false, PHONE);
    await page.fill('#x', '5');
    await Promise.all([page.waitForURL('**/predict/regression'), page.click('#regression button[type="submit"]')]);
    await fillFeedback(page, 'regression', { value: '42.5' });
    assert.ok((await overflow(page)) <= 0, 'no horizontal scrolling at 390 px, the form open');
    assert.deepEqual(await noJsViolations(browser, server.base, page), [], 'axe, the form open');

    await Promise.all([
      page.waitForURL('**/feedback'),
      page.click('#regression-result form.feedback-form button[type="submit"]'),
    ]);
    const done = page.locator('#regression-result p.feedback-done[role="status"]');
    assert.equal((await done.textContent())?.trim(), `${THANKS} ${KEPT}`);
    assert.ok((await overflow(page)) <= 0, 'no horizontal scrolling at 390 px, the "Thank you" page');
    assert.deepEqual(await noJsViolations(browser, server.base, page), [], 'axe, the "Thank you" page');
    assert.deepEqual(errors, []);
    await context.close();

    assert.equal((await monitorCounts('regression')).feedback, before.feedback + 1);
  });

  test('JavaScript off: a cell, "Wrong?", the other label, shared → the server\'s "Thank you" page; /monitor counts it', async () => {
    const before = await monitorCounts('malaria');
    const { page, context, errors } = await open(server, false, PHONE);
    await page.setInputFiles('#image', cellFile);
    await Promise.all([page.waitForURL('**/predict/malaria'), page.click('#malaria button[type="submit"]')]);
    await fillFeedback(page, 'malaria', { otherThan: await answeredLabel(page, 'malaria') });
    assert.deepEqual(await noJsViolations(browser, server.base, page), [], 'axe, the form open');
    await Promise.all([
      page.waitForURL('**/feedback'),
      page.click('#malaria-result form.feedback-form button[type="submit"]'),
    ]);
    assert.equal(
      (await page.locator('#malaria-result p.feedback-done[role="status"]').textContent())?.trim(),
      `${THANKS} ${KEPT}`,
    );
    assert.deepEqual(errors, []);
    await context.close();

    assert.equal((await monitorCounts('malaria')).feedback, before.feedback + 1);
  });

  test('/monitor: axe clean; no sideways scrolling at 390 px; nothing without the token', async () => {
    for (const viewport of [DESKTOP, PHONE]) {
      const { page, context, errors } = await openMonitor(server, viewport);
      assert.equal(await page.locator('section.monitor-model').count(), 3);
      assert.ok((await overflow(page)) <= 0, `no horizontal scrolling at ${viewport.width} px`);
      assert.deepEqual(await seriousViolations(page), []);
      assert.deepEqual(errors, []);
      await context.close();
    }
    // A browser without the token is asked for it, and sees no figure.
    const { page, context } = await open(server, true, DESKTOP, '/monitor');
    assert.equal((await page.reload())?.status(), 401);
    assert.equal(await page.locator('section.monitor-model').count(), 0);
    await context.close();
  });
});

/** `n` cells of the validation split, in an order of this file's own (not the first by name: those are from neighbouring slides). */
function heldOutSample(n: number): CellImageFile[] {
  const files = findCellImages(DATA);
  const held = validationIds(files);
  const perLabel = Math.ceil(n / MALARIA_LABELS.length);
  return MALARIA_LABELS.flatMap((label) =>
    files
      .filter((f) => f.label === label && held.has(f.id))
      .sort((a, b) => (splitKey(a.id, 6) < splitKey(b.id, 6) ? -1 : 1))
      .slice(0, perLabel),
  ).slice(0, n);
}

interface Answer {
  id: string;
  label?: string;
  value?: number;
}

async function postJson(url: string, body: unknown): Promise<{ status: number; json: Answer }> {
  const res = await fetch(url, {
    method: 'POST',
    headers: { 'Content-Type': 'application/json' },
    body: JSON.stringify(body),
  });
  return { status: res.status, json: (await res.json()) as Answer };
}

async function predictCell(on: TestServer, bytes: Buffer): Promise<Answer> {
  const form = new FormData();
  form.append('image', new Blob([new Uint8Array(bytes)], { type: 'image/png' }), 'cell.png');
  const res = await fetch(`${on.base}/api/predict/malaria`, { method: 'POST', body: form });
  assert.equal(res.status, 200);
  return (await res.json()) as Answer;
}

/** Feedback with the true label, as a person who knows it gives: on every wrong answer, and on every `everyRight`-th right one. */
async function feedbackOn(
  on: TestServer,
  answers: { answer: Answer; truth: string }[],
  everyRight: number,
): Promise<number> {
  let sent = 0;
  let right = 0;
  for (const { answer, truth } of answers) {
    const wrong = answer.label !== truth;
    if (!wrong && right++ % everyRight !== 0) continue;
    const res = await postJson(`${on.base}/api/feedback`, { prediction_id: answer.id, label: truth });
    assert.equal(res.status, 201);
    sent += 1;
  }
  return sent;
}

/** The realistic mix on a fresh log: held-out cells, cells at a quarter of their size, held-out reviews, some numbers, and feedback. */
async function feedMix(on: TestServer): Promise<string> {
  const cells = heldOutSample(300);
  const originals: { answer: Answer; truth: string }[] = [];
  for (let i = 0; i < cells.length; i += 4) {
    const batch = cells.slice(i, i + 4);
    const answers = await Promise.all(batch.map((c) => predictCell(on, fs.readFileSync(c.file))));
    answers.forEach((answer, j) => originals.push({ answer, truth: batch[j]!.label }));
  }
  // 200 of them at a quarter of their size: what a new microscope camera might send.
  for (const cell of cells.slice(0, 200)) {
    const bytes = fs.readFileSync(cell.file);
    const { width = 4, height = 4 } = await sharp(bytes).metadata();
    const small = await sharp(bytes)
      .resize(Math.max(1, Math.round(width / 4)), Math.max(1, Math.round(height / 4)), { fit: 'fill' })
      .png()
      .toBuffer();
    await predictCell(on, small);
  }
  const reviews = readReviews(DATA);
  const heldReviews = validationIds(reviews);
  const sample = reviews
    .filter((r) => heldReviews.has(r.id))
    .sort((a, b) => (splitKey(a.id, 6) < splitKey(b.id, 6) ? -1 : 1))
    .slice(0, 40);
  const reviewed: { answer: Answer; truth: string }[] = [];
  for (const r of sample) {
    const res = await postJson(`${on.base}/api/predict/sentiment`, { review: r.text });
    assert.equal(res.status, 200);
    reviewed.push({ answer: res.json, truth: r.label });
  }
  // Numbers as the training data drew them (uniform on the card's x range), and the true line's
  // value for every tenth: people who know the answer, mostly agreeing with the fit.
  const card = JSON.parse(
    fs.readFileSync(path.join(__dirname, '..', '..', 'models', 'regression', 'card.json'), 'utf8'),
  ) as {
    data: { x_range: [number, number] };
    true_line: { slope: number; intercept: number };
  };
  const [lo, hi] = card.data.x_range;
  const draw = mulberry32(26);
  let numberFeedback = 0;
  for (let i = 0; i < 100; i += 1) {
    const x = Math.round((lo + draw() * (hi - lo)) * 100) / 100;
    const res = await postJson(`${on.base}/api/predict/regression`, { x });
    assert.equal(res.status, 200);
    if (i % 10 !== 0) continue;
    const value = Math.round((card.true_line.slope * x + card.true_line.intercept) * 100) / 100;
    assert.equal((await postJson(`${on.base}/api/feedback`, { prediction_id: res.json.id, value })).status, 201);
    numberFeedback += 1;
  }
  const cellFeedback = await feedbackOn(on, originals, 10);
  const reviewFeedback = await feedbackOn(on, reviewed, 5);
  await on.monitoring?.writer.flush();
  return (
    `${originals.length} held-out cells + 200 of them at a quarter size, ${reviewed.length} held-out reviews, 100 numbers; ` +
    `feedback: ${cellFeedback} cells, ${reviewFeedback} reviews, ${numberFeedback} numbers`
  );
}

/** A screenshot saved as a palette PNG (a third of the size: the README's images stay small in the repository). */
async function savePng(shot: Buffer, name: string): Promise<number> {
  fs.mkdirSync(README_IMAGES, { recursive: true });
  const out = path.join(README_IMAGES, name);
  await sharp(shot).png({ palette: true, compressionLevel: 9 }).toFile(out);
  return fs.statSync(out).size;
}

describe(
  "the README's screenshots (SCREENSHOTS=1)",
  { timeout: 300_000, skip: SHOTS ? false : 'set SCREENSHOTS=1 to write docs/images/monitor.png and feedback.png' },
  () => {
    test('docs/images/monitor.png: /monitor after a realistic mix, 1200 px wide', async (t) => {
      if (!fs.existsSync(path.join(DATA, 'malaria'))) return t.skip(`no ${DATA}`);
      const mixed = await monitoredServer('mix');
      try {
        t.diagnostic(await feedMix(mixed));
        const { page, context, errors } = await openMonitor(mixed, { width: 1200, height: 900 });
        const malaria = page.locator('section.monitor-model[data-model="malaria"]');
        assert.equal(await malaria.getAttribute('data-predictions'), '500');
        // The quarter-size cells are seen for what they are.
        assert.equal(await malaria.locator('.drift[data-feature="width"]').getAttribute('data-flagged'), 'true');
        assert.equal(await malaria.locator('.drift[data-feature="height"]').getAttribute('data-flagged'), 'true');
        assert.deepEqual(await seriousViolations(page), []);
        // The header and the cells' section: the whole page (three models) is too tall to read in a README.
        const top = await page.locator('header.site-header').boundingBox();
        const box = await malaria.boundingBox();
        assert.ok(top !== null && box !== null);
        const shot = await page.screenshot({
          fullPage: true,
          clip: { x: 0, y: top.y, width: 1200, height: box.y + box.height + 16 - top.y },
        });
        t.diagnostic(`docs/images/monitor.png: ${await savePng(shot, 'monitor.png')} bytes`);
        assert.deepEqual(errors, []);
        await context.close();
      } finally {
        await mixed.stop();
      }
    });

    test('docs/images/feedback.png: a result with the form open', async (t) => {
      const { page, context, errors } = await open(server, true, { width: 800, height: 900 });
      await page.fill('#review', REVIEW);
      await page.click('#sentiment button[type="submit"]');
      await page.locator('#sentiment-result details.feedback').waitFor();
      await fillFeedback(page, 'sentiment', { otherThan: await answeredLabel(page, 'sentiment') });
      await page.locator('#sentiment-result').scrollIntoViewIfNeeded();
      const shot = await page.locator('#sentiment-result').screenshot();
      t.diagnostic(`docs/images/feedback.png: ${await savePng(shot, 'feedback.png')} bytes`);
      assert.deepEqual(errors, []);
      await context.close();
    });
  },
);
