/**
 * Start-up, /healthz under image load and the batch command in alternating rounds (issue 24, must
 * hold 3, 4 and 5):
 *
 *   npm run bench:rounds -- [--rounds N] [--seconds S] [--data DIR]
 *
 * (default 5 rounds, S = 5; about four minutes; part 12 of `npm run bench`). After a warm-up (one
 * start of the app loaded as below, one run of the limit and one of the batch command, all
 * discarded), each round:
 *  1. starts the built app afresh as `npm start` starts it (startApp) and takes its start-up to
 *     /readyz 200; warms it with uploads for up to 2 s;
 *  2. saturates it with uploads of the synthetic cell and probes /healthz alongside, as part 2 does
 *     (bench/parts/settings.ts `saturated`), on one kept-alive connection and with a new connection
 *     per probe, the order of the two alternating every round; takes the peak PSS of its process
 *     tree (sampled every 100 ms from /readyz on) and stops it;
 *  3. with no server running, over the same held-out cells of ../shared/data (bench/batch.ts: 1,000
 *     per class): the plain in-process pipeline over the files' bytes (bestImageLimit: best of 1, 2
 *     and 4 in flight, S s each) and the batch command (wall clock from spawn to exit, start-up
 *     included), the order alternating every round; then the command's start-up to its first row.
 * Reports every round and the medians (ranges): start-up (bar ≤ 1000 ms), peak PSS (≤ 256 MB),
 * /healthz p99 of each probe (≤ 20 ms each), the per-round ratio batch / limit (≥ 0.85) and the
 * first row (≤ 0.5 s). Without the data the batch is skipped and the report says so.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { dataDir } from '../training/args';
import { type BatchWork, batch, batchWork, firstRow } from './batch';
import {
  type Proc,
  bestImageLimit,
  buildIfStale,
  imageLimit,
  mb,
  multipart,
  requireWrk,
  startApp,
  syntheticCell,
  warm,
} from './lib';
import { fmt } from './report';
import { PSS_BAR_MB, type Targets, benchTargets, saturated } from './parts/settings';
import { type RoundOptions, loadAverage, medianRange, quantile, roundSettings, wholeOption } from './stats';

/** Issue 24's bars for what this part measures. */
export const STARTUP_BAR_MS = 1000;
export const HEALTHZ_BAR_MS = 20;
export const BATCH_BAR = 0.85;
export const FIRST_ROW_BAR_S = 0.5;

/** Every round's numbers, in round order. */
export interface RoundsResult {
  rounds: number;
  /** Spawn to /readyz 200 of a fresh start, ms. */
  startupMs: number[];
  /** Peak PSS of the app's process tree over the round (idle, then image saturation), bytes. */
  peakPss: number[];
  /** /healthz p99 while uploads saturate the app, ms: one kept-alive connection, a new connection per probe. */
  healthKept: number[];
  healthNew: number[];
  /** The batch command against the plain in-process pipeline, or why it was not measured. */
  batch: { count: number; limit: number[]; rate: number[]; ratio: number[]; firstRow: number[] } | { skipped: string };
}

/** "**724 ms** (650–800 ms)": the median in bold and the range, as the targets table cites a part's rounds. */
export function cite(values: number[], digits: number, unit: string): string {
  return `**${fmt(quantile(values), digits)}${unit}** (${fmt(Math.min(...values), digits)}–${fmt(Math.max(...values), digits)}${unit})`;
}

const holds = (ok: boolean): string => (ok ? 'holds' : '**does not hold**');

type Probe = 'kept' | 'new';

/** One fresh start of the app: start-up, both probes under saturation in `order`, peak PSS. */
async function appRound(targets: Targets, seconds: number, order: Probe[]) {
  let app: Proc | null = null;
  try {
    app = await startApp('app');
    await warm(app.base, [targets.malariaApi], Math.min(2, seconds));
    const health: Partial<Record<Probe, number>> = {};
    const images: Partial<Record<Probe, number>> = {};
    for (const probe of order) {
      const sat = await saturated(
        app,
        targets,
        seconds,
        probe === 'kept' ? targets.healthz : targets.healthzNewConnection,
      );
      if (sat.health.rps === 0) throw new Error(`/healthz (${probe}) answered nothing while images saturated the app`);
      health[probe] = sat.health.p99;
      images[probe] = sat.images.rps;
    }
    return {
      startupMs: app.startupMs,
      peakPss: app.peakPss,
      health: health as Record<Probe, number>,
      images: images as Record<Probe, number>,
    };
  } finally {
    await app?.stop();
  }
}

