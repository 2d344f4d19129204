/**
 * What the prediction log costs (issue 26, must hold 3): `npx tsx bench/logging.ts [--rounds N]
 * [--seconds S]` (default 5 rounds of 5 s per load and server; about three and a half minutes). Part of
 * `npm run bench` (part 9).
 *
 * Two servers of the built app, each as `npm start` starts it (its cluster of HTTP processes
 * included): one with the prediction log on (its default; DATABASE_URL a fresh SQLite file in a
 * temporary folder, so the run does not grow data/ml-forms.sqlite) and one with PREDICTION_LOG=0.
 * Both run the whole time, on two ports; only one is loaded at a time while the other idles, so
 * drifting load from other work on the machine hits both alike. After a check that the switch
 * took (the log's answers carry an id, the other's none) and a warm-up, each round measures, for
 * each of three loads, both servers one after the other, the order alternating from round to round:
 *   form     POST /predict/sentiment, urlencoded: the page with its result (and feedback form)
 *   image    POST /api/predict/malaria, multipart: a held-out cell of the median size from
 *            ../shared/data (the page's "unsure" example), the synthetic cell without the data
 *   review   POST /api/predict/sentiment, JSON: the review `npm run bench` posts
 * with wrk at 8 connections: requests/s, and the server's CPU per request (every process and
 * thread of its tree, from /proc; it moves much less than requests/s on a shared machine). Reports
 * per load the medians and ranges over the rounds, the ratio on/off per round (bar: ≥ 0.95) and
 * the peak PSS of the logging server's tree over the whole run (sampled every 100 ms; bar: ≤ 256
 * MB). The CPU ratio off/on per round is the throughput ratio to expect where the cores are the
 * limit, and the steadier of the two figures when other work shares the machine. Then it stops
 * both and reads the SQLite file: lines written against lines queued and dropped (the log's own
 * counters, from /metrics), so a log that silently fell behind shows.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import Database from 'better-sqlite3';
import { dataDirOf } from '../src/build/examples';
import { malaria } from '../src/models/malaria';
import {
  type Proc,
  ROOT,
  type Row,
  type Target,
  answerOf,
  buildIfStale,
  get,
  mb,
  multipart,
  processTree,
  requireWrk,
  startApp,
  syntheticCell,
  warm,
  wrk,
} from './lib';
import { BENCH_METRICS_TOKEN, PSS_BAR_MB, benchTargets } from './parts/settings';
import { type RoundOptions, loadAverage, medianRange, quantile, roundSettings, wholeOption } from './stats';

/** Issue 26, must hold 3: throughput with the log on at least this share of it with the log off. */
const RATIO_BAR = 0.95;
const CONNECTIONS = 8;

interface Load {
  name: string;
  target: Target;
}

/** The cell to post: the page's held-out "unsure" example (about the median size), or the synthetic cell. */
async function cellUpload(): Promise<{ note: string; upload: { headers: Record<string, string>; body: Buffer } }> {
  const source = malaria.page.examples?.find((e) => e.value.endsWith('unsure.webp'))?.source;
  const file = source === undefined ? null : path.join(dataDirOf(ROOT), source);
  if (file !== null && fs.existsSync(file)) {
    return {
      note: `${source} (${fs.statSync(file).size} bytes)`,
      upload: multipart(fs.readFileSync(file), 'image', path.basename(file)),
    };
  }
  return { note: 'the synthetic 130 px cell (../shared/data not found)', upload: multipart(await syntheticCell()) };
}

/** The three loads. The form posts the same review as the JSON API, so the two differ only in their answer. */
async function loads(): Promise<{ loads: Load[]; cellNote: string }> {
  const { note, upload } = await cellUpload();
  const targets = benchTargets(upload);
  const review = (JSON.parse(targets.sentimentApi.body as string) as { review: string }).review;
  const form: Target = {
    method: 'POST',
    path: '/predict/sentiment',
    headers: { 'content-type': 'application/x-www-form-urlencoded' },
    body: new URLSearchParams({ review }).toString(),
  };
  return {
    cellNote: note,
    loads: [
      { name: 'form posts (POST /predict/sentiment, the page)', target: form },
      { name: 'image predictions (POST /api/predict/malaria)', target: targets.malariaApi },
      { name: 'review predictions (POST /api/predict/sentiment)', target: targets.sentimentApi },
    ],
  };
}

