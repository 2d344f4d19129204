/**
 * The first prediction on a cold page, for `npm run bench:browser` (bench/browser-precision.ts):
 * each load a new browser context (empty HTTP cache, no service worker), /?engine=browser…, one
 * prediction at once; time from navigation start to the answer and bytes the server sent until
 * then. Several variants (a precision, or another build of the app: --before DIR) alternate
 * within each round, their order reversed every other round, so the machine's load falls on all
 * alike; medians with the range, and each variant's ratio to the first one per round.
 *
 * Also the servers and links this needs: a built checkout of the app started as a process of its
 * own (`node dist/server.js`), and proxies in front of a server that count what it sends or pace
 * it to a link of some Mbit/s.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import net from 'node:net';
import path from 'node:path';
import type { Browser } from 'playwright-core';
import { type Model, kb, ms, timedPredict } from './browser-page';
import { quantile } from './stats';

export interface Target {
  /** What the table calls it. */
  label: string;
  /** Where the browser goes: the page with its query. */
  url: string;
  bytesSent(): number;
}

export interface Proxy {
  base: string;
  bytesSent(): number;
  close(): Promise<void>;
}

const range = (xs: number[]): string => `${ms(quantile(xs, 0.5))} ms (${ms(Math.min(...xs))}–${ms(Math.max(...xs))})`;

/**
 * A proxy to `target` that counts the bytes sent to the browser; with `mbit`, everything the
 * server sends shares one link of that many Mbit/s, as a visitor's line (Chromium's own network
 * emulation leaves the service worker's fetches unthrottled).
 */
export async function proxy(target: string, mbit: number | null = null): Promise<Proxy> {
  const bytesPerMs = mbit === null ? Infinity : (mbit * 1e6) / 8 / 1000;
  let freeAt = 0; // when the link has sent everything queued so far
  let sentBytes = 0;
  const sockets = new Set<net.Socket>();
  const server = net.createServer((client) => {
    const upstream = net.connect(Number(new URL(target).port), '127.0.0.1');
    sockets.add(client).add(upstream);
    client.pipe(upstream);
    let sent = Promise.resolve();
    upstream.on('data', (chunk: Buffer) => {
      sentBytes += chunk.length;
      if (mbit === null) {
        if (!client.destroyed) client.write(chunk);
        return;
      }
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
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    base: `http://127.0.0.1:${(server.address() as net.AddressInfo).port}`,
    bytesSent: () => sentBytes,
    close: () =>
      new Promise<void>((resolve) => {
        for (const s of sockets) s.destroy();
        server.close(() => resolve());
      }),
  };
}

async function freePort(): Promise<number> {
  const probe = net.createServer();
  await new Promise<void>((resolve) => probe.listen(0, '127.0.0.1', resolve));
  const { port } = probe.address() as net.AddressInfo;
  await new Promise<void>((resolve) => probe.close(() => resolve()));
  return port;
}

/** The app built in `dir` (npm run build done there), one HTTP process, once /readyz answers 200. */
export async function startBuiltApp(dir: string): Promise<{ base: string; stop(): Promise<void> }> {
  const port = await freePort();
  const child: ChildProcess = spawn(process.execPath, [path.join(dir, 'dist', 'server.js')], {
    cwd: dir,
    env: { ...process.env, NODE_ENV: 'test', PORT: String(port), WEB_CONCURRENCY: '1', LOG_LEVEL: 'silent' },
    stdio: ['ignore', 'ignore', 'inherit'],
  });
  const base = `http://127.0.0.1:${port}`;
  const deadline = Date.now() + 60_000;
  for (;;) {
    if (child.exitCode !== null) throw new Error(`${dir}: the server exited (${child.exitCode})`);
    const ok = await fetch(`${base}/readyz`).then(
      (res) => res.ok,
      () => false,
    );
    if (ok) break;
    if (Date.now() > deadline) throw new Error(`${dir}: not ready within 60 s`);
    await new Promise((resolve) => setTimeout(resolve, 200));
  }
  return {
    base,
    stop: () =>
      new Promise<void>((resolve) => {
        child.once('exit', () => resolve());
        child.kill('SIGTERM');
      }),
  };
}

/**
 * `rounds` rounds, each one cold load of every target per model; prints one table per model:
 * each target's time and bytes (median and range), then each later target against the first.
 */
export async function coldRounds(
  browser: Browser,
  targets: Target[],
  samples: Record<Model, unknown>,
  models: Model[],
  rounds: number,
): Promise<Record<string, Record<string, number>>> {
  const ratios: Record<string, Record<string, number>> = {};
  for (const model of models) {
    const at = targets.map((): number[] => []);
    const bytes = targets.map((): number[] => []);
    for (let round = 0; round < rounds; round++) {
      const order = targets.map((_, i) => i);
      if (round % 2 === 1) order.reverse();
      for (const i of order) {
        const target = targets[i] as Target;
        const context = await browser.newContext();
        const page = await context.newPage();
        const before = target.bytesSent();
        await page.goto(target.url);
        (at[i] as number[]).push((await timedPredict(page, model, samples[model], 'browser')).at);
        (bytes[i] as number[]).push(target.bytesSent() - before);
        await context.close();
      }
    }
    console.log(`\n### ${model}: ${rounds} rounds\n`);
    console.log('| variant | time to the answer: median (range) | bytes sent (median) | / first: median | per round |');
    console.log('|---|---:|---:|---:|---|');
    const first = at[0] as number[];
    ratios[model] = {};
    targets.forEach((target, i) => {
      const xs = at[i] as number[];
      const perRound = xs.map((x, r) => x / (first[r] as number));
      const ratio = quantile(xs, 0.5) / quantile(first, 0.5);
      (ratios[model] as Record<string, number>)[target.label] = ratio;
      console.log(
        `| ${target.label} | ${range(xs)} | ${kb(quantile(bytes[i] as number[], 0.5))} | ${i === 0 ? '' : `${(ratio * 100).toFixed(0)} %`} | ${i === 0 ? '' : perRound.map((r) => `${(r * 100).toFixed(0)} %`).join(', ')} |`,
      );
    });
  }
  return ratios;
}
