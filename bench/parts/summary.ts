/**
 * The report of `npm run bench` (all parts but --only split): markdown tables of every part's
 * numbers and the serving targets (issues 11, 12 and 24), each line passed to `say`. The targets
 * table cites start-up, /healthz under image load and the batch command as part 12's medians of
 * alternating rounds (bench/rounds.ts), part 2's single runs beside them.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { type Row, mb } from '../lib';
import { FORM_POST_BEFORE, breakdownTable, column, type profileTarget } from '../profile';
import { fmt, table } from '../report';
import { BATCH_BAR, FIRST_ROW_BAR_S, HEALTHZ_BAR_MS, type RoundsResult, STARTUP_BAR_MS, cite } from '../rounds';
import { quantile } from '../stats';
import type { AppResults } from './app';
import type { ReferenceResults } from './reference';
import { LEVELS, PSS_BAR_MB, QUICK, SECONDS } from './settings';

/** What the report needs besides the app's and the references' numbers. */
export interface OtherResults {
  cpu: string;
  loadBefore: number[];
  profiledOne: Awaited<ReturnType<typeof profileTarget>>;
  profiled: Awaited<ReturnType<typeof profileTarget>>;
  designLines: string[];
  splitOut: string[];
  splitResult: { ratio: number; imageRps: [number, number] };
  /** Part 12: start-up, /healthz under image load and the batch command in alternating rounds. */
  rounds: RoundsResult;
}

