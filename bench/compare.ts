/**
 * Before/after comparison of two built checkouts of the app, in alternating rounds of one run:
 *
 *   npm run bench:compare -- --before DIR --after DIR [--rounds N] [--seconds S] [--quick]
 *
 * Each DIR is a checkout with dist/ built, node_modules and models/. Both are started once and
 * warmed up (first loads of the models and the code from disk), then, in each round, "before" and
 * then "after": the server is started fresh as `npm start` starts it (bench/servers.ts startApp: the
 * start script's environment and node flags, NODE_ENV=production, the checkout's own models), warmed
 * for a second per target, measured and stopped. Measured per round: start to /readyz 200; form
 * posts (POST /predict/regression x=5) at 8 and 32 connections; JSON image predictions (POST
 * /api/predict/malaria, a real cell from ../shared/data/malaria, multipart) at 8; sentiment JSON
 * predictions at 8 (wrk, one thread); peak PSS summed over the process tree (sampled every 100 ms);
 * and the server's CPU time per request at those points (all its processes and threads, from /proc:
 * it moves much less than requests/s when other work shares the machine).
 *
 * Defaults: 5 rounds of 5 s per load point (about 5 minutes); --quick: 3 rounds of 2 s.
 * Prints a markdown table (median [min–max] of each side, the ratio after/before of the medians
 * [range of the per-round ratios]) and writes it to bench/results-compare.md.
 */
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { arg } from '../training/args';
import { findRealCell, syntheticCell } from './images';
import { type Row, type Target, multipart, requireWrk, warm, wrk } from './load';
import { benchTargets } from './parts/settings';
import { ROOT, startApp } from './servers';
import { quantile } from './stats';

const QUICK = process.argv.includes('--quick');
const ROUNDS = Number(arg('rounds') ?? (QUICK ? 3 : 5));
const SECONDS = Number(arg('seconds') ?? (QUICK ? 2 : 5));

/** One measured quantity: its name in the table, which way is better, and the digits shown. */
interface Metric {
  name: string;
  higherIsBetter: boolean;
  digits: number;
}

type Sample = Record<string, number>;

/** A checkout to run: its folder and the commit it is at (for the report). */
function checkout(flag: 'before' | 'after'): { dir: string; commit: string } {
  const given = arg(flag);
  if (given === undefined) throw new Error(`--${flag} DIR is required (a built checkout of the app)`);
  const dir = path.resolve(given);
  for (const need of ['dist/server.js', 'node_modules', 'models', 'package.json']) {
    if (!fs.existsSync(path.join(dir, need))) throw new Error(`${dir} has no ${need}: build it first (npm run build)`);
  }
  let commit = 'unknown';
  try {
    const line = execFileSync('git', ['-C', dir, 'log', '-1', '--format=%h %s'], { encoding: 'utf8' }).trim();
    commit = line.length > 80 ? `${line.slice(0, 79)}…` : line;
  } catch {
    // not a git checkout
  }
  return { dir, commit };
}

/**
 * The form post, the image upload and the sentiment prediction, as `npm run bench` sends them
 * (bench/parts/settings.ts), the upload with a real cell when the data are beside the repository.
 */
async function targets(): Promise<{ form: Target; image: Target; sentiment: Target; imageNote: string }> {
  const real = findRealCell();
  const image = real === null ? await syntheticCell() : fs.readFileSync(real);
  const all = benchTargets(multipart(image, 'image', real === null ? 'cell.png' : path.basename(real)));
  return {
    form: all.regressionForm,
    image: all.malariaApi,
    sentiment: all.sentimentApi,
    imageNote:
      real === null
        ? 'a synthetic 130×130 PNG cell (no ../shared/data/malaria)'
        : `${path.basename(real)} from ../shared/data/malaria (${image.length} bytes)`,
  };
}

const METRICS: Metric[] = [
  { name: 'start to /readyz 200, ms', higherIsBetter: false, digits: 0 },
  { name: 'form posts, 8 connections, req/s', higherIsBetter: true, digits: 0 },
  { name: 'form posts, 8 connections, p99 ms', higherIsBetter: false, digits: 1 },
  { name: 'form posts, 32 connections, req/s', higherIsBetter: true, digits: 0 },
  { name: 'form posts, 32 connections, p99 ms', higherIsBetter: false, digits: 1 },
  { name: 'image predictions (JSON), 8 connections, images/s', higherIsBetter: true, digits: 1 },
  { name: 'image predictions (JSON), 8 connections, p99 ms', higherIsBetter: false, digits: 0 },
  { name: 'sentiment predictions (JSON), 8 connections, req/s', higherIsBetter: true, digits: 0 },
  { name: 'sentiment predictions (JSON), 8 connections, p99 ms', higherIsBetter: false, digits: 1 },
  { name: 'peak PSS of the process tree, MB', higherIsBetter: false, digits: 0 },
  { name: 'server CPU per form post (8 connections), ms', higherIsBetter: false, digits: 2 },
  { name: 'server CPU per image prediction, ms', higherIsBetter: false, digits: 2 },
  { name: 'server CPU per sentiment prediction, ms', higherIsBetter: false, digits: 2 },
];