/**
 * Fails unless every load answers 200 on both servers, with a prediction id from the logging one
 * (`"id"` in JSON, `data-prediction-id` on the page) and none from the other: a benchmark of two
 * servers that both log, or neither, would measure nothing.
 */
async function checkSwitch(on: Proc, off: Proc, all: Load[]): Promise<void> {
  const hasId = (body: string): boolean => /data-prediction-id="[^"]+"/.test(body) || /"id"\s*:\s*"[^"]+"/.test(body);
  for (const { name, target } of all) {
    for (const [server, expected] of [
      [on, true],
      [off, false],
    ] as const) {
      const answered = await answerOf(server.base, target);
      const res = { status: answered.status, body: answered.body.toString('utf8') };
      if (res.status !== 200) throw new Error(`${server.name}, ${name}: ${res.status} ${res.body.slice(0, 300)}`);
      if (hasId(res.body) !== expected)
        throw new Error(`${server.name}, ${name}: the answer ${expected ? 'carries no' : 'carries a'} prediction id`);
    }
  }
}

/** A counter's value summed over its label sets in Prometheus text (0 if absent). */
function counter(metrics: string, name: string): number {
  let sum = 0;
  for (const m of metrics.matchAll(new RegExp(`^${name}(?:\\{[^}]*\\})? (\\S+)$`, 'gm'))) sum += Number(m[1]);
  return sum;
}

/** Rows in the log's tables and the bytes of the database (its WAL included), read after the server stopped. */
function readLog(file: string): { predictions: number; heldInputs: number; bytes: number } {
  const db = new Database(file, { readonly: true });
  try {
    const count = (table: string): number =>
      (db.prepare(`SELECT COUNT(*) AS n FROM ${table}`).get() as { n: number }).n;
    const bytes = [file, `${file}-wal`].reduce((sum, f) => sum + (fs.existsSync(f) ? fs.statSync(f).size : 0), 0);
    return { predictions: count('predictions'), heldInputs: count('held_inputs'), bytes };
  } finally {
    db.close();
  }
}

const range = medianRange;

type Side = 'on' | 'off';
type Rounds = Record<Side, Row[]>;

/** Each load on both servers in every round, the order of the two alternating from round to round. */
async function measure(servers: Record<Side, Proc>, all: Load[], rounds: number, seconds: number): Promise<Rounds[]> {
  const rows = all.map((): Rounds => ({ on: [], off: [] }));
  for (let round = 0; round < rounds; round++) {
    const order: Side[] = round % 2 === 0 ? ['on', 'off'] : ['off', 'on'];
    for (const [i, { target }] of all.entries()) {
      for (const side of order) {
        const server = servers[side];
        rows[i]?.[side].push(await wrk(server.base, target, CONNECTIONS, seconds, server.pid));
      }
    }
  }
  return rows;
}

/** One load's line: requests/s on and off, their ratio per round against the bar, CPU per request. */
function loadLine(name: string, r: Rounds): string {
  const rps = (side: Row[]): number[] => side.map((row) => row.rps);
  const cpu = (side: Row[]): number[] => side.map((row) => row.cpuMs ?? NaN);
  const ratio = r.on.map((row, k) => row.rps / (r.off[k] as Row).rps);
  const cpuRatio = cpu(r.off).map((ms, k) => ms / (cpu(r.on)[k] as number));
  const bad = [...r.on, ...r.off].reduce((n, row) => n + row.errors + row.non2xx, 0);
  const holds = quantile(ratio) >= RATIO_BAR ? 'yes' : '**no**';
  const cells = [name, range(rps(r.on), 0), range(rps(r.off), 0), range(ratio, 2), `≥ ${RATIO_BAR}`, holds];
  cells.push(range(cpu(r.on), 2), range(cpu(r.off), 2), range(cpuRatio, 2), String(bad));
  return `| ${cells.join(' | ')} |`;
}

