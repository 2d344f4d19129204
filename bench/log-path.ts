/**
 * The prediction log's own work per prediction, in one process without HTTP (issue 26, must hold
 * 3): `npm run bench:log-path [-- --rounds N]` (default 50 rounds of 250 predictions after 10 of
 * warm-up; a few seconds).
 *
 * The app's own parts (src/monitoring/recorder.ts, src/database/sqlite.ts on a fresh file in a
 * temporary folder, src/monitoring/features.ts with the served versions' files, src/metrics.ts)
 * for each round: `record` 250 predictions back to back as the routes do (a review with its text
 * held; a cell of 130 × 130 pixels described, its 6.8 KB file held) into an array standing for the
 * batched writer's queue, then the recorder's `complete` for all of them (the input's numbers, the
 * metrics), as the writer's tick calls it, and one `store.write` of the batch, each phase timed
 * with process.cpuUsage. Medians (ranges) in µs per prediction, with inputs held
 * (KEEP_INPUTS_MINUTES=30, the default) and not (0).
 *
 * This is the floor of what the log costs a request: everything here runs hot, in the CPU's caches.
 * Part 9 of `npm run bench` (bench/logging.ts) measures what it costs served requests, where the
 * same work runs between requests and its entries outlive a few scavenges.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { SqliteStore } from '../src/database/sqlite';
import type { HeldInput, PredictionRecord } from '../src/database/types';
import { loadDescriber } from '../src/monitoring/features';
import { type LogSink, PredictionRecorder, type RecordContext, textInput } from '../src/monitoring/recorder';
import { Metrics } from '../src/metrics';
import { malaria } from '../src/models/malaria';
import { sentiment } from '../src/models/sentiment';
import type { Prediction } from '../src/predictors/types';
import { MODELS_DIR, REVIEW, cardVersion, heldCellFile } from './parts/settings';
import { loadAverage, medianRange, wholeOption } from './stats';

const PER_ROUND = 250;
const WARM_UP = 10;

interface Case {
  name: string;
  prediction: Prediction;
  /** The context a route hands the recorder for one request (built per request, as the routes do). */
  context(recorder: PredictionRecorder): RecordContext;
}


function cases(): Case[] {
  const side = 130;
  const pixels = new Uint8Array(side * side * 3);
  for (let i = 0; i < pixels.length; i++) pixels[i] = (i * 7919) & 0xff;
  const image = { width: side, height: side, pixels };
  const file = heldCellFile();
  return [
    {
      name: 'review (its text held)',
      prediction: {
        model: 'sentiment',
        version: cardVersion('sentiment'),
        label: 'positive',
        confidence: 0.93,
      } as Prediction,
      context: () => ({ source: 'api', started: performance.now(), modelInput: REVIEW, input: textInput(REVIEW) }),
    },
    {
      name: 'cell image (130 × 130 described, 6.8 KB held)',
      prediction: {
        model: 'malaria',
        version: cardVersion('malaria'),
        label: 'uninfected',
        confidence: 0.99,
      } as Prediction,
      context: (recorder) => ({
        source: 'api',
        started: performance.now(),
        features: recorder.describe('malaria', image),
        input: { mediaType: 'image/webp', bytes: file },
      }),
    },
  ];
}

const cpuUs = (since: NodeJS.CpuUsage): number => {
  const d = process.cpuUsage(since);
  return d.user + d.system;
};

async function measure(
  c: Case,
  keepMinutes: number,
  rounds: number,
): Promise<{ record: number[]; complete: number[]; write: number[] }> {
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'bench-log-path-'));
  const store = new SqliteStore(path.join(tmp, 'log.sqlite'));
  const metrics = new Metrics({ processMetrics: false });
  try {
    await store.migrate();
    const cards = ['sentiment', 'malaria'].map((name) => ({ name, version: cardVersion(name) }));
    const describer = await loadDescriber([sentiment, malaria], MODELS_DIR, cards);
    // What the batched writer (src/database/writer.ts) queues, kept in an array here: each round
    // completes its entries and writes them itself, as the writer's tick does.
    const queued: { record: PredictionRecord; input: HeldInput | undefined; later: unknown }[] = [];
    const sink: LogSink = { add: (record, input, later) => void queued.push({ record, input, later }) };
    const recorder = new PredictionRecorder(sink, describer, keepMinutes * 60_000, (r) =>
      metrics.predictionLogged(r.model, r.source, r.label, r.confidence),
    );
    const out = { record: [] as number[], complete: [] as number[], write: [] as number[] };
    for (let round = 0; round < WARM_UP + rounds; round++) {
      let t = process.cpuUsage();
      for (let i = 0; i < PER_ROUND; i++) recorder.record(c.prediction, c.context(recorder));
      const record = cpuUs(t);
      t = process.cpuUsage();
      for (const q of queued) recorder.complete(q.record, q.later);
      const complete = cpuUs(t);
      t = process.cpuUsage();
      await store.write(
        queued.map((q) => q.record),
        queued.flatMap((q) => (q.input === undefined ? [] : [q.input])),
      );
      const write = cpuUs(t);
      queued.length = 0;
      if (round < WARM_UP) continue;
      out.record.push(record / PER_ROUND);
      out.complete.push(complete / PER_ROUND);
      out.write.push(write / PER_ROUND);
    }
    return out;
  } finally {
    await store.close();
    fs.rmSync(tmp, { recursive: true, force: true });
  }
}

async function main(): Promise<void> {
  const rounds = wholeOption('rounds') ?? 50;
  console.log(`## The prediction log's own work per prediction (in process, hot): ${new Date().toISOString()}\n`);
  console.log(
    `${os.availableParallelism()} × ${os.cpus()[0]?.model ?? 'CPU'}, Node ${process.version}; load average before ${loadAverage()}. ` +
      `${rounds} rounds of ${PER_ROUND} predictions after ${WARM_UP} of warm-up; µs of CPU per prediction, medians (ranges).\n`,
  );
  console.log(
    '| prediction | inputs held | record (request path) | complete (input numbers, metrics) | SQLite write | total |',
  );
  console.log('|---|---|---:|---:|---:|---:|');
  for (const c of cases()) {
    for (const keep of [30, 0]) {
      const m = await measure(c, keep, rounds);
      const total = m.record.map((r, i) => r + (m.complete[i] ?? 0) + (m.write[i] ?? 0));
      console.log(
        `| ${c.name} | ${keep === 0 ? 'no (KEEP_INPUTS_MINUTES=0)' : `yes (${keep} min)`} | ${medianRange(m.record, 1)} | ` +
          `${medianRange(m.complete, 1)} | ${medianRange(m.write, 1)} | **${medianRange(total, 1)}** |`,
      );
    }
  }
}

main().catch((err: unknown) => {
  console.error(err);
  process.exit(1);
});
