/**
 * A fourth model in a real browser (issue 23, "one place per model"): the app serves the table
 * [...MODELS, sign] (the fixture tests/fixtures/models/sign/, artifacts written to a models folder
 * of the test's own), and the page's scripts, which know no model by name, handle its form as the
 * others: the page script submits it to /api/predict/sign and draws the answer in its card;
 * window.mlForms.predict sends it as its form does ({"x": …}) and rejects bad input with the API's
 * error; the multi-image table stays with the image model's form. The browser engine is not tried
 * on it: its bundle holds the table it was built with (src/models/index.ts).
 *
 * Run: npm run test:e2e (it runs the browser build first).
 */
import assert from 'node:assert/strict';
import fs from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import type { Browser, Page } from 'playwright-core';
import { createApp } from '../../app';
import { buildBrowser } from '../../src/build/browser';
import { loadConfig } from '../../src/config';
import { OnnxBackend } from '../../src/inference/onnx';
import { MODELS } from '../../src/models';
import { Registry } from '../../src/predictors/registry';
import { writeSignModel } from '../fixtures/models/sign/artifacts';
import { sign } from '../fixtures/models/sign/index';
import { launchChromium, seriousViolations } from '../helpers/browser';

const ROOT = path.join(__dirname, '..', '..');

/** The page's global, as the functions below that run in the page use it (no DOM types here). */
declare const window: {
  mlForms: { predict(model: string, input: unknown, options: { engine: string }): Promise<unknown> };
};

let browser: Browser;
let server: http.Server;
let registry: Registry;
let base: string;
let modelsDir: string;

/** mlForms.predict in the page; a rejection comes back as { error: { status, code, message } }. */
function predict(page: Page, model: string, input: unknown): Promise<unknown> {
  return page.evaluate(
    async ([m, i]) => {
      try {
        return await window.mlForms.predict(m, i, { engine: 'server' });
      } catch (err) {
        const { status, code, message } = err as { status: number; code: string; message: string };
        return { error: { status, code, message } };
      }
    },
    [model, input] as const,
  );
}

/** The JSON API's answer, asked from here (not the page). */
async function api(body: unknown): Promise<{ status: number; json: unknown }> {
  const res = await fetch(`${base}/api/predict/sign`, {
    method: 'POST',
    headers: { 'Content-Type': 'application/json', Accept: 'application/json' },
    body: JSON.stringify(body),
  });
  return { status: res.status, json: await res.json() };
}

before(async () => {
  await buildBrowser(ROOT, () => undefined);
  // The three real models as they are, and the fixture's artifacts beside them.
  modelsDir = fs.mkdtempSync(path.join(os.tmpdir(), 'ml-forms-fourth-'));
  for (const m of MODELS) fs.symlinkSync(path.join(ROOT, 'models', m.name), path.join(modelsDir, m.name), 'dir');
  await writeSignModel(modelsDir);
  const config = loadConfig({ NODE_ENV: 'test', MODELS_DIR: modelsDir });
  registry = new Registry(
    new OnnxBackend(),
    modelsDir,
    { maxPixels: config.maxImagePixels },
    { table: [...MODELS, sign] },
  );
  await registry.load();
  server = http.createServer(createApp({ config, registry }));
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  browser = await launchChromium();
});

after(async () => {
  await browser?.close();
  if (server !== undefined) {
    const closed = new Promise<void>((resolve) => server.close(() => resolve()));
    server.closeAllConnections();
    await closed;
  }
  await registry?.close();
  fs.rmSync(modelsDir, { recursive: true, force: true });
});

describe('a fourth model, known only to the table the app serves', { timeout: 180_000 }, () => {
  test('the page script submits its form to the JSON API and draws the answer in its card', async () => {
    const context = await browser.newContext();
    const page = await context.newPage();
    const errors: string[] = [];
    page.on('pageerror', (err) => errors.push(String(err)));
    page.on('console', (msg) => {
      if (msg.type() === 'error') errors.push(msg.text());
    });
    assert.equal((await page.goto(`${base}/`))?.status(), 200);
    const posted: string[] = [];
    page.on('request', (r) => {
      if (r.method() === 'POST') posted.push(`${new URL(r.url()).pathname} ${r.postData() ?? ''}`);
    });
    await page.fill('#sign input[name="x"]', '-2.5');
    await page.click('#sign button[type="submit"]');
    const statement = page.locator('#sign-result .prediction');
    await statement.waitFor();
    const expected = (await api({ x: -2.5 })).json as { statement: string; scores: Record<string, number> };
    assert.equal((await statement.textContent())?.trim(), expected.statement);
    assert.equal(await page.locator('#sign-result meter').count(), Object.keys(expected.scores).length);
    assert.deepEqual(posted, ['/api/predict/sign {"x":-2.5}'], 'sent as fetch to the JSON API, not a form post');
    assert.equal(page.url(), `${base}/`, 'the page stayed');
    assert.deepEqual(errors, []);

    // A refused value: the API's message beside the form (Chromium logs the 400 itself).
    await page.fill('#sign input[name="x"]', 'abc');
    await page.click('#sign button[type="submit"]');
    const refused = (await api({ x: 'abc' })).json as { error: { message: string } };
    await page.locator('#sign-error', { hasText: refused.error.message }).waitFor();
    assert.equal(await page.getAttribute('#sign input[name="x"]', 'aria-invalid'), 'true');
    assert.deepEqual(await seriousViolations(page), []);
    await context.close();
  });

  test('window.mlForms.predict sends it as its form does and rejects with the API errors', async () => {
    const context = await browser.newContext();
    const page = await context.newPage();
    assert.equal((await page.goto(`${base}/`))?.status(), 200);
    assert.deepEqual(await predict(page, 'sign', 3), (await api({ x: 3 })).json);
    assert.deepEqual(await predict(page, 'sign', '-7'), (await api({ x: '-7' })).json);
    for (const input of ['abc', null]) {
      const answer = await api(input === null ? {} : { x: input });
      const { error } = answer.json as { error: { code: string; message: string } };
      assert.deepEqual(await predict(page, 'sign', input), { error: { status: answer.status, ...error } });
    }
    assert.deepEqual(await predict(page, 'no-such-model', 3), {
      error: { status: 404, code: 'not_found', message: 'No model "no-such-model".' },
    });
    await context.close();
  });

  test("the multi-image table stays with the image model's form", async () => {
    const context = await browser.newContext();
    const page = await context.newPage();
    assert.equal((await page.goto(`${base}/`))?.status(), 200);
    await page.waitForFunction('document.readyState === "complete"');
    const image = MODELS.filter((m) => m.input.kind === 'image').map((m) => m.name);
    // public/batch.js adds its "images chosen" note to each image form's drop zone, and only there.
    const notes = await page.evaluate<string[]>(
      `Array.from(document.querySelectorAll('p.batch-chosen')).map(p => p.closest('form').dataset.model)`,
    );
    assert.deepEqual(notes, image);
    await context.close();
  });
});
