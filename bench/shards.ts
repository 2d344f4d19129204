/**
 * Sharding's cost (issue 27, must hold 4): `npx tsx bench/shards.ts [-- --data ../shared/data]`
 * (a few minutes). On the same 2,000 held-out cell images (1,000 per class), copied to a temporary
 * folder, with the built command (`node dist/src/cli/main.js`, built first if stale):
 *  1. one unsharded run with --concurrency 4;
 *  2. four shards at once, each --concurrency 1 (the same 4 inference threads in all), then the
 *     merge: wall clock from the first spawn to the merge's exit, model loading in every shard
 *     included;
 *  3. the same four shards with --url against a running server (in process there), each shard's
 *     own rate and the total throughput.
 * Each is run `REPEATS` times (5; `--rounds N`), alternating, and the median with its range and
 * the per-round ratios are reported; the merge's output is
 * checked to equal the unsharded run's, byte for byte.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { dataDir } from '../training/args';
import { copyIntoLabelFolders, heldOutCells } from '../training/malaria-data';
import { ROOT, buildIfStale } from './lib';

const PER_CLASS = 1000;
const SHARDS = 4;
/** Rounds, each the unsharded run then the sharded one (`--rounds N`; at least 5 on a shared machine). */
const REPEATS = Number(/--rounds[= ](\d+)/.exec(process.argv.slice(2).join(' '))?.[1] ?? 5);

/** Runs the built command; its exit code, standard error and wall-clock seconds. */
async function run(main: string, args: string[]): Promise<{ code: number | null; stderr: string; seconds: number }> {
  const started = performance.now();
  const child = spawn(process.execPath, [main, ...args], { stdio: ['ignore', 'ignore', 'pipe'] });
  let stderr = '';
  child.stderr?.setEncoding('utf8').on('data', (d: string) => (stderr += d));
  const code = await new Promise<number | null>((resolve) => child.on('close', resolve));
  return { code, stderr, seconds: (performance.now() - started) / 1000 };
}

const rate = (stderr: string): number => Number(/\(([\d,]+)\/s\)/.exec(stderr)?.[1]?.replaceAll(',', '') ?? NaN);
const median = (xs: number[]): number => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)] as number;

