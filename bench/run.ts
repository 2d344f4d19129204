/**
 * Load benchmark: `npm run bench` (about 26 minutes; `-- --quick` for a short smoke run).
 * It reproduces every number of the serving targets (bench/README.md) in one run.
 *
 * Builds dist/ if it is older than the sources, then, on 127.0.0.1 only, one server at a time:
 *  1. the in-process image limit: the plainest pipeline (libvips decode and resize, one
 *     onnxruntime run; bench/image-limit.ts) in one process with 1, 2 and 4 in flight;
 *  2. the app exactly as `npm start` and the Procfile run it (its defaults): start-up time to
 *     /readyz 200, each endpoint at 1, 8 and 32 connections, /healthz while image predictions
 *     saturate it, a burst of 400 simultaneous uploads, SIGTERM with 200 requests in flight, and
 *     RSS and PSS of the whole process tree sampled every 100 ms;
 *  3. the walkthrough's stack (Flask + gunicorn, 2 workers) on the same form post and load (wrk),
 *     rendering ml-forms' own page (saved from the app in step 2, statement and input filled in by
 *     Jinja) and, as a second row, the walkthrough's one-line page;
 *  4. floors: node:http, Express 5 and Express 5 + urlencoded answering a fixed page of our size
 *     (bench/floor.ts): what a request costs before any of our code;
 *  5. where a form post's CPU goes: a CPU profile of the app under load (bench/profile.ts);
 *  6. the serving designs side by side (one process or one per core; models in each HTTP process
 *     or on a model host; inference threads or not);
 *  7. the split (issue 11): a web tier (INFERENCE_URL) and a model tier (ROLE=models) as two
 *     processes on loopback against the one-process app: latency added per prediction (p50, p99
 *     at one connection) and image throughput (32 connections), memory of both tiers;
 *  8. what an explanation costs the server (issue 25, bench/explain.ts): CPU per review and per
 *     cell, explained and not, in alternating rounds;
 *  9. what the prediction log costs (issue 26, bench/logging.ts): form posts, image and review
 *     predictions with the log on and off (PREDICTION_LOG=0), in alternating rounds: requests/s,
 *     their ratio, CPU per request, peak PSS of the logging server;
 * 10. image predictions against the minimal HTTP server (issue 24, bench/minimal.ts: node:http,
 *     busboy, sharp, onnxruntime-node with default settings), in alternating rounds: images/s and
 *     CPU per image of both, their ratios, and the in-process limit beside;
 * 11. form posts against the walkthrough's Flask + gunicorn on the same page (issue 24,
 *     bench/flask.ts), in alternating rounds at 1, 8 and 32 connections: requests/s, p99 and CPU
 *     per request of both, and their ratios per round;
 * 12. start-up, /healthz under image load and the batch command in alternating rounds (issue 24,
 *     bench/rounds.ts): in each round a fresh start of the app (start-up to /readyz 200, peak PSS),
 *     /healthz p99 while uploads saturate it (part 2's method, a kept-alive probe and a new
 *     connection per probe, the order alternating), then the batch command against the plain
 *     in-process pipeline over the same 2,000 held-out files (the order alternating) and its first
 *     row. The targets table cites its medians and ranges for these; part 2's single runs beside.
 * Every part of issue 24 runs 5 rounds after a warm-up (--quick: 2 rounds of 2 s).
 * Prints markdown tables and writes them to bench/results.md.
 *
 * `npm run bench -- --only split` runs the split part alone (and writes bench/results-split.md).
 *
 * Each part is a module of its own under bench/parts/ (settings.ts: the options and targets they
 * share; app.ts: 1 and 2; reference.ts: 3 and 4; designs.ts: 6; split.ts: 7; summary.ts: the report).
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { ROOT, buildIfStale, multipart, requireWrk, syntheticCell } from './lib';
import { profileTarget } from './profile';
import { replaceBlock } from './report';
import { measureApp } from './parts/app';
import { measureDesigns } from './parts/designs';
import { measureReferences } from './parts/reference';
import { MODELS_DIR, ONLY, QUICK, SECONDS, benchTargets } from './parts/settings';
import { splitSection } from './parts/split';
import { explainSection } from './explain';
import { loggingSection } from './logging';
import { flaskSection } from './flask';
import { minimalSection } from './minimal';
import { QUICK_ROUNDS } from './stats';
import { roundsSection } from './rounds';
import { report } from './parts/summary';

async function main(): Promise<void> {
  const out: string[] = [];
  const say = (s = ''): void => {
    console.log(s);
    out.push(s);
  };
  for (const name of ['regression', 'malaria', 'sentiment']) {
    if (!fs.existsSync(path.join(MODELS_DIR, name, 'card.json'))) throw new Error(`${MODELS_DIR}/${name} is missing`);
  }
  requireWrk();
  buildIfStale();
  const cpu = os.cpus()[0]?.model ?? 'unknown CPU';
  const loadBefore = os.loadavg();
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'bench-'));

  const png = await syntheticCell();
  const pngFile = path.join(tmp, 'cell.png');
  fs.writeFileSync(pngFile, png);
  const upload = multipart(png);
  const targets = benchTargets(upload);

  if (ONLY === 'split') {
    say(`# Benchmark (split only): ${new Date().toISOString()}`);
    say();
    await splitSection(targets, say);
    say(`Load average after the run: ${os.loadavg().map((l) => l.toFixed(2)).join(', ')}.`);
    if (!QUICK) fs.writeFileSync(path.join(ROOT, 'bench', 'results-split.md'), out.join('\n') + '\n');
    return;
  }
  if (ONLY !== undefined) throw new Error(`--only ${ONLY}: the only part that runs alone is "split"`);

  // 1, 2. The in-process image limit, then the app with its defaults, as `npm start` starts it.
  const results = await measureApp(targets, upload, pngFile);

  // 3, 4. The walkthrough's stack, and floors, on the same form post.
  const references = await measureReferences(targets, tmp, results.formPage, results.pageBytes);

  // 5. Where a form post's CPU goes, under the same load at 8 connections.
  // One process, as "before" was measured, and the defaults.
  const profiledOne = await profileTarget(targets.regressionForm, { connections: 8, seconds: SECONDS, env: { WEB_CONCURRENCY: '1' } });
  const profiled = await profileTarget(targets.regressionForm, { connections: 8, seconds: SECONDS });

  // 6. Designs side by side: image saturation with /healthz alongside, the number form, memory.
  const designLines = await measureDesigns(targets);
  // 7. The split (issue 11): measured now, reported after the designs.
  const splitOut: string[] = [];
  const splitResult = await splitSection(targets, (line = '') => splitOut.push(line));
  // 8. What an explanation costs (issue 25), in alternating rounds.
  const explainOut: string[] = [];
  await explainSection((line = '') => explainOut.push(line), QUICK ? { rounds: 2, requests: 20 } : {});
  // 9. What the prediction log costs (issue 26), in alternating rounds.
  const loggingOut: string[] = [];
  await loggingSection((line = '') => loggingOut.push(line), QUICK ? QUICK_ROUNDS : {});
  // 10. Image predictions against the minimal HTTP server (issue 24), in alternating rounds.
  const minimalOut: string[] = [];
  await minimalSection((line = '') => minimalOut.push(line), QUICK ? QUICK_ROUNDS : {});
  // 11. Form posts against Flask + gunicorn on the same page (issue 24), in alternating rounds.
  const flaskOut: string[] = [];
  await flaskSection((line = '') => flaskOut.push(line), QUICK ? QUICK_ROUNDS : {});
  // 12. Start-up, /healthz under image load and the batch command (issue 24), in alternating rounds.
  const roundsOut: string[] = [];
  const rounds = await roundsSection((line = '') => roundsOut.push(line), QUICK ? QUICK_ROUNDS : {});
  fs.rmSync(tmp, { recursive: true, force: true });

  // Report.
  const other = { cpu, loadBefore, profiledOne, profiled, designLines, splitOut, splitResult, rounds };
  const { targetLines, profileLines } = report(results, references, other, say);
  for (const line of explainOut) say(line);
  for (const line of loggingOut) say(line);
  say();
  for (const line of minimalOut) say(line);
  say();
  for (const line of flaskOut) say(line);
  say();
  for (const line of roundsOut) say(line);
  if (QUICK) return;
  fs.writeFileSync(path.join(ROOT, 'bench', 'results.md'), out.join('\n') + '\n');
  // The docs show this run's numbers: README.md the targets and the profile, bench/README.md all of it.
  const header =
    `From the run of ${new Date().toISOString().slice(0, 16)}Z (\`npm run bench\`; ${os.availableParallelism()} × ${cpu}, wrk on the same cores; ` +
    `load average before the run ${loadBefore[0]?.toFixed(2)}: ${(loadBefore[0] ?? 0) > 0.5 ? '**the machine was shared with other work**, so absolute numbers are low and noisy; ratios from one run less so' : 'the machine was otherwise idle'}).`;
  const flaskTable = flaskOut.slice(2).map((line) => line.replace(/^Must hold 1: /, 'Issue 24, must hold 1: '));
  replaceBlock(
    path.join(ROOT, 'README.md'),
    'bench:serving',
    [header, '', ...targetLines, '', '**Form posts against Flask on the same page, in alternating rounds** (part 11):', '', ...flaskTable, ...profileLines].join('\n'),
  );
  replaceBlock(path.join(ROOT, 'bench', 'README.md'), 'bench:results', out.join('\n').replace(/^# Benchmark: /m, '#### Run of ').replace(/^## /gm, '#### '));
}

// Only `npm run bench` runs the whole benchmark (other scripts may import from here).
if (require.main === module) {
  main().catch((err: unknown) => {
    console.error(err);
    process.exit(1);
  });
}
