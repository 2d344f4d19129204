/**
 * The browser engine's costs, measured in real Chromium (Debian's, through playwright-core):
 *  1. what it downloads: each file as the server sends it (brotli where accepted);
 *  2. per model, a first visit (new browser profile: empty HTTP cache, no service worker):
 *     /?engine=browser, then one prediction at once; bytes the server sent until the answer
 *     and time from navigation start to the answer; then until every model is ready offline;
 *  3. a repeat visit (same profile, reload): time to the first answer;
 *  4. warm time per prediction, browser engine and server engine, from the same page;
 *  5. onnxruntime-web with 1 thread against 2 (a page made cross-origin isolated for the
 *     purpose, which threads require): warm time per run of each model;
 *  6. with --agreement and ../shared/data: the canvas alternative to the in-graph resize, i.e.
 *     each validation image fitted into S×S by the browser's canvas, then the model (whose resize
 *     of an S×S image changes nothing), against the server's labels.
 *
 * Usage: npm run build && npm run bench:browser [-- --runs 50] [--agreement]
 * Numbers depend on the machine and its load: the report says when and where it ran.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import * as esbuild from 'esbuild';
import type { Page } from 'playwright-core';
import { projectRoot } from '../src/config';
import type { AssetManifest } from '../src/http/static';
import type { Prediction } from '../src/predictors/types';
import { launchChromium, startTestServer, type TestServer } from '../tests/helpers/browser';
import { cellImage } from '../tests/helpers/app';
import { arg } from '../training/args';
import { readReviews } from '../training/imdb-data';
import { findCellImages } from '../training/malaria-data';
import { validationIds } from '../training/split';
import { quantile } from './stats';

const ROOT = projectRoot();
const DATA = path.join(ROOT, '..', 'shared', 'data');
const MODELS = ['regression', 'malaria', 'sentiment'] as const;
type Model = (typeof MODELS)[number];

const RUNS = Number(arg('runs') ?? 50);

/** The page's globals, as the in-page functions below use them (no DOM types in this project). */
declare const window: {
  mlForms: {
    predict(model: string, input: unknown, options: { engine: string }): Promise<Prediction>;
    ready(): Promise<void>;
  };
  bench(runs: number, threads: number, inputs: unknown): Promise<Record<string, number[]>>;
};
declare const performance: { now(): number };
declare function createImageBitmap(blob: Blob): Promise<{ width: number; height: number }>;
declare class OffscreenCanvas {
  constructor(width: number, height: number);
  getContext(kind: '2d', options: object): { imageSmoothingQuality: string; drawImage(...args: unknown[]): void };
  convertToBlob(options: { type: string }): Promise<Blob>;
}

const kb = (bytes: number): string => `${(bytes / 1024).toFixed(bytes < 10 * 1024 ? 1 : 0)} KB`;
const ms = (v: number): string => (v < 10 ? v.toFixed(2) : v.toFixed(0));

/** Typical inputs: a real held-out cell and a review of median length when the data are here. */
async function inputs(): Promise<{ x: number; image: Buffer; review: string; note: string }> {
  if (!fs.existsSync(path.join(DATA, 'malaria')) || !fs.existsSync(path.join(DATA, 'imdb'))) {
    return {
      x: 7.5,
      image: await cellImage('png', { size: 130, parasite: true }),
      review: 'A warm, funny and beautifully acted film. '.repeat(25),
      note: 'a synthetic 130×130 PNG cell; a made-up review of 1,050 characters',
    };
  }
  const files = findCellImages(DATA);
  const held = validationIds(files);
  const file = (files.find((f) => held.has(f.id)) as { file: string }).file;
  const texts = readReviews(DATA).map((r) => r.text);
  const review = [...texts].sort((a, b) => a.length - b.length)[Math.floor(texts.length / 2)] as string;
  return {
    x: 7.5,
    image: fs.readFileSync(file),
    review,
    note: `the held-out cell ${path.basename(file)}; a training review of median length (${review.length} characters)`,
  };
}

