/**
 * The report of `npm run bench` (all parts but --only split): markdown tables of every part's
 * numbers and the serving targets (issues 11 and 12), each line passed to `say`.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { type Row, mb } from '../lib';
import { FORM_POST_BEFORE, breakdownTable, column, type profileTarget } from '../profile';
import { fmt, table } from '../report';
import type { AppResults } from './app';
import type { ReferenceResults } from './reference';
import { LEVELS, QUICK, SECONDS } from './settings';

/** What the report needs besides the app's and the references' numbers. */
export interface OtherResults {
  cpu: string;
  loadBefore: number[];
  profiledOne: Awaited<ReturnType<typeof profileTarget>>;
  profiled: Awaited<ReturnType<typeof profileTarget>>;
  designLines: string[];
  splitOut: string[];
  splitResult: { ratio: number; imageRps: [number, number] };
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
  const { cpu, loadBefore, profiledOne, profiled, designLines, splitOut, splitResult } = other;
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
  const formHolds = LEVELS.every((c) => (ours(c)?.rps ?? 0) >= 1.2 * (theirs(c, walkthrough)?.rps ?? Infinity));
  const cpuFlask = theirs(top, walkthrough)?.cpuMs ?? NaN;
  const targetLines = [
    '| target (issue 12) | measured | |',
    '|---|---|---|',
    `| number form posts ≥ 1.2× Flask + gunicorn ×2 rendering the same page (ml-forms' page saved once, statement and input by Jinja; pickle loaded per request as the walkthrough), one run each (issue 24 judges it in alternating rounds: the next table) | ${rates(ours)} vs ${rates((c) => theirs(c, walkthrough))} req/s at ${LEVELS.join(' / ')} connections = **${ratios(walkthrough)}** | ${check(formHolds)} |`,
    `| the same against Flask with the pickle loaded once | ${fmt(ours(top)?.rps ?? NaN)} vs ${fmt(theirs(top, pickleOnce)?.rps ?? NaN)} req/s at ${top} connections = ${fmt((ours(top)?.rps ?? NaN) / (theirs(top, pickleOnce)?.rps ?? NaN), 2)}× | (for reference) |`,
    `| the same against the walkthrough's own one-line page | ${rates(ours)} vs ${rates((c) => theirs(c, oneLine))} req/s = ${ratios(oneLine)} | (for reference) |`,
    `| server CPU per form post (all processes, from /proc, ${top} connections) | ours ${fmt(ours(top)?.cpuMs ?? NaN, 2)} ms, Flask on the same page ${fmt(cpuFlask, 2)} ms | (for reference) |`,
    `| image predictions over HTTP ≥ 0.8× the in-process limit (plainest pipeline, best of 1, 2, 4 in flight) | ${fmt(imageRps)} vs ${fmt(limit)} /s = **${fmt(imageRps / limit, 2)}×** | ${check(imageRps >= 0.8 * limit)} |`,
    ...(realRows.length > 0
      ? [`| the same with a real cell image from the dataset (${path.basename(realCell as string)}) | ${fmt(realRps)} vs ${fmt(realLimit)} /s = ${fmt(realRps / realLimit, 2)}× | (for reference) |`]
      : []),
    `| memory at peak under all the load, PSS summed over the app's processes ≤ 256 MB | **PSS ${mb(app.peakPss)} MB** (RSS ${mb(app.peakRss)} MB; idle PSS ${mb(app.idlePss)} MB) | ${check(app.peakPss <= 256 * 1048576)} |`,
    `| /healthz p99 ≤ 20 ms while image uploads saturate the server | **${fmt(health.p99, 1)} ms** on a kept-alive connection, **${fmt(healthNew.p99, 1)} ms** with a new connection per probe | ${check(health.p99 <= 20 && healthNew.p99 <= 20)} |`,
    `| start to /readyz 200 ≤ 1 s | **${fmt(app.startupMs)} ms** | ${check(app.startupMs <= 1000)} |`,
    `| 400 simultaneous uploads: only 200 or 503 + Retry-After, alive after | ${b.ok} × 200, ${b.shed} × 503, ${b.other} other; slowest ${fmt(b.slowestMs)} ms; alive: ${b.aliveAfter} | ${check(b.other === 0 && b.aliveAfter)} |`,
    `| SIGTERM with ${term.n} requests in flight loses none, exit 0 | ${term.ok}/${term.n} answered 200, exit ${term.exitCode} after ${fmt(term.exitMs)} ms | ${check(term.ok === term.n && term.exitCode === 0)} |`,
  ];
  say('## Targets (issue 12)');
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
