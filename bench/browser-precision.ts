/**
 * Float against 8-bit files in the browser engine (issue 28), for `npm run bench:browser`:
 *  - the first prediction on a cold page: a new browser profile (empty HTTP cache, no service
 *    worker), /?engine=browser (8-bit, the default now) or /?engine=browser&precision=float (the
 *    files the engine downloaded before), one prediction at once; time from navigation start to
 *    the answer and bytes the server sent until then; 5 loads of each (the two alternate, so the
 *    machine's load falls on both alike), medians with the range;
 *  - warm time per prediction in this browser, each precision in its own page.
 * With --card, the warm medians go into the cards' quantized.ms_per_prediction.chromium. With
 * --throttle MBIT, the cold loads are measured again over a link of MBIT Mbit/s: a proxy here
 * paces everything the server sends to the browser (all connections share the link, as a
 * visitor's line; Chromium's own network emulation leaves the service worker's fetches
 * unthrottled). On localhost the 1.3 MB the 8-bit files save cost next to nothing.
 * With --before DIR (a built checkout of the app before issue 28, 9479291^), the cold loads are
 * that app (its engine downloads the float files) against this one, 8-bit and float, each app a
 * process of its own, over --rounds N rounds (5 by default), with each round's ratios
 * (bench/browser-cold.ts).
 */
import fs from 'node:fs';
import path from 'node:path';
import type { Browser } from 'playwright-core';
import type { TestServer } from '../tests/helpers/browser';
import { coldRounds, proxy, startBuiltApp } from './browser-cold';
import { type BenchWindow, type Model, ROOT, RUNS, ms, timedPredict } from './browser-page';
import { arg } from '../training/args';
import { quantile } from './stats';

declare const window: BenchWindow;

export const LOADS = 5;
const PRECISIONS = ['float', '8-bit'] as const;
type Precision = (typeof PRECISIONS)[number];
const url = (base: string, p: Precision): string => `${base}/?engine=browser${p === 'float' ? '&precision=float' : ''}`;

interface ServerWithBytes extends Pick<TestServer, 'base'> {
  bytesSent(): number;
}

/** The first prediction on a cold page, float against 8-bit files; `mbit`: over a link of that speed. */
async function coldLoads(
  browser: Browser,
  server: ServerWithBytes,
  samples: Record<Model, unknown>,
  models: Model[],
  mbit: number | null,
): Promise<void> {
  const link = mbit === null ? null : await proxy(server.base, mbit);
  const network = mbit === null ? 'localhost' : `a ${mbit} Mbit/s link (paced by a proxy)`;
  console.log(
    `\n## First prediction on a cold page, ${network}: float files (before issue 28) against 8-bit files (now the default), ${LOADS} loads each\n`,
  );
  console.log('New profile each load (empty cache, no service worker); time from navigation start to the answer.');
  const bytesSent = link === null ? () => server.bytesSent() : () => link.bytesSent();
  const targets = PRECISIONS.map((p) => ({ label: p, url: url(link?.base ?? server.base, p), bytesSent }));
  await coldRounds(browser, targets, samples, models, LOADS);
  await link?.close();
}

/**
 * --before DIR: the app before issue 28 (DIR, a built checkout of 9479291^; its engine downloads
 * the float files) against this one (8-bit by default, and float), each started as a process of
 * its own behind a proxy that counts (and with --throttle, paces) what it sends.
 */