/** mlForms.predict in the page, timed there; `image` as base64 becomes a Blob first. */
async function timedPredict(
  page: Page,
  model: Model,
  input: unknown,
  engine: string,
): Promise<{ at: number; took: number }> {
  return page.evaluate(
    async ([m, i, e]) => {
      const value = m === 'malaria' ? new Blob([Uint8Array.from(atob(i as string), (c) => c.charCodeAt(0))]) : i;
      const start = performance.now();
      await window.mlForms.predict(m, value, { engine: e });
      const at = performance.now();
      return { at, took: at - start };
    },
    [model, input, engine] as const,
  );
}

/** The harness for threads: onnxruntime-web alone, its thread count from the URL. */
const HARNESS = `
import * as ort from 'onnxruntime-web/wasm';
if (typeof document !== 'undefined') {
  const params = new URLSearchParams(location.search);
  ort.env.wasm.numThreads = Number(params.get('threads'));
  ort.env.wasm.wasmPaths = { wasm: params.get('wasm') };
  window.bench = async (runs, _threads, inputs) => {
    const out = { isolated: [crossOriginIsolated ? 1 : 0] };
    for (const [name, url, feed] of inputs) {
      const session = await ort.InferenceSession.create(new Uint8Array(await (await fetch(url)).arrayBuffer()));
      const data = feed.type === 'string' ? feed.data : feed.type === 'float32' ? Float32Array.from(feed.data) : Uint8Array.from(feed.data);
      const feeds = { [feed.name]: new ort.Tensor(feed.type, data, feed.dims) };
      for (let i = 0; i < 3; i++) await session.run(feeds);
      const times = [];
      for (let i = 0; i < runs; i++) {
        const start = performance.now();
        await session.run(feeds);
        times.push(performance.now() - start);
      }
      out[name] = times;
      await session.release();
    }
    return out;
  };
}
`;

async function harnessServer(): Promise<{ server: TestServer; script: string }> {
  const built = await esbuild.build({
    stdin: { contents: HARNESS, resolveDir: ROOT, loader: 'js' },
    bundle: true,
    format: 'esm',
    write: false,
    minify: true,
    logLevel: 'error',
  });
  const script = built.outputFiles[0]?.text ?? '';
  const isolated = { 'Cross-Origin-Opener-Policy': 'same-origin', 'Cross-Origin-Embedder-Policy': 'require-corp' };
  const server = await startTestServer({
    intercept: (req, res) => {
      if (req.url?.startsWith('/__bench/page') === true) {
        res.writeHead(200, { 'Content-Type': 'text/html', ...isolated });
        res.end('<!doctype html><title>bench</title><script type="module" src="/__bench/harness.js"></script>');
        return true;
      }
      if (req.url === '/__bench/harness.js') {
        res.writeHead(200, {
          'Content-Type': 'text/javascript',
          ...isolated,
          'Cross-Origin-Resource-Policy': 'same-origin',
        });
        res.end(script);
        return true;
      }
      return false;
    },
  });
  return { server, script };
}

