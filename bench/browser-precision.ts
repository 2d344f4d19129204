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
 */
import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import type { Browser } from 'playwright-core';
import type { TestServer } from '../tests/helpers/browser';
import { type BenchWindow, type Model, ROOT, RUNS, kb, ms, timedPredict } from './browser-page';
import { arg } from '../training/args';
import { quantile } from './stats';

declare const window: BenchWindow;

export const LOADS = 5;
const PRECISIONS = ['float', '8-bit'] as const;
type Precision = (typeof PRECISIONS)[number];
const url = (base: string, p: Precision): string => `${base}/?engine=browser${p === 'float' ? '&precision=float' : ''}`;
const range = (xs: number[]): string => `${ms(quantile(xs, 0.5))} ms (${ms(Math.min(...xs))}–${ms(Math.max(...xs))})`;

interface ServerWithBytes extends Pick<TestServer, 'base'> {
  bytesSent(): number;
}

/** A proxy to `target` whose answers to the browser share one link of `mbit` Mbit/s. */
async function pacedProxy(target: string, mbit: number): Promise<{ base: string; close(): Promise<void> }> {
  const bytesPerMs = (mbit * 1e6) / 8 / 1000;
  let freeAt = 0; // when the link has sent everything queued so far
  const sockets = new Set<net.Socket>();
  const proxy = net.createServer((client) => {
    const upstream = net.connect(Number(new URL(target).port), '127.0.0.1');
    sockets.add(client).add(upstream);
    client.pipe(upstream);
    let sent = Promise.resolve();
    upstream.on('data', (chunk: Buffer) => {
      freeAt = Math.max(freeAt, performance.now()) + chunk.length / bytesPerMs;
      const due = freeAt; // the moment the link has sent this chunk
      sent = sent
        .then(() => new Promise<void>((resolve) => setTimeout(resolve, Math.max(0, due - performance.now()))))
        .then(() => {
          if (!client.destroyed) client.write(chunk);
        });
    });
    upstream.on('end', () => void sent.then(() => client.end()));
    const drop = (): void => {
      client.destroy();
      upstream.destroy();
    };
    client.on('error', drop).on('close', () => upstream.end());
    upstream.on('error', drop);
  });
  await new Promise<void>((resolve) => proxy.listen(0, '127.0.0.1', resolve));
  return {
    base: `http://127.0.0.1:${(proxy.address() as net.AddressInfo).port}`,
    close: () =>
      new Promise<void>((resolve) => {
        for (const s of sockets) s.destroy();
        proxy.close(() => resolve());
      }),
  };
}

/** The first prediction on a cold page, float against 8-bit files; `mbit`: over an emulated network of that speed. */
async function coldLoads(
  browser: Browser,
  server: ServerWithBytes,
  samples: Record<Model, unknown>,
  models: Model[],
  mbit: number | null,
): Promise<void> {
  const network = mbit === null ? 'localhost' : `a ${mbit} Mbit/s link (paced by a proxy)`;
  const link = mbit === null ? null : await pacedProxy(server.base, mbit);
  const base = link?.base ?? server.base;
  console.log(
    `\n## First prediction on a cold page, ${network}: float files (before issue 28) against 8-bit files (now the default), ${LOADS} loads each\n`,
  );
  console.log(
    'New profile each load (empty cache, no service worker); time from navigation start to the answer; median (range).\n',
  );
  console.log('| model | float: time | float: bytes sent | 8-bit: time | 8-bit: bytes sent | 8-bit / float |');
  console.log('|---|---:|---:|---:|---:|---:|');
  for (const model of models) {
    const at: Record<Precision, number[]> = { float: [], '8-bit': [] };
    const bytes: Record<Precision, number[]> = { float: [], '8-bit': [] };
    for (let load = 0; load < LOADS; load++) {
      const order = load % 2 === 0 ? PRECISIONS : ([...PRECISIONS].reverse() as Precision[]);
      for (const p of order) {
        const context = await browser.newContext();
        const page = await context.newPage();
        const before = server.bytesSent();
        await page.goto(url(base, p));
        at[p].push((await timedPredict(page, model, samples[model], 'browser')).at);
        bytes[p].push(server.bytesSent() - before);
        await context.close();
      }
    }
    const ratio = quantile(at['8-bit'], 0.5) / quantile(at.float, 0.5);
    console.log(
      `| ${model} | ${range(at.float)} | ${kb(quantile(bytes.float, 0.5))} | ${range(at['8-bit'])} | ${kb(quantile(bytes['8-bit'], 0.5))} | ${(ratio * 100).toFixed(0)} % |`,
    );
  }
  await link?.close();
}

export async function precisionTimes(
  browser: Browser,
  server: ServerWithBytes,
  samples: Record<Model, unknown>,
  writeCard: boolean,
): Promise<void> {
  const models: Model[] = ['malaria', 'sentiment'];
  await coldLoads(browser, server, samples, models, null);
  const throttle = arg('throttle');
  if (throttle !== undefined) await coldLoads(browser, server, samples, models, Number(throttle));

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
