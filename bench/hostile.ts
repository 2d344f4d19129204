/**
 * Hostile bodies at full rate, /healthz alongside: `npm run bench:hostile` (about 50 s).
 *
 * Issue 22, must hold 1: every parser of user input is linear, and `/healthz` keeps answering
 * within 20 ms at the 99th percentile while requests built to make the parsers work hard arrive as
 * fast as the server answers them.
 *
 * Builds dist/ if it is older than the sources, starts the app as `npm start` does (bench/servers.ts:
 * production, every core, 127.0.0.1). Loopback is exempt from the per-client rate limit, so one
 * wrk here is the worst case of many clients each within its limit. Each phase runs one wrk with
 * CONNECTIONS connections taking its bodies in turn, for SECONDS, while two more wrk probe
 * /healthz on one connection each: one kept alive, one opening a new connection per probe
 * (`Connection: close`; under node:cluster the primary accepts it, so that probe also sees the
 * primary's event loop). The phases:
 *  1. /healthz alone, the baseline (the machine's other load shows here: read the rest against it);
 *  2. hostile values, each body just under its route's own limit (src/fields.ts, fieldsBodyLimit):
 *     the largest bodies that are parsed. The number as JSON and as a form field ("1"… then "x"),
 *     the review as JSON (lone surrogates and NUL escapes) and as a form field ("+"… then "x",
 *     each "+" a space; and "<"…, which the page shows again escaped);
 *  3. the same routes with MAX_BODY_KB's 500 KB: refused 413 by the body parser without parsing;
 *  4. the control: plain values ("a"…) the size of phase 2's, which no parser finds hard, so that
 *     phase 2 reads as linear (the same) or not;
 *  5. JSON nested as deep as the number's and the review's limits allow ("[" then "]").
 * Prints, per phase, the hostile requests/s, answers that were not 4xx-or-413 as expected (wrk
 * counts any status ≥ 400 as "not 2xx", so all of them should be), the server's CPU per hostile
 * request, and /healthz's p50 and p99 on both probes, with the target.
 */
import { loadConfig } from '../src/config';
import { fieldsBodyLimit } from '../src/fields';
import { REGRESSION_FIELDS } from '../src/models/regression/predictor';
import { sentimentFields } from '../src/models/sentiment/predictor';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { execFile } from 'node:child_process';
import { type Row, type Target, buildIfStale, requireWrk, sleep, startApp, treeCpuMs, wrk } from './lib';

const SECONDS = 8;
const CONNECTIONS = 8;
const HEALTHZ_P99_TARGET_MS = 20;
/** The default configuration, as the started app has it: each route's body limit. */
const config = loadConfig({});
const NUMBER_LIMIT = fieldsBodyLimit(REGRESSION_FIELDS, config.maxBodyBytes);
const REVIEW_LIMIT = fieldsBodyLimit(sentimentFields(config.maxReviewChars), config.maxBodyBytes);
/** What an attacker sends when the routes' limits are not known: just under MAX_BODY_KB. */
const OVER = 500 * 1024;

const json = (path: string, body: string): Target => ({
  method: 'POST',
  path,
  headers: { 'content-type': 'application/json', accept: 'application/json' },
  body,
});
const form = (path: string, body: string): Target => ({
  method: 'POST',
  path,
  headers: { 'content-type': 'application/x-www-form-urlencoded' },
  body,
});
/** `unit` repeated to fill `bytes` less `frame` (the JSON or form text around the value) and `tail`. */
const fill = (unit: string, bytes: number, frame: number, tail = ''): string =>
  unit.repeat(Math.floor((bytes - frame - tail.length) / unit.length)) + tail;

/** The four field bodies, each of `bytes(route limit)` bytes, its value made of `unit`s (and `tail`). */
function fieldBodies(size: (limit: number) => number, unit: { number: string; reviewJson: string; reviewForm: string }, tail = ''): Target[] {
  const n = size(NUMBER_LIMIT);
  const r = size(REVIEW_LIMIT);
  return [
    json('/api/predict/regression', `{"x":"${fill(unit.number, n, 8, tail)}"}`),
    form('/predict/regression', `x=${fill(unit.number, n, 2, tail)}`),
    json('/api/predict/sentiment', `{"review":"${fill(unit.reviewJson, r, 13, tail)}"}`),
    form('/predict/sentiment', `review=${fill(unit.reviewForm, r, 7, tail)}`),
  ];
}
/** Just under the limit: the largest body a route parses. */
const under = (limit: number): number => limit - 16;

const PHASES: { title: string; bodies: Target[] }[] = [
  {
    title: 'Hostile values, each body just under its route\'s limit',
    bodies: [
      ...fieldBodies(under, { number: '1', reviewJson: '\\ud800\\u0000', reviewForm: '+' }, 'x'),
      // The page shows an over-long review again, escaped: 4 bytes out for each "<" in.
      form('/predict/sentiment', `review=${fill('<', under(REVIEW_LIMIT), 7)}`),
    ],
  },
  {
    title: `Hostile values in ${OVER / 1024} KB bodies (over the routes' limits, under MAX_BODY_KB)`,
    bodies: fieldBodies(() => OVER, { number: '1', reviewJson: '\\ud800\\u0000', reviewForm: '+' }, 'x'),
  },
  {
    title: 'Control: plain values ("a"…), each body just under its route\'s limit',
    bodies: fieldBodies(under, { number: 'a', reviewJson: 'a', reviewForm: 'a' }),
  },
  {
    title: 'JSON nested as deep as each limit allows',
    bodies: [
      json('/api/predict/regression', `{"x":${'['.repeat(under(NUMBER_LIMIT) / 2 - 4)}${']'.repeat(under(NUMBER_LIMIT) / 2 - 4)}}`),
      json('/api/predict/sentiment', `{"review":${'['.repeat(under(REVIEW_LIMIT) / 2 - 8)}${']'.repeat(under(REVIEW_LIMIT) / 2 - 8)}}`),
    ],
  },
];