/** The batch command and the limit over the same files in `order`, then its first row. */
async function batchRound(work: BatchWork, seconds: number, order: ('limit' | 'batch')[]) {
  let limit = Number.NaN;
  let rate = Number.NaN;
  for (const side of order) {
    if (side === 'limit') limit = bestImageLimit(work.list, seconds);
    else {
      const out = path.join(work.tmp, 'out.csv');
      fs.rmSync(out, { force: true });
      const run = await batch(work.main, work.folder, out);
      if (run.rows !== work.count) throw new Error(`the batch command predicted ${run.rows} of ${work.count} cells`);
      rate = run.rows / run.seconds;
    }
  }
  return { limit, rate, firstRow: await firstRow(work.main, work.folder) };
}

export async function roundsSection(say: (s?: string) => void, options: RoundOptions = {}): Promise<RoundsResult> {
  const { rounds, seconds } = roundSettings(options);
  const targets = benchTargets(multipart(await syntheticCell()));
  const data = dataDir();
  const work = fs.existsSync(data) ? batchWork(data) : null;
  const before = loadAverage();
  const result: RoundsResult = {
    rounds,
    startupMs: [],
    peakPss: [],
    healthKept: [],
    healthNew: [],
    batch:
      work === null
        ? { skipped: `${data} is missing` }
        : { count: work.count, limit: [], rate: [], ratio: [], firstRow: [] },
  };
  const lines: string[] = [];
  try {
    // Warm-up, discarded: the files the app and the command read in the page cache, the machine busy.
    await appRound(targets, Math.min(2, seconds), ['kept', 'new']);
    if (work !== null) {
      imageLimit(work.list, 2, 1);
      await batchRound(work, 1, ['batch']);
    }
    for (let r = 0; r < rounds; r++) {
      const probes: Probe[] = r % 2 === 0 ? ['kept', 'new'] : ['new', 'kept'];
      const a = await appRound(targets, seconds, probes);
      result.startupMs.push(a.startupMs);
      result.peakPss.push(a.peakPss);
      result.healthKept.push(a.health.kept);
      result.healthNew.push(a.health.new);
      let batchCells = '– | – | – | – | –';
      if (work !== null && 'ratio' in result.batch) {
        const sides: ('limit' | 'batch')[] = r % 2 === 0 ? ['limit', 'batch'] : ['batch', 'limit'];
        const b = await batchRound(work, seconds, sides);
        result.batch.limit.push(b.limit);
        result.batch.rate.push(b.rate);
        result.batch.ratio.push(b.rate / b.limit);
        result.batch.firstRow.push(b.firstRow);
        batchCells = `${sides.join(', ')} | ${fmt(b.limit)} | ${fmt(b.rate)} | ${fmt(b.rate / b.limit, 2)} | ${fmt(b.firstRow, 2)}`;
      }
      lines.push(
        `| ${r + 1} | ${fmt(a.startupMs)} | ${fmt(a.peakPss / 1048576)} | ${probes.join(', ')} | ${fmt(a.health.kept, 1)} | ${fmt(a.health.new, 1)} | ` +
          `${fmt(a.images.kept)} / ${fmt(a.images.new)} | ${batchCells} |`,
      );
    }
  } finally {
    work?.remove();
  }
  const { startupMs, peakPss, healthKept, healthNew } = result;
  const b = result.batch;
  const batchMedians =
    'ratio' in b
      ? `| ${medianRange(b.limit, 0)} | ${medianRange(b.rate, 0)} | ${medianRange(b.ratio, 2)} | ${medianRange(b.firstRow, 2)}`
      : '| – | – | – | –';
  say(
    `## Start-up, /healthz under image load and the batch command (issue 24, must hold 3, 4 and 5): ${rounds} alternating rounds`,
  );
  say();
  say(
    `${new Date().toISOString()}; ${os.availableParallelism()} × ${os.cpus()[0]?.model ?? 'CPU'}, Node ${process.version}; ` +
      `load average before ${before}, after ${loadAverage()}. After a warm-up, each round starts the app afresh as \`npm start\` ` +
      `starts it (start-up: spawn to /readyz 200), warms it, saturates it with uploads of the synthetic cell (wrk, 32 connections) ` +
      `while a second wrk probes /healthz for ${Math.max(1, seconds - 1)} s (as part 2: on one kept-alive connection, and with a new ` +
      `connection per probe, the order alternating every round), and stops it (peak PSS: the app's processes, summed, from /readyz ` +
      `to then); then, with no server running, ` +
      ('ratio' in b
        ? `the plain in-process pipeline (bench/image-limit.ts over the files' bytes, best of 1, 2 and 4 in flight, ${seconds} s each) ` +
          `and the batch command (\`ml-forms predict malaria\`, wall clock from spawn to exit, start-up included) over the same ` +
          `${b.count.toLocaleString('en-US')} held-out cells, the order alternating every round, and the command's start-up to its first row.`
        : `nothing: the batch command and its limit are not measured, ${b.skipped}.`) +
      ' Medians (ranges) over the rounds; the ratios are per round.',
  );
  say();
  say(
    '| round | start to /readyz ms | peak PSS MB | probes, in order | /healthz p99 kept-alive ms | /healthz p99 new connection ms | uploads/s alongside (kept / new) | ' +
      'limit, batch in order | limit /s | batch /s with start-up | batch / limit | first row s |',
  );
  say('|---:|---:|---:|---|---:|---:|---:|---|---:|---:|---:|---:|');
  for (const line of lines) say(line);
  say(
    `| **median (range)** | ${medianRange(startupMs, 0)} | ${medianRange(
      peakPss.map((p) => p / 1048576),
      0,
    )} | | ${medianRange(healthKept, 1)} | ` + `${medianRange(healthNew, 1)} | | ${batchMedians} |`,
  );
  say();
  if ('ratio' in b) {
    say(
      `Must hold 3: the batch command's rate (start-up included) ≥ ${BATCH_BAR}× the plain in-process pipeline over the same ` +
        `${b.count.toLocaleString('en-US')} files: ${cite(b.ratio, 2, '×')}, ${holds(quantile(b.ratio) >= BATCH_BAR)}; its start-up to the ` +
        `first row ≤ ${FIRST_ROW_BAR_S} s: ${cite(b.firstRow, 2, ' s')}, ${holds(quantile(b.firstRow) <= FIRST_ROW_BAR_S)}.`,
    );
  } else {
    say(`Must hold 3: not measured: ${b.skipped} (the held-out cells; \`--data DIR\` reads them from elsewhere).`);
  }
  say();
  say(
    `Must hold 4: /healthz p99 ≤ ${HEALTHZ_BAR_MS} ms while images saturate the app: ${cite(healthKept, 1, ' ms')} on a kept-alive ` +
      `connection, ${cite(healthNew, 1, ' ms')} with a new connection per probe, ` +
      `${holds(quantile(healthKept) <= HEALTHZ_BAR_MS && quantile(healthNew) <= HEALTHZ_BAR_MS)}.`,
  );
  say();
  say(
    `Must hold 5: start to /readyz 200 ≤ ${STARTUP_BAR_MS} ms: ${cite(startupMs, 0, ' ms')}, ${holds(quantile(startupMs) <= STARTUP_BAR_MS)}; ` +
      `peak PSS ≤ ${PSS_BAR_MB} MB under image saturation: ${cite(
        peakPss.map((p) => Number(mb(p))),
        0,
        ' MB',
      )}, ` +
      `${holds(quantile(peakPss) <= PSS_BAR_MB * 1048576)} (part 2 gives the peak under all its load).`,
  );
  say();
  return result;
}

if (require.main === module) {
  requireWrk();
  buildIfStale();
  roundsSection((s = '') => console.log(s), { rounds: wholeOption('rounds'), seconds: wholeOption('seconds') }).catch(
    (err: unknown) => {
      console.error(err);
      process.exit(1);
    },
  );
}