/** One round for one checkout: start fresh, warm, measure, stop. */
async function round(dir: string, label: string, t: Awaited<ReturnType<typeof targets>>): Promise<Sample> {
  const app = await startApp(label, { MODELS_DIR: path.join(dir, 'models') }, [], dir);
  try {
    await warm(app.base, [t.form, t.image, t.sentiment], 1);
    const rows: Row[] = [];
    const run = async (target: Target, connections: number): Promise<Row> => {
      const r = await wrk(app.base, target, connections, SECONDS, app.pid);
      rows.push(r);
      return r;
    };
    const form8 = await run(t.form, 8);
    const form32 = await run(t.form, 32);
    const image8 = await run(t.image, 8);
    const senti8 = await run(t.sentiment, 8);
    const failed = rows.reduce((n, r) => n + r.errors + r.non2xx, 0);
    if (failed > 0)
      throw new Error(`${label}: ${failed} errors or non-2xx answers: ${app.stderr.join('').slice(-1000)}`);
    const values = [
      app.startupMs,
      form8.rps,
      form8.p99,
      form32.rps,
      form32.p99,
      image8.rps,
      image8.p99,
      senti8.rps,
      senti8.p99,
      app.peakPss / 1048576,
      form8.cpuMs ?? NaN,
      image8.cpuMs ?? NaN,
      senti8.cpuMs ?? NaN,
    ];
    return Object.fromEntries(METRICS.map((m, i) => [m.name, values[i] as number]));
  } finally {
    await app.stop();
  }
}

const fmt = (n: number, digits: number): string => (Number.isFinite(n) ? n.toFixed(digits) : '–');
const spread = (values: number[], digits: number): string =>
  `${fmt(quantile(values), digits)} [${fmt(Math.min(...values), digits)}–${fmt(Math.max(...values), digits)}]`;

/** The table: per metric, each side's median [min–max] and the ratio after/before. */
function table(before: Sample[], after: Sample[]): string {
  const lines = [
    '| metric | before median [min–max] | after median [min–max] | after/before: ratio of medians [per-round ratios] |',
    '|---|---:|---:|---:|',
  ];
  for (const m of METRICS) {
    const b = before.map((s) => s[m.name] as number);
    const a = after.map((s) => s[m.name] as number);
    const perRound = a.map((v, i) => v / (b[i] as number));
    const better = m.higherIsBetter ? 'higher is better' : 'lower is better';
    lines.push(
      `| ${m.name} (${better}) | ${spread(b, m.digits)} | ${spread(a, m.digits)} | ` +
        `${fmt(quantile(a) / quantile(b), 2)} [${fmt(Math.min(...perRound), 2)}–${fmt(Math.max(...perRound), 2)}] |`,
    );
  }
  return lines.join('\n');
}

async function main(): Promise<void> {
  const before = checkout('before');
  const after = checkout('after');
  if (!(ROUNDS >= 1) || !(SECONDS >= 1)) throw new Error('--rounds and --seconds must be at least 1');
  requireWrk();
  const date = execFileSync('date', { encoding: 'utf8' }).trim();
  const load = os.loadavg().map((l) => l.toFixed(2));
  console.error(`${date}; load average ${load.join(', ')}`);
  const t = await targets();
  const started = performance.now();

  // Warm-up: each checkout once (its files read from disk, the page cache filled), not recorded.
  for (const [label, c] of [
    ['before (warm-up)', before],
    ['after (warm-up)', after],
  ] as const) {
    const app = await startApp(label, { MODELS_DIR: path.join(c.dir, 'models') }, [], c.dir);
    await warm(app.base, [t.form, t.image, t.sentiment], QUICK ? 1 : 2);
    await app.stop();
  }

  const samples: Record<'before' | 'after', Sample[]> = { before: [], after: [] };
  for (let r = 1; r <= ROUNDS; r++) {
    for (const [side, c] of [
      ['before', before],
      ['after', after],
    ] as const) {
      const s = await round(c.dir, `${side}, round ${r}`, t);
      samples[side].push(s);
      console.error(
        `round ${r}/${ROUNDS} ${side}: ` + METRICS.map((m) => `${fmt(s[m.name] as number, m.digits)}`).join(' · '),
      );
    }
  }

  const out = [
    `# Before/after comparison: ${new Date().toISOString()}`,
    '',
    `Started ${date}; load average at the start ${load.join(', ')}, at the end ${os
      .loadavg()
      .map((l) => l.toFixed(2))
      .join(', ')}. ${os.availableParallelism()} × ${os.cpus()[0]?.model ?? 'unknown CPU'}, Node ${process.version}, ` +
      `wrk (one thread) on the same machine.`,
    '',
    `- before: \`${before.dir}\` (${before.commit})`,
    `- after: \`${after.dir}\` (${after.commit})`,
    '',
    `Command: \`npm run bench:compare -- ${process.argv.slice(2).join(' ')}\`. ${ROUNDS} round${ROUNDS === 1 ? '' : 's'}, each "before" then "after", ` +
      `each server started fresh as \`npm start\` starts it, warmed 1 s per target, then ${SECONDS} s per load point; ` +
      `image: ${t.imageNote}. ${((performance.now() - started) / 1000).toFixed(0)} s in all.`,
    '',
    table(samples.before, samples.after),
    '',
  ].join('\n');
  console.log(out);
  fs.writeFileSync(path.join(ROOT, 'bench', 'results-compare.md'), out);
}

main().catch((err: unknown) => {
  console.error(err);
  process.exit(1);
});