async function againstBefore(
  browser: Browser,
  dir: string,
  samples: Record<Model, unknown>,
  models: Model[],
  mbit: number | null,
): Promise<void> {
  const rounds = Number(arg('rounds') ?? LOADS);
  const apps = [await startBuiltApp(path.resolve(dir)), await startBuiltApp(ROOT)];
  const [before, now] = await Promise.all(apps.map((app) => proxy(app.base, mbit)));
  if (before === undefined || now === undefined) throw new Error('no proxy');
  const network = mbit === null ? 'localhost (through a counting proxy)' : `a ${mbit} Mbit/s link (paced by a proxy)`;
  console.log(
    `\n## First prediction on a cold page, before issue 28 (${dir}) against now, ${network}, ${rounds} rounds\n`,
  );
  console.log(
    'Each load a new profile (empty cache, no service worker), /?engine=browser, one prediction at once; time from navigation start to the answer. The variants alternate, their order reversed every other round.',
  );
  await coldRounds(
    browser,
    [
      { label: 'before issue 28 (float, its default)', url: url(before.base, 'float'), bytesSent: before.bytesSent },
      { label: 'now, 8-bit (the default)', url: url(now.base, '8-bit'), bytesSent: now.bytesSent },
      { label: 'now, float (&precision=float)', url: url(now.base, 'float'), bytesSent: now.bytesSent },
    ],
    samples,
    models,
    rounds,
  );
  await Promise.all([before.close(), now.close()]);
  await Promise.all(apps.map((app) => app.stop()));
}

export async function precisionTimes(
  browser: Browser,
  server: ServerWithBytes,
  samples: Record<Model, unknown>,
  writeCard: boolean,
): Promise<void> {
  const models: Model[] = ['malaria', 'sentiment'];
  const throttle = arg('throttle');
  const beforeDir = arg('before');
  for (const mbit of throttle === undefined ? [null] : [null, Number(throttle)]) {
    if (beforeDir === undefined) await coldLoads(browser, server, samples, models, mbit);
    else await againstBefore(browser, beforeDir, samples, models, mbit);
  }

  console.log(
    `\n## Warm time per prediction in this browser, float against 8-bit (${RUNS} runs after 3 warm-up runs; median / 90th percentile)\n`,
  );
  console.log('| model | float | 8-bit |\n|---|---:|---:|');
  const warm: Record<string, Record<Precision, { median: number; p90: number }>> = {};
  const pages = new Map<Precision, Awaited<ReturnType<Browser['newContext']>>>();
  for (const p of PRECISIONS) {
    const context = await browser.newContext();
    const page = await context.newPage();
    await page.goto(url(server.base, p));
    await page.evaluate(() => window.mlForms.ready());
    pages.set(p, context);
  }
  for (const model of models) {
    const row = {} as Record<Precision, { median: number; p90: number }>;
    for (const p of PRECISIONS) {
      const page = (pages.get(p) as Awaited<ReturnType<Browser['newContext']>>).pages()[0];
      if (page === undefined) throw new Error('no page');
      for (let i = 0; i < 3; i++) await timedPredict(page, model, samples[model], 'browser');
      const times: number[] = [];
      for (let i = 0; i < RUNS; i++) times.push((await timedPredict(page, model, samples[model], 'browser')).took);
      row[p] = { median: quantile(times, 0.5), p90: quantile(times, 0.9) };
    }
    warm[model] = row;
    console.log(
      `| ${model} | ${ms(row.float.median)} / ${ms(row.float.p90)} ms | ${ms(row['8-bit'].median)} / ${ms(row['8-bit'].p90)} ms |`,
    );
  }
  for (const context of pages.values()) await context.close();

  if (writeCard) {
    for (const [model, row] of Object.entries(warm)) {
      const file = path.join(ROOT, 'models', model, 'card.json');
      const card = JSON.parse(fs.readFileSync(file, 'utf8')) as {
        quantized?: { ms_per_prediction?: Record<string, unknown> };
      };
      if (card.quantized?.ms_per_prediction === undefined) continue;
      const r = (x: number): number => Math.round(x * 100) / 100;
      card.quantized.ms_per_prediction.chromium = {
        float: { median: r(row.float.median), p90: r(row.float.p90) },
        q8: { median: r(row['8-bit'].median), p90: r(row['8-bit'].p90) },
        how: `mlForms.predict in the page (decode, checks, onnxruntime-web 1 thread WebAssembly, postprocessing), ${RUNS} runs after 3 warm-up runs, Chromium headless (npm run bench:browser -- --card), ${new Date().toISOString().slice(0, 10)}`,
      };
      fs.writeFileSync(file, `${JSON.stringify(card, null, 2)}\n`);
      console.log(`models/${model}/card.json: quantized.ms_per_prediction.chromium written`);
    }
  }
}