export async function loggingSection(say: (s?: string) => void, options: RoundOptions = {}): Promise<void> {
  const { rounds, seconds } = roundSettings(options);
  const { loads: all, cellNote } = await loads();
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'bench-logging-'));
  const dbFile = path.join(tmp, 'log.sqlite');
  const loadBefore = loadAverage();
  // The same settings for both but the switch; METRICS_TOKEN so that the log's counters can be read.
  const common = { METRICS_TOKEN: BENCH_METRICS_TOKEN };
  const on = await startApp('log on', { ...common, DATABASE_URL: `sqlite://${dbFile}` });
  const unused = `sqlite://${path.join(tmp, 'unused.sqlite')}`;
  const off = await startApp('log off', { ...common, PREDICTION_LOG: '0', DATABASE_URL: unused }).catch(
    async (err: unknown) => {
      await on.stop();
      throw err;
    },
  );
  let stopped: Promise<void> | null = null;
  const stopBoth = (): Promise<void> => (stopped ??= Promise.all([on.stop(), off.stop()]).then(() => undefined));
  try {
    // The primary and its HTTP processes; a lone process (WEB_CONCURRENCY=1) serves HTTP itself.
    const children = processTree(on.pid).length - 1;
    const shape = children === 0 ? 'one process' : `${children} HTTP processes`;
    await checkSwitch(on, off, all);
    const targets = all.map((l) => l.target);
    for (const server of [on, off]) await warm(server.base, targets, 2);
    const rows = await measure({ on, off }, all, rounds, seconds);

    const auth = { authorization: `Bearer ${BENCH_METRICS_TOKEN}` };
    const metrics = (await get(on.base + '/metrics', 2000, auth)).body;
    const queued = counter(metrics, 'predictions_logged_total');
    const dropped = counter(metrics, 'prediction_log_dropped_total');
    await stopBoth(); // the log's last batch is written at exit
    const log = readLog(dbFile);
    const missing = log.predictions + dropped === queued ? '' : ' — **lines are missing**';

    say(`## What the prediction log costs (issue 26): log on against PREDICTION_LOG=0, ${rounds} alternating rounds`);
    say();
    say(
      `Load average before: ${loadBefore} (${os.availableParallelism()} cores). Two servers of the built app as ` +
        `\`npm start\` starts it (${shape} each), one loaded at a time while the other idles; wrk at ${CONNECTIONS} ` +
        `connections, ${seconds} s per load and server in each round, the order alternating every round; the cell: ` +
        `${cellNote}. CPU per request: every process and thread of the loaded server, from /proc. Medians (ranges) over the rounds.`,
    );
    say();
    say(
      '| load | req/s log on | req/s log off | on / off | bar | holds | CPU ms/req on | CPU ms/req off | CPU off / on | errors + non-2xx |',
    );
    say('|---|---:|---:|---:|---:|---|---:|---:|---:|---:|');
    for (const [i, { name }] of all.entries()) say(loadLine(name, rows[i] as Rounds));
    say();
    const pssHolds = on.peakPss / 1048576 <= PSS_BAR_MB ? 'yes' : '**no**';
    say('| memory over the whole run | peak PSS MB | peak RSS MB | bar | holds |');
    say('|---|---:|---:|---:|---|');
    say(`| log on (the process tree) | ${mb(on.peakPss)} | ${mb(on.peakRss)} | ≤ ${PSS_BAR_MB} | ${pssHolds} |`);
    say(`| log off (for reference) | ${mb(off.peakPss)} | ${mb(off.peakRss)} | | |`);
    say();
    say(
      `The log after the run: ${log.predictions} lines in SQLite for ${queued} queued (\`predictions_logged_total\`), ` +
        `${dropped} dropped (\`prediction_log_dropped_total\`)${missing}; ${log.heldInputs} inputs held; the file ` +
        `${mb(log.bytes)} MB. Load average after: ${loadAverage()}.`,
    );
    say();
  } finally {
    await stopBoth();
    fs.rmSync(tmp, { recursive: true, force: true });
  }
}

if (require.main === module) {
  requireWrk();
  buildIfStale();
  void loggingSection((s = '') => console.log(s), {
    rounds: wholeOption('rounds'),
    seconds: wholeOption('seconds'),
  }).catch((err: unknown) => {
    console.error(err);
    process.exitCode = 1;
  });
}