const HEALTHZ: Target = { method: 'GET', path: '/healthz' };
/** A new connection per probe: wrk reconnects after the server closes. */
const HEALTHZ_NEW: Target = { method: 'GET', path: '/healthz', headers: { connection: 'close' } };

interface Load {
  rps: number;
  notError: number;
  errors: number;
  cpuMsPerRequest: number;
}

/**
 * wrk with `connections` connections, each taking the bodies in turn. One wrk process for all the
 * bodies, so that the load generator takes one core's share at most (the machine has two).
 */
async function hostileLoad(base: string, bodies: Target[], seconds: number, serverPid: number): Promise<Load> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'bench-hostile-'));
  const lua = [
    'local bodies, requests, i = {}, {}, 0',
    ...bodies.map((b, k) => {
      const file = path.join(dir, `body${k}`);
      fs.writeFileSync(file, b.body ?? '');
      const headers = Object.entries(b.headers ?? {}).map(([h, v]) => `[${JSON.stringify(h)}] = ${JSON.stringify(v)}`);
      return [
        `do local f = assert(io.open(${JSON.stringify(file)}, "rb")); local body = f:read("*a"); f:close()`,
        `  requests[${k + 1}] = wrk.format(${JSON.stringify(b.method)}, ${JSON.stringify(b.path)}, { ${headers.join(', ')} }, body) end`,
      ].join('\n');
    }),
    'request = function() i = i % #requests + 1; return requests[i] end',
    'done = function(summary, latency, requests)',
    '  local e = summary.errors',
    "  io.write(string.format('WRKJSON {\"requests\":%d,\"non2xx\":%d,\"errors\":%d,\"us\":%d}\\n',",
    '    summary.requests, e.status, e.connect + e.read + e.write + e.timeout, summary.duration))',
    'end',
  ].join('\n');
  const script = path.join(dir, 'mix.lua');
  fs.writeFileSync(script, lua);
  const cpu0 = treeCpuMs(serverPid);
  const out = await new Promise<string>((resolve, reject) => {
    execFile('wrk', ['-t1', `-c${CONNECTIONS}`, `-d${seconds}s`, '--timeout', '30s', '-s', script, base + '/'], { maxBuffer: 1 << 20 }, (err, stdout) =>
      err ? reject(err) : resolve(stdout),
    );
  });
  const cpu = treeCpuMs(serverPid) - cpu0;
  fs.rmSync(dir, { recursive: true, force: true });
  const line = /WRKJSON (.*)/.exec(out)?.[1];
  if (line === undefined) throw new Error(`unexpected wrk output: ${out}`);
  const r = JSON.parse(line) as { requests: number; non2xx: number; errors: number; us: number };
  return { rps: r.requests / (r.us / 1e6), notError: r.requests - r.non2xx, errors: r.errors, cpuMsPerRequest: cpu / Math.max(1, r.requests) };
}

const ms = (v: number): string => v.toFixed(1);
const probeText = (name: string, r: Row): string => `${name}: p50 ${ms(r.p50)} ms, p99 ${ms(r.p99)} ms (${r.rps.toFixed(0)} probes/s)`;

/** Both /healthz probes for `seconds`. */
async function probes(base: string, seconds: number): Promise<{ kept: Row; fresh: Row }> {
  const [kept, fresh] = await Promise.all([wrk(base, HEALTHZ, 1, seconds), wrk(base, HEALTHZ_NEW, 1, seconds)]);
  return { kept, fresh };
}

async function main(): Promise<void> {
  requireWrk();
  buildIfStale();
  const app = await startApp('hostile');
  let met = true;
  try {
    console.log(`Body limits: number ${NUMBER_LIMIT.toLocaleString('en-US')} B, review ${REVIEW_LIMIT.toLocaleString('en-US')} B (MAX_BODY_KB ${config.maxBodyBytes / 1024}); ${CONNECTIONS} connections, ${SECONDS} s per phase.`);
    const alone = await probes(app.base, 3);
    console.log(`\n/healthz alone: ${probeText('kept alive', alone.kept)}; ${probeText('new connection', alone.fresh)}`);
    console.log(`\n| phase | hostile req/s | answers < 400 | socket errors | server CPU per hostile request | /healthz kept alive p50 / p99 | /healthz new connection p50 / p99 | p99 < ${HEALTHZ_P99_TARGET_MS} ms |`);
    console.log('|---|---|---|---|---|---|---|---|');
    for (const { title, bodies } of PHASES) {
      const load = hostileLoad(app.base, bodies, SECONDS, app.pid);
      const probed = sleep(1000).then(() => probes(app.base, SECONDS - 2));
      const [l, p] = [await load, await probed];
      const ok = p.kept.p99 < HEALTHZ_P99_TARGET_MS && p.fresh.p99 < HEALTHZ_P99_TARGET_MS;
      met &&= ok;
      console.log(
        `| ${title} | ${l.rps.toFixed(0)} | ${l.notError} | ${l.errors} | ${ms(l.cpuMsPerRequest)} ms | ${ms(p.kept.p50)} / ${ms(p.kept.p99)} ms | ${ms(p.fresh.p50)} / ${ms(p.fresh.p99)} ms | ${ok ? 'met' : 'MISSED'} |`,
      );
    }
    if (!met) process.exitCode = 1;
  } finally {
    await app.stop();
  }
}

main().catch((err: unknown) => {
  console.error(err);
  process.exitCode = 1;
});
