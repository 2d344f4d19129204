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
 *  5b. float against 8-bit files (issue 28): the first prediction on a cold page, median of 5 loads
 *     of each, and warm time per prediction (bench/browser-precision.ts; --card writes the warm
 *     times into the cards; --precision-only runs 1 and this part alone; --before DIR [--rounds N]:
 *     the cold loads against the app before issue 28 built in DIR, bench/browser-cold.ts);
 *  6. with --agreement and ../shared/data: the canvas alternative to the in-graph resize, i.e.
 *     each validation image fitted into S×S by the browser's canvas, then the model (whose resize
 *     of an S×S image changes nothing), against the server's labels.
 *
 * Parts: bench/browser-page.ts (inputs and timing in the page, shared), bench/browser-threads.ts (5),
 * bench/browser-precision.ts and bench/browser-cold.ts (5b), bench/browser-agreement.ts (6).
 *
 * Usage: npm run build && npm run bench:browser [-- --runs 50] [--agreement] [--precision-only] [--card]
 *        [--throttle MBIT] [--before DIR [--rounds 5]]
 * Numbers depend on the machine and its load: the report says when and where it ran.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { AssetManifest } from '../src/http/static';
import { launchChromium } from '../tests/helpers/browser';
import { canvasAgreement } from './browser-agreement';
import { type BenchWindow, MODELS, type Model, ROOT, RUNS, inputs, kb, ms, timedPredict } from './browser-page';
import { precisionTimes } from './browser-precision';
import { harnessServer, threadTimes } from './browser-threads';
import { quantile } from './stats';

declare const window: BenchWindow;
declare const performance: { now(): number };

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

  const download = path.join(ROOT, 'dist', 'public', 'download.json');
  if (fs.existsSync(download)) {
    const d = JSON.parse(fs.readFileSync(download, 'utf8')) as {
      runtime: { served: number };
      models: Record<string, { served: number }>;
    };
    console.log(
      '\nAll three models and the runtime, as served (brotli; dist/public/download.json, what the engine switch says):\n',
    );
    console.log('| models | runtime | models | total |\n|---|---:|---:|---:|');
    for (const [p, m] of Object.entries(d.models)) {
      console.log(
        `| ${p} | ${d.runtime.served.toLocaleString('en-US')} B | ${m.served.toLocaleString('en-US')} B | ${(d.runtime.served + m.served).toLocaleString('en-US')} B |`,
      );
    }
  }

  if (process.argv.includes('--precision-only')) {
    await precisionTimes(browser, server, samples, process.argv.includes('--card'));
    await browser.close();
    await server.stop();
    console.log(`\n(${((Date.now() - started.getTime()) / 1000).toFixed(0)} s)`);
    return;
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

  await precisionTimes(browser, server, samples, process.argv.includes('--card'));

  await threadTimes(browser, server, manifest, data);

  if (process.argv.includes('--agreement')) await canvasAgreement(browser, server);
  await browser.close();
  await server.stop();
  console.log(`\n(${((Date.now() - started.getTime()) / 1000).toFixed(0)} s)`);
}

main().catch((err: unknown) => {
  console.error(err);
  process.exit(1);
});
