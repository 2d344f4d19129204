/**
 * Form posts against the walkthrough's Flask + gunicorn on the same page, in alternating rounds
 * (issue 24, must hold 1):
 *
 *   npm run bench:flask -- [--rounds N] [--seconds S]
 *
 * (default 5 rounds of 5 s per server and level; about three and a half minutes; part 11 of `npm
 * run bench`). Starts the built app as `npm start` starts it, posts the number form once and saves
 * the page it answers; starts Flask + gunicorn with 2 sync workers rendering that page (Jinja fills
 * in the statement and the input; the pickle loaded per request, as the walkthrough does: part 3's
 * first row). Both run the whole time; after a warm-up, each round loads one and then the other
 * with the same form post at 1, 8 and 32 connections (wrk, one thread), the order alternating
 * every round. Reports per level the medians (ranges) of requests/s, p99 and server CPU per request
 * (every process of each tree, from /proc), and the per-round ratios: requests/s app / Flask (bar
 * ≥ 1.2 at 8 and 32 connections) and p99 app / Flask (bar ≤ 2 at 1, 8 and 32).
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { type Proc, type Row, type Target, answerOf, buildIfStale, requireWrk, startApp, warm, wrk } from './lib';
import { FORM_POST } from './profile';
import { type RoundOptions, loadAverage, medianRange, quantile, roundSettings, wholeOption } from './stats';
import { flaskOnPage, startFlask, statementOf } from './walkthrough';

/** Issue 24, must hold 1: at least this many form posts per second as Flask, at these levels. */
const RATE_BAR = 1.2;
const RATE_LEVELS = [8, 32];
/** …and p99 no more than this multiple of Flask's, at every level. */
const P99_BAR = 2;
const LEVELS = [1, 8, 32];

type Side = 'app' | 'flask';

export async function flaskSection(say: (s?: string) => void, options: RoundOptions = {}): Promise<void> {
  const { rounds, seconds } = roundSettings(options);
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'bench-flask-'));
  const before = loadAverage();
  const ours: Target = FORM_POST;
  const theirs: Target = { ...FORM_POST, path: '/predict' };
  let app: Proc | null = null;
  let flask: Proc | null = null;
  try {
    app = await startApp('app');
    const page = await answerOf(app.base, ours);
    if (page.status !== 200) throw new Error(`the app answered the form post with ${page.status}`);
    const { modelPath, pageTemplate } = flaskOnPage(tmp, page.body.toString('utf8'));
    flask = await startFlask({ modelPath, reloadModel: true, pageTemplate });
    const flaskPage = await answerOf(flask.base, theirs);
    // Its own model's statement (bench/flask/fit.py), in the same page: statementOf throws without one.
    if (flaskPage.status !== 200) throw new Error(`Flask answered the form post with ${flaskPage.status}`);
    statementOf(flaskPage.body.toString('utf8'));
    const servers: Record<Side, { proc: Proc; target: Target }> = {
      app: { proc: app, target: ours },
      flask: { proc: flask, target: theirs },
    };
    for (const side of ['app', 'flask'] as const) await warm(servers[side].proc.base, [servers[side].target], 3);

    const rows = new Map<number, Record<Side, Row[]>>(LEVELS.map((c) => [c, { app: [], flask: [] }]));
    for (let round = 0; round < rounds; round++) {
      const order: Side[] = round % 2 === 0 ? ['app', 'flask'] : ['flask', 'app'];
      for (const connections of LEVELS) {
        for (const side of order) {
          const { proc, target } = servers[side];
          const row = await wrk(proc.base, target, connections, seconds, proc.pid);
          if (row.errors + row.non2xx > 0) throw new Error(`${side} at ${connections}: ${row.errors} errors, ${row.non2xx} non-2xx`);
          rows.get(connections)?.[side].push(row);
        }
      }
    }

    const lines: string[] = [];
    let rateHolds = true;
    let p99Holds = true;
    for (const connections of LEVELS) {
      const r = rows.get(connections) as Record<Side, Row[]>;
      const of = (side: Side, f: (row: Row) => number): number[] => r[side].map(f);
      const rate = r.app.map((row, k) => row.rps / (r.flask[k] as Row).rps);
      const p99 = r.app.map((row, k) => row.p99 / (r.flask[k] as Row).p99);
      const rateBar = RATE_LEVELS.includes(connections);
      const rateOk = quantile(rate) >= RATE_BAR;
      const p99Ok = quantile(p99) <= P99_BAR;
      if (rateBar) rateHolds &&= rateOk;
      p99Holds &&= p99Ok;
      lines.push(
        `| ${connections} | ${medianRange(of('app', (x) => x.rps), 0)} | ${medianRange(of('flask', (x) => x.rps), 0)} | ` +
          `${medianRange(rate, 2)} | ${rateBar ? `≥ ${RATE_BAR}: ${rateOk ? 'yes' : '**no**'}` : '(none)'} | ` +
          `${medianRange(of('app', (x) => x.p99), 1)} | ${medianRange(of('flask', (x) => x.p99), 1)} | ${medianRange(p99, 2)} | ` +
          `≤ ${P99_BAR}: ${p99Ok ? 'yes' : '**no**'} | ${medianRange(of('app', (x) => x.cpuMs ?? Number.NaN), 2)} | ` +
          `${medianRange(of('flask', (x) => x.cpuMs ?? Number.NaN), 2)} |`,
      );
    }
    say(`## Form posts against Flask + gunicorn ×2 on the same page (issue 24, must hold 1): ${rounds} alternating rounds`);
    say();
    say(
      `${new Date().toISOString()}; load average before ${before}, after ${loadAverage()} (${os.availableParallelism()} cores). ` +
        `The app as \`npm start\` starts it, POST /predict/regression x=5; Flask + gunicorn with 2 sync workers rendering the ` +
        `page the app answered (${page.body.length} bytes; Flask's ${flaskPage.body.length}), the pickle loaded per request as ` +
        `the walkthrough does. wrk with one thread, ${seconds} s per server and level in each round, the order alternating every ` +
        `round, after a warm-up. Medians (ranges) over the rounds; the ratios are per round; CPU per request: every process of ` +
        `each server, from /proc.`,
    );
    say();
    say(
      '| connections | app req/s | Flask req/s | app / Flask | bar | app p99 ms | Flask p99 ms | app / Flask p99 | bar | app CPU ms/req | Flask CPU ms/req |',
    );
    say('|---:|---:|---:|---:|---|---:|---:|---:|---|---:|---:|');
    for (const line of lines) say(line);
    say();
    say(
      `Must hold 1: requests/s ≥ ${RATE_BAR}× Flask's at ${RATE_LEVELS.join(' and ')} connections: ${rateHolds ? 'yes' : '**no**'}; ` +
        `p99 ≤ ${P99_BAR}× Flask's at ${LEVELS.join(', ')}: ${p99Holds ? 'yes' : '**no**'}.`,
    );
    say();
  } finally {
    await app?.stop();
    await flask?.stop();
    fs.rmSync(tmp, { recursive: true, force: true });
  }
}

if (require.main === module) {
  requireWrk();
  buildIfStale();
  flaskSection((s = '') => console.log(s), { rounds: wholeOption('rounds'), seconds: wholeOption('seconds') }).catch((err: unknown) => {
    console.error(err);
    process.exit(1);
  });
}