/** Starts the built server on a free port; its address once /readyz answers. */
async function startServer(): Promise<{ child: ChildProcess; url: string }> {
  const child = spawn(process.execPath, [path.join(ROOT, 'dist', 'server.js')], {
    env: { ...process.env, NODE_ENV: 'production', PORT: '0', HOST: '127.0.0.1', LOG_LEVEL: 'info' },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  const url = await new Promise<string>((resolve, reject) => {
    child.stdout?.setEncoding('utf8').on('data', (d: string) => {
      out += d;
      const m = /"port":(\d+)/.exec(out);
      if (m !== null) resolve(`http://127.0.0.1:${m[1]}`);
    });
    child.on('exit', () => reject(new Error(`the server exited:\n${out}`)));
  });
  for (let i = 0; i < 300; i++) {
    const ok = await fetch(`${url}/readyz`).then(
      (r) => r.ok,
      () => false,
    );
    if (ok) return { child, url };
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error('the server did not get ready');
}

async function main(): Promise<void> {
  const cells = heldOutCells(dataDir(), PER_CLASS);
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'ml-forms-bench-shards-'));
  const folder = path.join(tmp, 'cells');
  copyIntoLabelFolders(cells, folder);
  const main = buildIfStale(path.join(ROOT, 'dist', 'src', 'cli', 'main.js'));
  const load = os.loadavg()[0] ?? 0;
  const whole: number[] = [];
  const sharded: number[] = [];
  const partsOut = (i: number): string => path.join(tmp, `r${i}.csv`);
  /** `ml-forms predict malaria <the cells> --out OUT` and the rest. */
  const predict = (out: string, ...rest: string[]): string[] => ['predict', 'malaria', folder, '--out', out, ...rest];
  try {
    for (let r = 0; r < REPEATS; r++) {
      const one = await run(main, predict(path.join(tmp, 'whole.csv'), '--concurrency', String(SHARDS), '--quiet'));
      if (one.code !== 0) throw new Error(`unsharded run exited ${one.code}:\n${one.stderr}`);
      whole.push(one.seconds);
      const started = performance.now();
      const shards = await Promise.all(
        Array.from({ length: SHARDS }, (_, i) =>
          run(main, predict(partsOut(r), '--shard', `${i}/${SHARDS}`, '--concurrency', '1', '--quiet')),
        ),
      );
      for (const s of shards) if (s.code !== 0) throw new Error(`a shard exited ${s.code}:\n${s.stderr}`);
      const parts = Array.from({ length: SHARDS }, (_, i) =>
        partsOut(r).replace(/\.csv$/, `.part-${i}-of-${SHARDS}.jsonl`),
      );
      const merged = await run(main, ['merge', ...parts, '--out', path.join(tmp, 'merged.csv'), '--quiet']);
      if (merged.code !== 0) throw new Error(`merge exited ${merged.code}:\n${merged.stderr}`);
      sharded.push((performance.now() - started) / 1000);
      if (!fs.readFileSync(path.join(tmp, 'merged.csv')).equals(fs.readFileSync(path.join(tmp, 'whole.csv'))))
        throw new Error('the merge differs from the unsharded run');
    }
    // --url: the shards send every input to one server (the models in process there).
    const server = await startServer();
    let remote: { wall: number; rates: number[] };
    try {
      const started = performance.now();
      const shards = await Promise.all(
        Array.from({ length: SHARDS }, (_, i) =>
          run(
            main,
            predict(path.join(tmp, 'url.csv'), '--url', server.url, '--shard', `${i}/${SHARDS}`, '--concurrency', '2'),
          ),
        ),
      );
      for (const s of shards) if (s.code !== 0) throw new Error(`a --url shard exited ${s.code}:\n${s.stderr}`);
      remote = { wall: (performance.now() - started) / 1000, rates: shards.map((s) => rate(s.stderr)) };
    } finally {
      server.child.kill('SIGTERM');
    }
    const n = cells.length;
    const w = median(whole);
    const s = median(sharded);
    console.log(`# Sharded batch: ${new Date().toISOString()}\n`);
    console.log(
      `Machine: ${os.availableParallelism()} × ${os.cpus()[0]?.model ?? 'CPU'}, Node ${process.version}. Load average ${load.toFixed(2)} before, ` +
        `${(os.loadavg()[0] ?? 0).toFixed(2)} after. ${n} images (${PER_CLASS} per class, held out); median of ${REPEATS}.\n`,
    );
    console.log('| run | wall clock s | images/s |\n|---|---:|---:|');
    console.log(`| unsharded, --concurrency ${SHARDS} | ${w.toFixed(2)} | ${(n / w).toFixed(0)} |`);
    console.log(
      `| ${SHARDS} shards at once, --concurrency 1 each, + merge | ${s.toFixed(2)} | ${(n / s).toFixed(0)} |`,
    );
    console.log(
      `| ${SHARDS} shards with --url to one server (--concurrency 2 each), no merge | ${remote.wall.toFixed(2)} | ${(n / remote.wall).toFixed(0)} (per shard: ${remote.rates.join(', ')}/s) |`,
    );
    const ratios = sharded.map((x, i) => x / (whole[i] as number)).sort((a, b) => a - b);
    const range = (xs: number[]): string => `${Math.min(...xs).toFixed(2)}–${Math.max(...xs).toFixed(2)}`;
    console.log(
      `\nRanges: unsharded ${range(whole)} s, sharded ${range(sharded)} s; per-round ratios ${ratios.map((x) => x.toFixed(2)).join(', ')}.`,
    );
    console.log(
      `\nSharded / unsharded wall clock: ${(s / w).toFixed(2)}× as the ratio of the medians, ${median(ratios).toFixed(2)}× as the median of the per-round ratios (must hold 4: ≤ 1.00× within noise); every merge equalled the unsharded output.`,
    );
    console.log(
      `Unsharded runs: ${whole.map((x) => x.toFixed(2)).join(', ')} s; sharded: ${sharded.map((x) => x.toFixed(2)).join(', ')} s.`,
    );
  } finally {
    fs.rmSync(tmp, { recursive: true, force: true });
  }
}

main().catch((err: unknown) => {
  console.error(err);
  process.exit(1);
});