async function main(): Promise<void> {
  const manifestFile = path.join(ROOT, 'dist', 'public', 'assets.json');
  if (!fs.existsSync(manifestFile)) throw new Error('no browser build: run npm run build first');
  const manifest = JSON.parse(fs.readFileSync(manifestFile, 'utf8')) as AssetManifest;
  const data = await inputs();
  const samples: Record<Model, unknown> = {
    regression: data.x,
    malaria: data.image.toString('base64'),
    sentiment: data.review,
  };
  const browser = await launchChromium();
  const { server } = await harnessServer();
  const started = new Date();
  console.log(`# Browser engine costs (bench/browser.ts)\n`);
  console.log(
    `${started.toISOString()}, ${os.cpus().length} × ${os.cpus()[0]?.model.trim()}, load average ${os.loadavg()[0]?.toFixed(1)}, ${(await browser.version()).trim()} headless, server on 127.0.0.1 (no network latency).`,
  );
  console.log(`Inputs: x = ${data.x}; ${data.note}.\n`);

  console.log('## What the browser engine downloads (as sent with Accept-Encoding: br)\n');
  console.log('| file | bytes | brotli |\n|---|---:|---:|');
  for (const [url, entry] of Object.entries(manifest.files)) {
    const raw = fs.statSync(path.join(ROOT, entry.file)).size;
    const br = entry.encodings.br === undefined ? raw : fs.statSync(path.join(ROOT, entry.encodings.br)).size;
    console.log(`| ${url} | ${raw.toLocaleString('en-US')} | ${br.toLocaleString('en-US')} |`);
  }

  console.log('\n## First visit, per model: /?engine=browser in a new profile, one prediction at once\n');
  console.log(
    '| model | bytes sent until the answer | time to the answer | then all three models offline-ready | repeat visit: time to the answer |',
  );
  console.log('|---|---:|---:|---:|---:|');
  for (const model of MODELS) {
    const context = await browser.newContext();
    const page = await context.newPage();
    const before = server.bytesSent();
    await page.goto(`${server.base}/?engine=browser`);
    const first = await timedPredict(page, model, samples[model], 'browser');
    const firstBytes = server.bytesSent() - before;
    await page.evaluate(() => window.mlForms.ready());
    const allBytes = server.bytesSent() - before;
    const allAt = await page.evaluate(() => performance.now());
    await page.reload();
    const again = await timedPredict(page, model, samples[model], 'browser');
    console.log(
      `| ${model} | ${kb(firstBytes)} | ${ms(first.at)} ms | ${kb(allBytes)} by ${ms(allAt)} ms | ${ms(again.at)} ms |`,
    );
    await context.close();
  }

  console.log(`\n## Warm time per prediction (${RUNS} runs after 3 warm-up runs; median / 90th percentile)\n`);
  console.log('| model | in this browser | on the server (HTTP on localhost) |\n|---|---:|---:|');
  {
    const context = await browser.newContext();
    const page = await context.newPage();
    await page.goto(`${server.base}/?engine=browser`);
    await page.evaluate(() => window.mlForms.ready());
    for (const model of MODELS) {
      const row: string[] = [];
      for (const engine of ['browser', 'server']) {
        for (let i = 0; i < 3; i++) await timedPredict(page, model, samples[model], engine);
        const times: number[] = [];
        for (let i = 0; i < RUNS; i++) times.push((await timedPredict(page, model, samples[model], engine)).took);
        row.push(`${ms(quantile(times, 0.5))} / ${ms(quantile(times, 0.9))} ms`);
      }
      console.log(`| ${model} | ${row.join(' | ')} |`);
    }
    await context.close();
  }

  console.log(`\n## onnxruntime-web threads: session.run() alone, ${RUNS} runs (median / 90th percentile)\n`);
  const cards = (
    (await (await fetch(`${server.base}/api/models`)).json()) as { models: Array<{ name: string; version: string }> }
  ).models;
  const url = (name: string): string => `/models/${name}/${cards.find((c) => c.name === name)?.version}/model.onnx`;
  const feeds = [
    ['regression', url('regression'), { name: 'x', type: 'float32', data: [data.x], dims: [1, 1] }],
    [
      'malaria',
      url('malaria'),
      {
        name: 'image',
        type: 'uint8',
        data: Array.from({ length: 130 * 130 * 3 }, (_, i) => (i * 37) % 256),
        dims: [1, 130, 130, 3],
      },
    ],
    ['sentiment', url('sentiment'), { name: 'review', type: 'string', data: [data.review], dims: [1] }],
  ];
  const wasm = Object.keys(manifest.files).find((u) => u.endsWith('.wasm')) as string;
  const byThreads: Record<number, Record<string, number[]>> = {};
  for (const threads of [1, 2]) {
    const context = await browser.newContext();
    const page = await context.newPage();
    await page.goto(`${server.base}/__bench/page?threads=${threads}&wasm=${encodeURIComponent(wasm)}`);
    await page.waitForFunction('typeof window.bench === "function"');
    byThreads[threads] = await page.evaluate(([r, t, f]) => window.bench(r, t, f), [RUNS, threads, feeds] as const);
    await context.close();
  }
  console.log(
    `| model | 1 thread | 2 threads (cross-origin isolated: ${byThreads[2]?.isolated?.[0] === 1 ? 'yes' : 'NO'}) |\n|---|---:|---:|`,
  );
  for (const model of MODELS) {
    const cell = (t: number): string => {
      const v = byThreads[t]?.[model] ?? [];
      return `${ms(quantile(v, 0.5))} / ${ms(quantile(v, 0.9))} ms`;
    };
    console.log(`| ${model} | ${cell(1)} | ${cell(2)} |`);
  }

  if (process.argv.includes('--agreement')) await canvasAgreement(browser, server);
  await browser.close();
  await server.stop();
  console.log(`\n(${((Date.now() - started.getTime()) / 1000).toFixed(0)} s)`);
}