/** Says the report; returns the lines README.md shows (the targets and the profile). */
export function report(
  results: AppResults,
  references: ReferenceResults,
  other: OtherResults,
  say: (s?: string) => void,
): { targetLines: string[]; profileLines: string[] } {
  const { limitRuns, limit, realCell, realLimit, app, httpProcesses, rows, health, healthNew, imageRps } = results;
  const { realRows, realRps, pageBytes, b, metricsText, term } = results;
  const { flaskRows, flaskPeak, flaskPeakPss, flaskPageBytes, flaskRuns, floorRows } = references;
  const { cpu, loadBefore, profiledOne, profiled, designLines, splitOut, splitResult, rounds } = other;
  const top = LEVELS[LEVELS.length - 1] as number;
  const ours = (c: number): Row | undefined => rows.find((r) => r.connections === c && r.scenario.startsWith('form'));
  const theirs = (c: number, note: string): Row | undefined => flaskRows.find((r) => r.connections === c && r.note === note);
  const walkthrough = flaskRuns[0]?.note as string;
  const check = (ok: boolean): string => (ok ? 'holds' : '**does not hold**');
  say(`# Benchmark: ${new Date().toISOString()}`);
  say();
  say(`Machine: ${os.availableParallelism()} × ${cpu}, ${mb(os.totalmem())} MB RAM, Linux ${os.release()}, Node ${process.version}; ` +
    `load generator (wrk, one thread) on the same machine. Command: \`npm run bench${QUICK ? ' -- --quick' : ''}\`, ${SECONDS} s per cell. ` +
    `Load average before the run: ${loadBefore.map((l) => l.toFixed(2)).join(', ')}, after: ${os.loadavg().map((l) => l.toFixed(2)).join(', ')} ` +
    '(above ~0.2 before the run means other work shared the cores).');
  say();
  say(`## The app (\`npm start\`, its defaults: ${httpProcesses} HTTP process${httpProcesses === 1 ? '' : 'es'} on ${os.availableParallelism()} cores, production)`);
  say();
  say(`Start-up to /readyz 200: **${fmt(app.startupMs)} ms**. Memory of the app's processes, summed: idle PSS **${mb(app.idlePss)} MB** (RSS ${mb(app.idleRss)} MB), ` +
    `peak under all the load below PSS **${mb(app.peakPss)} MB** (RSS ${mb(app.peakRss)} MB).`);
  say();
  say(table(rows));
  say();
  say(`Burst of 400 simultaneous uploads: ${b.ok} × 200, ${b.shed} × 503 with Retry-After, ${b.other} other; ` +
    `slowest answer ${fmt(b.slowestMs)} ms, all answered in ${fmt(b.totalMs)} ms; /healthz afterwards: ${b.aliveAfter ? '200' : 'FAILED'}.`);
  say();
  say(`SIGTERM with ${term.n} requests in flight (half uploads, half form posts): ${term.ok} answered 200; exit code ${term.exitCode} after ${fmt(term.exitMs)} ms.`);
  say();
  say('## Reference: the walkthrough\'s Flask + gunicorn (2 workers), and the image limit');
  say();
  say(`Form posts of the number form, both servers loaded by the same wrk command (one thread, the same connections and duration). ` +
    `Flask renders ml-forms' own page after a form post (saved from the app in this run: ${flaskPageBytes} bytes against our ${pageBytes}; ` +
    `Jinja fills in the statement and the input), and, as a second row, the walkthrough's one-line page:`);
  say();
  say(table([...rows.filter((r) => r.scenario.startsWith('form')).map((r) => ({ ...r, scenario: 'ml-forms form POST /predict/regression' })), ...flaskRows]));
  say();
  say(`Flask + gunicorn peak memory (master + 2 workers): PSS ${mb(flaskPeakPss)} MB (RSS ${mb(flaskPeak)} MB).`);
  say();
  say(`In-process image limit (bench/image-limit.ts: libvips decode to RGB, one onnxruntime run with the resize inside the graph, no HTTP, one process): ` +
    limitRuns.map((r) => `${fmt(r.perSecond)} /s with ${r.c} in flight (${fmt(r.cpuMsPerImage, 2)} ms of CPU per image)`).join(', ') +
    `; best ${fmt(limit)} /s.`);
  say();
  if (realRows.length > 0) {
    say(`The same with a real cell image from the dataset (${path.basename(realCell as string)}, ${fs.statSync(realCell as string).size} bytes): ` +
      `in-process limit ${fmt(realLimit)} /s (best of 1, 2, 4 in flight); over HTTP, the app with its defaults:`);
    say();
    say(table(realRows));
    say();
  }
  say(`Floors: the same load (${top} connections) against servers that only read the body and answer a fixed page ` +
    `of the same size (${pageBytes} bytes), with the app's node flags (\`bench/floor.ts\`): what a Node server pays per request before any of our code runs.`);
  say();
  say(table([...(ours(top) ? [{ ...(ours(top) as Row), scenario: `ml-forms form POST /predict/regression (${httpProcesses} HTTP processes)` }] : []), ...floorRows]));
  say();
  const profileLines = [
    `CPU profile of form posts (V8's sampling profiler in every process and thread of the app, \`bench/profile.ts\`; 8 connections, ${SECONDS} s), ` +
      'µs per request by where the time went; "before" is the same measurement of main before issue 12, one process (its numbers are kept in bench/profile.ts). ' +
      'The profiler samples wall-clock time of threads that are not idle, so on a busy machine its totals run above the CPU time /proc counts.',
    '',
    breakdownTable([
      FORM_POST_BEFORE,
      column('after, one process (WEB_CONCURRENCY=1)', profiledOne),
      column(`after, the defaults (${httpProcesses} HTTP process${httpProcesses === 1 ? '' : 'es'})`, profiled),
    ]),
  ];
  say('## Where a form post\'s CPU goes, before and after');
  say();
  for (const l of profileLines) say(l);
  say();
  say('## Designs (same load, one server each)');
  say();
  say(designLines.join('\n'));
  say();
  for (const line of splitOut) say(line);
  const ratios = (note: string): string =>
    LEVELS.map((c) => fmt((ours(c)?.rps ?? NaN) / (theirs(c, note)?.rps ?? NaN), 2) + '×').join(' / ');
  const rates = (rowsOf: (c: number) => Row | undefined): string => LEVELS.map((c) => fmt(rowsOf(c)?.rps ?? NaN)).join(' / ');
  const oneLine = flaskRuns[2]?.note as string;
  const pickleOnce = flaskRuns[1]?.note as string;
  const cpuFlask = theirs(top, walkthrough)?.cpuMs ?? NaN;
  const ofRounds = `median of ${rounds.rounds} alternating rounds (range; part 12)`;
  const batchRounds = rounds.batch;
  const targetLines = [
    '| target (issues 12 and 24) | measured | |',
    '|---|---|---|',
    `| number form posts ≥ 1.2× Flask + gunicorn ×2 rendering the same page (ml-forms' page saved once, statement and input by Jinja; pickle loaded per request as the walkthrough), one run each (issue 24 judges it in alternating rounds: the next table) | ${rates(ours)} vs ${rates((c) => theirs(c, walkthrough))} req/s at ${LEVELS.join(' / ')} connections = ${ratios(walkthrough)} | (one run, for reference: judged by part 11's alternating rounds, the next table) |`,
    `| the same against Flask with the pickle loaded once | ${fmt(ours(top)?.rps ?? NaN)} vs ${fmt(theirs(top, pickleOnce)?.rps ?? NaN)} req/s at ${top} connections = ${fmt((ours(top)?.rps ?? NaN) / (theirs(top, pickleOnce)?.rps ?? NaN), 2)}× | (for reference) |`,
    `| the same against the walkthrough's own one-line page | ${rates(ours)} vs ${rates((c) => theirs(c, oneLine))} req/s = ${ratios(oneLine)} | (for reference) |`,
    `| server CPU per form post (all processes, from /proc, ${top} connections) | ours ${fmt(ours(top)?.cpuMs ?? NaN, 2)} ms, Flask on the same page ${fmt(cpuFlask, 2)} ms | (for reference) |`,
    `| image predictions over HTTP ≥ 0.8× the in-process limit (plainest pipeline, best of 1, 2, 4 in flight) | ${fmt(imageRps)} vs ${fmt(limit)} /s = **${fmt(imageRps / limit, 2)}×** | ${check(imageRps >= 0.8 * limit)} |`,
    ...(realRows.length > 0
      ? [`| the same with a real cell image from the dataset (${path.basename(realCell as string)}) | ${fmt(realRps)} vs ${fmt(realLimit)} /s = ${fmt(realRps / realLimit, 2)}× | (for reference) |`]
      : []),
    `| memory at peak under all the load, PSS summed over the app's processes ≤ ${PSS_BAR_MB} MB | **PSS ${mb(app.peakPss)} MB** (RSS ${mb(app.peakRss)} MB; idle PSS ${mb(app.idlePss)} MB); under image saturation alone ${cite(rounds.peakPss.map((p) => Number(mb(p))), 0, ' MB')}, ${ofRounds} | ${check(app.peakPss <= PSS_BAR_MB * 1048576 && quantile(rounds.peakPss) <= PSS_BAR_MB * 1048576)} |`,
    `| /healthz p99 ≤ ${HEALTHZ_BAR_MS} ms while image uploads saturate the server | ${cite(rounds.healthKept, 1, ' ms')} on a kept-alive connection, ${cite(rounds.healthNew, 1, ' ms')} with a new connection per probe, ${ofRounds}; one run in part 2: ${fmt(health.p99, 1)} and ${fmt(healthNew.p99, 1)} ms | ${check(quantile(rounds.healthKept) <= HEALTHZ_BAR_MS && quantile(rounds.healthNew) <= HEALTHZ_BAR_MS)} |`,
    `| start to /readyz 200 ≤ ${STARTUP_BAR_MS / 1000} s | ${cite(rounds.startupMs, 0, ' ms')}, median of ${rounds.rounds} fresh starts, one an alternating round (range; part 12); part 2's start ${fmt(app.startupMs)} ms | ${check(quantile(rounds.startupMs) <= STARTUP_BAR_MS)} |`,
    'ratio' in batchRounds
      ? `| the batch command ≥ ${BATCH_BAR}× the plain in-process pipeline over the same ${batchRounds.count.toLocaleString('en-US')} held-out files (start-up included), its start-up to the first row ≤ ${FIRST_ROW_BAR_S} s | ${fmt(quantile(batchRounds.rate))} vs ${fmt(quantile(batchRounds.limit))} /s: ${cite(batchRounds.ratio, 2, '×')}; first row ${cite(batchRounds.firstRow, 2, ' s')}; ${ofRounds} | ${check(quantile(batchRounds.ratio) >= BATCH_BAR && quantile(batchRounds.firstRow) <= FIRST_ROW_BAR_S)} |`
      : `| the batch command ≥ ${BATCH_BAR}× the plain in-process pipeline over the same held-out files, its start-up to the first row ≤ ${FIRST_ROW_BAR_S} s | not measured: ${batchRounds.skipped} | (not measured) |`,
    `| 400 simultaneous uploads: only 200 or 503 + Retry-After, alive after | ${b.ok} × 200, ${b.shed} × 503, ${b.other} other; slowest ${fmt(b.slowestMs)} ms; alive: ${b.aliveAfter} | ${check(b.other === 0 && b.aliveAfter)} |`,
    `| SIGTERM with ${term.n} requests in flight loses none, exit 0 | ${term.ok}/${term.n} answered 200, exit ${term.exitCode} after ${fmt(term.exitMs)} ms | ${check(term.ok === term.n && term.exitCode === 0)} |`,
  ];
  say('## Targets (issues 12 and 24)');
  say();
  for (const l of targetLines) say(l);
  say();
  say('Issue 11\'s target, from the split section above:');
  say();
  say('| target | measured | |');
  say('|---|---|---|');
  say(`| split image throughput ≥ 0.8× one process (issue 11) | ${fmt(splitResult.imageRps[1])} vs ${fmt(splitResult.imageRps[0])} /s = ${fmt(splitResult.ratio, 2)}× | ${check(splitResult.ratio >= 0.8)} |`);
  say();
  const queueLines = metricsText.split('\n').filter((l) => /^(inference_duration_seconds_(sum|count)|nodejs_eventloop_lag_p99_seconds|process_resident_memory_bytes)/.test(l));
  say('<details><summary>/metrics excerpt after the run</summary>\n\n```\n' + queueLines.join('\n') + '\n```\n</details>');
  return { targetLines, profileLines };
}