/**
 * The alternative to the in-graph resize: the browser fits each image into S×S with a canvas
 * (drawImage, imageSmoothingQuality 'high', black padding), and the model gets that. The model's own
 * resize of an S×S input is the identity, so the answer is the canvas resize's.
 */
async function canvasAgreement(browser: Awaited<ReturnType<typeof launchChromium>>, server: TestServer): Promise<void> {
  if (!fs.existsSync(path.join(DATA, 'malaria'))) {
    console.log('\n(--agreement: no ../shared/data, skipped)');
    return;
  }
  const files = findCellImages(DATA);
  const held = validationIds(files);
  const validation = files.filter((f) => held.has(f.id));
  const malaria = server.registry.get('malaria');
  const size = malaria.card.image_size as number;
  const context = await browser.newContext({ serviceWorkers: 'block' });
  const page = await context.newPage();
  await page.goto(`${server.base}/?engine=browser`);
  await page.evaluate(() => window.mlForms.ready());
  let agree = 0;
  let correct = 0;
  let serverCorrect = 0;
  for (let start = 0; start < validation.length; start += 250) {
    const batch = validation.slice(start, start + 250);
    const bytes = batch.map((f) => fs.readFileSync(f.file));
    const [here, there] = await Promise.all([
      page.evaluate(
        async ([images, s]) => {
          const out: string[] = [];
          for (const b64 of images) {
            const bitmap = await createImageBitmap(new Blob([Uint8Array.from(atob(b64), (c) => c.charCodeAt(0))]));
            const scale = Math.min(s / bitmap.width, s / bitmap.height);
            const [w, h] = [
              Math.max(1, Math.round(bitmap.width * scale)),
              Math.max(1, Math.round(bitmap.height * scale)),
            ];
            const canvas = new OffscreenCanvas(s, s);
            const ctx = canvas.getContext('2d', { alpha: false });
            ctx.imageSmoothingQuality = 'high';
            ctx.drawImage(bitmap, Math.floor((s - w) / 2), Math.floor((s - h) / 2), w, h);
            const png = await canvas.convertToBlob({ type: 'image/png' });
            out.push((await window.mlForms.predict('malaria', png, { engine: 'browser' })).label as string);
          }
          return out;
        },
        [bytes.map((b) => b.toString('base64')), size] as const,
      ),
      Promise.all(bytes.map(async (b) => (await malaria.predict(b)).label as string)),
    ]);
    here.forEach((label, i) => {
      const truth = batch[i]?.label;
      if (label === there[i]) agree++;
      if (label === truth) correct++;
      if (there[i] === truth) serverCorrect++;
    });
  }
  const n = validation.length;
  const pct = (k: number): string => `${((k / n) * 100).toFixed(2)} %`;
  console.log(
    `\n## The canvas alternative to the in-graph resize (malaria version ${malaria.card.version}, ${n} validation images)\n`,
  );
  console.log(`Labels equal to the server's: ${pct(agree)}; accuracy ${pct(correct)} (server ${pct(serverCorrect)}).`);
  await context.close();
}

main().catch((err: unknown) => {
  console.error(err);
  process.exit(1);
});
