/**
 * Load benchmark: `npm run bench` (about 12 minutes; `-- --quick` for a short smoke run).
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
 *     at one connection) and image throughput (32 connections), memory of both tiers.
 * Prints markdown tables and writes them to bench/results.md.
 *
 * `npm run bench -- --only split` runs the split part alone (and writes bench/results-split.md).
 */
import fs from 'node:fs';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import {
  type Proc,
  ROOT,
  type Row,
  type Target,
  bestImageLimit,
  buildIfStale,
  fitFlaskModel,
  flaskPageTemplate,
  get,
  mb,
  multipart,
  processTree,
  requireWrk,
  responseBytes,
  sleep,
  startApp,
  startFlask,
  startFloor,
  startModelTier,
  imageLimit,
  syntheticCell,
  warm as warmFor,
  wrk,
} from './lib';
import { FORM_POST, FORM_POST_BEFORE, breakdownTable, column, profileTarget } from './profile';

/** The token the benchmark's app is started with, so that it can read /metrics in production. */
const BENCH_METRICS_TOKEN = 'bench';
const QUICK = process.argv.includes('--quick');
const ONLY = process.argv.includes('--only') ? process.argv[process.argv.indexOf('--only') + 1] : undefined;
const SECONDS = QUICK ? 2 : 6;
const LEVELS = QUICK ? [8] : [1, 8, 32];
/** MODELS_DIR is passed on to the app too (it inherits this environment). */
const MODELS_DIR = path.resolve(process.env.MODELS_DIR ?? path.join(ROOT, 'models'));
const REVIEW =
  'I went in expecting very little and came out delighted. The performances are warm and precise, the script ' +
  'is funny without trying too hard, and the last half hour is genuinely moving. A couple of scenes drag and the ' +
  'score is sometimes too insistent, but the cast makes every moment count. I would happily watch it again, and ' +
  'I have already recommended it to friends who usually avoid this kind of film. Beautifully shot, too.';

const warm = (base: string, targets: Target[]): Promise<void> => warmFor(base, targets, QUICK ? 1 : 3);

/** N simultaneous uploads on N fresh connections; every answer must be 200 or 503 + Retry-After. */
async function burst(base: string, upload: { headers: Record<string, string>; body: Buffer }, n: number) {
  const agent = new http.Agent({ keepAlive: false, maxSockets: Infinity });
  const started = performance.now();
  const outcomes = await Promise.all(
    Array.from(
      { length: n },
      () =>
        new Promise<{ status: number; retryAfter: boolean; ms: number }>((resolve) => {
          const t = performance.now();
          const req = http.request(
            base + '/api/predict/malaria',
            { method: 'POST', agent, timeout: 35_000, headers: { ...upload.headers, 'content-length': String(upload.body.length) } },
            (res) => {
              res.resume();
              res.on('end', () => resolve({ status: res.statusCode ?? 0, retryAfter: res.headers['retry-after'] !== undefined, ms: performance.now() - t }));
            },
          );
          req.on('timeout', () => req.destroy(new Error('timeout')));
          req.on('error', () => resolve({ status: 0, retryAfter: false, ms: performance.now() - t }));
          req.end(upload.body);
        }),
    ),
  );
  agent.destroy();
  const count = (f: (o: (typeof outcomes)[number]) => boolean): number => outcomes.filter(f).length;
  const health = await get(base + '/healthz').catch(() => ({ status: 0 }));
  return {
    ok: count((o) => o.status === 200),
    shed: count((o) => o.status === 503 && o.retryAfter),
    other: count((o) => o.status !== 200 && !(o.status === 503 && o.retryAfter)),
    slowestMs: Math.max(...outcomes.map((o) => o.ms)),
    totalMs: performance.now() - started,
    aliveAfter: health.status === 200,
  };
}

/**
 * SIGTERM while `n` requests (half image uploads, half form posts) are in flight, as Heroku sends
 * it on every deploy: how many got 200, and whether the app exited 0 (and how fast).
 */
async function sigtermInFlight(upload: { headers: Record<string, string>; body: Buffer }, n: number) {
  const app = await startApp('app (SIGTERM)');
  const agent = new http.Agent({ keepAlive: false, maxSockets: Infinity });
  const send = (i: number): Promise<number> =>
    new Promise((resolve) => {
      const image = i % 2 === 0;
      const body = image ? upload.body : Buffer.from('x=5');
      const headers = image ? upload.headers : { 'content-type': 'application/x-www-form-urlencoded' };
      const req = http.request(
        app.base + (image ? '/api/predict/malaria' : '/predict/regression'),
        { method: 'POST', agent, timeout: 35_000, headers: { ...headers, 'content-length': String(body.length) } },
        (res) => {
          res.resume();
          res.on('end', () => resolve(res.statusCode ?? 0));
        },
      );
      req.on('timeout', () => req.destroy(new Error('timeout')));
      req.on('error', () => resolve(0));
      req.end(body);
    });
  const answers = Array.from({ length: n }, (_, i) => send(i));
  await sleep(100); // the requests reach the server
  const exited = new Promise<{ code: number | null; at: number }>((resolve) => app.proc.once('exit', (code) => resolve({ code, at: performance.now() })));
  const signalled = performance.now();
  app.proc.kill('SIGTERM');
  const statuses = await Promise.all(answers);
  const { code, at } = await exited;
  agent.destroy();
  await app.stop();
  return { ok: statuses.filter((s) => s === 200).length, n, exitCode: code, exitMs: at - signalled };
}

// ---------------------------------------------------------------------------------------------

const fmt = (n: number, digits = 0): string => (Number.isFinite(n) ? n.toFixed(digits) : '–');

function table(rows: Row[]): string {
  const cpu = rows.some((r) => r.cpuMs !== undefined);
  const lines = [
    `| scenario | conns | req/s | p50 ms | p99 ms | errors | non-2xx |${cpu ? ' server CPU ms/req |' : ''}`,
    `|---|---:|---:|---:|---:|---:|---:|${cpu ? '---:|' : ''}`,
  ];
  for (const r of rows) {
    const c = cpu ? ` ${fmt(r.cpuMs ?? NaN, 2)} |` : '';
    lines.push(`| ${r.scenario}${r.note ? ` (${r.note})` : ''} | ${r.connections} | ${fmt(r.rps)} | ${fmt(r.p50, 1)} | ${fmt(r.p99, 1)} | ${r.errors} | ${r.non2xx} |${c}`);
  }
  return lines.join('\n');
}

/** A real parasitized cell from the shared data beside the repository, if it is there. */
function findRealCell(): string | null {
  const dir = path.join(ROOT, '..', 'shared', 'data', 'malaria', 'parasitized');
  try {
    const first = fs.readdirSync(dir).filter((f) => /\.(png|jpe?g|webp|gif)$/i.test(f)).sort()[0];
    return first === undefined ? null : path.join(dir, first);
  } catch {
    return null;
  }
}

/** The statement in `<p class="prediction">` of a page. */
function statementOf(html: string): string {
  const m = /<p class="prediction">([^<]*)<\/p>/.exec(html);
  if (m === null) throw new Error('the page has no prediction');
  return m[1] as string;
}

/**
 * The split (issue 11): the app as one process against a web tier + model tier on loopback, both
 * running at once so that each measurement of one is followed at once by the same measurement of
 * the other (the machine's load drifts). Latency added: wrk at one connection, p50 and p99, per
 * model. Throughput: images at 32 connections. CPU per request counts both tiers' processes.
 */
async function splitSection(targets: Record<'regressionApi' | 'sentimentApi' | 'malariaApi', Target>, say: (s?: string) => void): Promise<{ ratio: number; imageRps: [number, number] }> {
  const token = 'bench-token';
  const one = await startApp('one process', { WEB_CONCURRENCY: '1' });
  const tier = await startModelTier('model tier', { INFERENCE_TOKEN: token });
  const web = await startApp('web tier', { WEB_CONCURRENCY: '1', INFERENCE_URL: tier.base, INFERENCE_TOKEN: token });
  const all = [targets.regressionApi, targets.sentimentApi, targets.malariaApi];
  await warm(one.base, all);
  await warm(web.base, all);
  const latency: string[] = [];
  for (const [what, target] of [
    ['regression (JSON)', targets.regressionApi],
    ['sentiment (JSON)', targets.sentimentApi],
    ['malaria (upload)', targets.malariaApi],
  ] as const) {
    const a = await wrk(one.base, target, 1, SECONDS, one.pid);
    const b = await wrk(web.base, target, 1, SECONDS, [web.pid, tier.pid]);
    latency.push(
      `| ${what} | ${fmt(a.p50, 2)} / ${fmt(a.p99, 2)} | ${fmt(b.p50, 2)} / ${fmt(b.p99, 2)} | **+${fmt(b.p50 - a.p50, 2)} / +${fmt(b.p99 - a.p99, 2)}** | ${fmt(a.cpuMs ?? NaN, 2)} → ${fmt(b.cpuMs ?? NaN, 2)} | ${a.errors + a.non2xx + b.errors + b.non2xx} |`,
    );
  }
  const images: Row[] = [];
  for (let round = 0; round < (QUICK ? 1 : 2); round++) {
    images.push({ ...(await wrk(one.base, targets.malariaApi, 32, SECONDS, one.pid)), scenario: 'images, one process' });
    images.push({ ...(await wrk(web.base, targets.malariaApi, 32, SECONDS, [web.pid, tier.pid])), scenario: 'images, web tier → model tier' });
  }
  const best = (scenario: string): number => Math.max(...images.filter((r) => r.scenario === scenario).map((r) => r.rps));
  const inProcess = best('images, one process');
  const split = best('images, web tier → model tier');
  await Promise.all([one.stop(), web.stop(), tier.stop()]);

  say('## The split: web tier → model tier on loopback, against one process (issue 11)');
  say();
  say(`Both set-ups running at once, measured alternately. Start-up to ready: one process ${fmt(one.startupMs)} ms; model tier ${fmt(tier.startupMs)} ms, then the web tier ${fmt(web.startupMs)} ms ` +
    '(it waits for the model tier and checks its metadata against the cards).');
  say();
  say('Latency per prediction, one connection (wrk), ms:');
  say();
  say('| prediction | one process p50 / p99 | split p50 / p99 | added by the split p50 / p99 | server CPU ms/req (all processes) | errors + non-2xx |');
  say('|---|---:|---:|---:|---:|---:|');
  for (const l of latency) say(l);
  say();
  say('Image predictions at 32 connections (best of the rounds, each round one process then split):');
  say();
  say(table(images));
  say();
  say(`| memory | idle RSS MB | peak RSS MB | peak PSS MB |`);
  say(`|---|---:|---:|---:|`);
  say(`| one process | ${mb(one.idleRss)} | ${mb(one.peakRss)} | ${mb(one.peakPss)} |`);
  say(`| web tier (no models, no onnxruntime) | ${mb(web.idleRss)} | ${mb(web.peakRss)} | ${mb(web.peakPss)} |`);
  say(`| model tier (2 inference threads) | ${mb(tier.idleRss)} | ${mb(tier.peakRss)} | ${mb(tier.peakPss)} |`);
  say(`| split, both tiers (sum of peaks) | ${mb(web.idleRss + tier.idleRss)} | ${mb(web.peakRss + tier.peakRss)} | ${mb(web.peakPss + tier.peakPss)} |`);
  say();
  const ratio = split / inProcess;
  say(`| target | measured | |`);
  say(`|---|---|---|`);
  say(`| split image throughput ≥ 0.8× one process | ${fmt(split)} vs ${fmt(inProcess)} /s = ${fmt(ratio, 2)}× | ${ratio >= 0.8 ? 'holds' : '**does not hold**'} |`);
  say();
  return { ratio, imageRps: [inProcess, split] };
}

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
  const targets = {
    regressionForm: FORM_POST,
    regressionApi: { method: 'POST', path: '/api/predict/regression', headers: { 'content-type': 'application/json' }, body: '{"x": 5}' } as Target,
    sentimentApi: { method: 'POST', path: '/api/predict/sentiment', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ review: REVIEW }) } as Target,
    malariaApi: { method: 'POST', path: '/api/predict/malaria', headers: upload.headers, body: upload.body } as Target,
    healthz: { method: 'GET', path: '/healthz' } as Target,
  };
  /** One row per concurrency level, each measured alone (so its server CPU per request is meaningful). */
  const levels = async (p: Proc, target: Target, scenario: string, at: number[], note?: string): Promise<Row[]> => {
    const rows: Row[] = [];
    for (const c of at) rows.push({ ...(await wrk(p.base, target, c, SECONDS, p.pid)), scenario, note });
    return rows;
  };
  /** Uploads saturating the server with /healthz polled alongside: is the event loop still free? */
  const saturated = async (p: Proc, seconds: number): Promise<{ images: Row; health: Row }> => {
    const [images, health] = await Promise.all([
      wrk(p.base, targets.malariaApi, 32, seconds + 1),
      sleep(500).then(() => wrk(p.base, targets.healthz, 1, Math.max(1, seconds - 1))),
    ]);
    return { images, health };
  };

  if (ONLY === 'split') {
    say(`# Benchmark (split only): ${new Date().toISOString()}`);
    say();
    await splitSection(targets, say);
    say(`Load average after the run: ${os.loadavg().map((l) => l.toFixed(2)).join(', ')}.`);
    if (!QUICK) fs.writeFileSync(path.join(ROOT, 'bench', 'results-split.md'), out.join('\n') + '\n');
    return;
  }
  if (ONLY !== undefined) throw new Error(`--only ${ONLY}: the only part that runs alone is "split"`);

  // 1. The in-process image limit, before any server runs.
  const limitRuns = (QUICK ? [2] : [1, 2, 4]).map((c) => ({ c, ...imageLimit(pngFile, c, QUICK ? 2 : 5) }));
  const limit = Math.max(...limitRuns.map((r) => r.perSecond));
  // The same with a real cell from the dataset, when it is beside the repository (for reference:
  // the synthetic cell is a 1 KB PNG of flat colours, far cheaper to decode than a real one).
  const realCell = findRealCell();
  const realLimit = realCell === null || QUICK ? NaN : bestImageLimit(realCell, 5);

  // 2. The app with its defaults, as `npm start` starts it.
  // NODE_ENV=production, as on Heroku: /metrics answers only with METRICS_TOKEN.
  const app = await startApp('app', { METRICS_TOKEN: BENCH_METRICS_TOKEN });
  const httpProcesses = Math.max(1, processTree(app.pid).length - 1);
  await warm(app.base, [targets.regressionForm, targets.sentimentApi, targets.malariaApi]);
  const rows: Row[] = [
    ...(await levels(app, targets.regressionForm, 'form POST /predict/regression', LEVELS)),
    ...(await levels(app, targets.sentimentApi, 'JSON POST /api/predict/sentiment', LEVELS)),
    ...(await levels(app, targets.malariaApi, 'upload POST /api/predict/malaria', LEVELS)),
  ];
  const sat = await saturated(app, SECONDS);
  const health = sat.health;
  rows.push({ ...sat.images, scenario: 'upload POST /api/predict/malaria', note: 'with /healthz alongside' });
  rows.push({ ...health, scenario: 'GET /healthz while images saturate' });
  const imageRps = Math.max(...rows.filter((r) => r.scenario.startsWith('upload')).map((r) => r.rps));
  const realUpload = realCell === null || QUICK ? null : multipart(fs.readFileSync(realCell), 'image', path.basename(realCell));
  const realRows: Row[] = [];
  if (realUpload !== null) {
    const target: Target = { method: 'POST', path: '/api/predict/malaria', headers: realUpload.headers, body: realUpload.body };
    await warm(app.base, [target]);
    realRows.push(...(await levels(app, target, `upload POST /api/predict/malaria, ${path.basename(realCell as string)} from the dataset`, [8, 32])));
  }
  const realRps = realRows.length === 0 ? NaN : Math.max(...realRows.map((r) => r.rps));
  const pageBytes = await responseBytes(app.base, targets.regressionForm);
  const formPage = await fetch(app.base + targets.regressionForm.path, {
    method: 'POST',
    headers: targets.regressionForm.headers,
    body: targets.regressionForm.body as string,
  }).then((r) => r.text());
  const b = await burst(app.base, upload, 400);
  const metricsText = (await get(app.base + '/metrics', 2000, { authorization: `Bearer ${BENCH_METRICS_TOKEN}` })).body;
  await app.stop();
  const term = await sigtermInFlight(upload, 200);

  // 3. The walkthrough's stack on the same form post, same load generator, same levels: rendering
  // our page (saved above; Jinja fills in the statement and the input) and its own one-line page.
  const pkl = path.join(tmp, 'model.pkl');
  fitFlaskModel(pkl);
  const pageTemplate = path.join(tmp, 'templates', 'page.html');
  fs.mkdirSync(path.dirname(pageTemplate), { recursive: true });
  fs.writeFileSync(pageTemplate, flaskPageTemplate(formPage, statementOf(formPage), '5'));
  const flaskRows: Row[] = [];
  let flaskPeak = 0;
  let flaskPeakPss = 0;
  let flaskPageBytes = 0;
  const top = LEVELS[LEVELS.length - 1] as number;
  const flaskRuns = [
    { page: true, reload: true, note: "ml-forms' page, pickle loaded per request as the walkthrough", at: LEVELS },
    { page: true, reload: false, note: "ml-forms' page, pickle loaded once", at: [top] },
    { page: false, reload: true, note: 'the walkthrough\'s one-line page, pickle loaded per request', at: LEVELS },
  ];
  for (const run of flaskRuns) {
    const flask = await startFlask({ modelPath: pkl, reloadModel: run.reload, pageTemplate: run.page ? pageTemplate : undefined });
    const form = { ...targets.regressionForm, path: '/predict' };
    await warm(flask.base, [form]);
    if (run.page) flaskPageBytes = await responseBytes(flask.base, form);
    flaskRows.push(...(await levels(flask, form, 'Flask+gunicorn ×2 form POST /predict', run.at, run.note)));
    flaskPeak = Math.max(flaskPeak, flask.peakRss);
    flaskPeakPss = Math.max(flaskPeakPss, flask.peakPss);
    await flask.stop();
  }

  // 4. Floors: the same form post against servers that only answer a page of the same size.
  const floorRows: Row[] = [];
  for (const [mode, what] of [
    ['http', 'node:http, fixed page'],
    ['express', 'Express 5, fixed page'],
    ['express-urlencoded', 'Express 5 + urlencoded body parser, fixed page'],
  ] as const) {
    const f = await startFloor(mode, pageBytes);
    await warm(f.base, [targets.regressionForm]);
    floorRows.push({ ...(await wrk(f.base, targets.regressionForm, top, SECONDS, f.pid)), scenario: `floor: ${what} (one process)` });
    await f.stop();
  }

  // 5. Where a form post's CPU goes, under the same load at 8 connections.
  // One process, as "before" was measured, and the defaults.
  const profiledOne = await profileTarget(targets.regressionForm, { connections: 8, seconds: SECONDS, env: { WEB_CONCURRENCY: '1' } });
  const profiled = await profileTarget(targets.regressionForm, { connections: 8, seconds: SECONDS });

  // 6. Designs side by side: image saturation with /healthz alongside, the number form, memory.
  const designs: { name: string; env: Record<string, string> }[] = [
    { name: 'one process, models in 2 inference threads', env: { WEB_CONCURRENCY: '1' } },
    { name: 'one process, models on the main thread', env: { WEB_CONCURRENCY: '1', INFERENCE_WORKERS: '0' } },
    { name: '2 HTTP processes, models in each, on its main thread (default)', env: { WEB_CONCURRENCY: '2', CLUSTER_MODELS: 'each', INFERENCE_WORKERS: '0' } },
    { name: '2 HTTP processes, models in each, 1 inference thread each', env: { WEB_CONCURRENCY: '2', CLUSTER_MODELS: 'each', INFERENCE_WORKERS: '1' } },
    { name: '2 HTTP processes + model host (IPC), models on its main thread', env: { WEB_CONCURRENCY: '2', CLUSTER_MODELS: 'host', INFERENCE_WORKERS: '0' } },
    { name: '2 HTTP processes + model host (IPC), 2 inference threads', env: { WEB_CONCURRENCY: '2', CLUSTER_MODELS: 'host', INFERENCE_WORKERS: '2' } },
  ];
  const designLines = [
    '| design | start-up ms | idle RSS MB | idle PSS MB | peak RSS MB | peak PSS MB | images req/s (c=32) | image p99 ms | /healthz p99 ms | form req/s (c=32) | form CPU ms/req | sentiment req/s (c=32) |',
    '|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|',
  ];
  for (const d of QUICK ? designs.slice(2, 3) : designs) {
    const p = await startApp(d.name, d.env);
    await warm(p.base, [targets.regressionForm, targets.sentimentApi, targets.malariaApi]);
    const { images: img, health: hz } = await saturated(p, Math.max(2, SECONDS - 1));
    const form = await wrk(p.base, targets.regressionForm, top, Math.max(2, SECONDS - 2), p.pid);
    const senti = await wrk(p.base, targets.sentimentApi, 32, Math.max(2, SECONDS - 2));
    await p.stop();
    designLines.push(
      `| ${d.name} | ${fmt(p.startupMs)} | ${mb(p.idleRss)} | ${mb(p.idlePss)} | ${mb(p.peakRss)} | ${mb(p.peakPss)} | ${fmt(img.rps)} | ${fmt(img.p99)} | ${fmt(hz.p99)} | ${fmt(form.rps)} | ${fmt(form.cpuMs ?? NaN, 2)} | ${fmt(senti.rps)} |`,
    );
  }
  // 7. The split (issue 11): measured now, reported after the designs.
  const splitOut: string[] = [];
  const splitResult = await splitSection(targets, (line = '') => splitOut.push(line));
  fs.rmSync(tmp, { recursive: true, force: true });

  // Report.
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
    `| number form posts ≥ 1.2× Flask + gunicorn ×2 rendering the same page (ml-forms' page saved once, statement and input by Jinja; pickle loaded per request as the walkthrough) | ${rates(ours)} vs ${rates((c) => theirs(c, walkthrough))} req/s at ${LEVELS.join(' / ')} connections = **${ratios(walkthrough)}** | ${check(formHolds)} |`,
    `| the same against Flask with the pickle loaded once | ${fmt(ours(top)?.rps ?? NaN)} vs ${fmt(theirs(top, pickleOnce)?.rps ?? NaN)} req/s at ${top} connections = ${fmt((ours(top)?.rps ?? NaN) / (theirs(top, pickleOnce)?.rps ?? NaN), 2)}× | (for reference) |`,
    `| the same against the walkthrough's own one-line page | ${rates(ours)} vs ${rates((c) => theirs(c, oneLine))} req/s = ${ratios(oneLine)} | (for reference) |`,
    `| server CPU per form post (all processes, from /proc, ${top} connections) | ours ${fmt(ours(top)?.cpuMs ?? NaN, 2)} ms, Flask on the same page ${fmt(cpuFlask, 2)} ms | (for reference) |`,
    `| image predictions over HTTP ≥ 0.8× the in-process limit (plainest pipeline, best of 1, 2, 4 in flight) | ${fmt(imageRps)} vs ${fmt(limit)} /s = **${fmt(imageRps / limit, 2)}×** | ${check(imageRps >= 0.8 * limit)} |`,
    ...(realRows.length > 0
      ? [`| the same with a real cell image from the dataset (${path.basename(realCell as string)}) | ${fmt(realRps)} vs ${fmt(realLimit)} /s = ${fmt(realRps / realLimit, 2)}× | (for reference) |`]
      : []),
    `| memory at peak under all the load, PSS summed over the app's processes ≤ 256 MB | **PSS ${mb(app.peakPss)} MB** (RSS ${mb(app.peakRss)} MB; idle PSS ${mb(app.idlePss)} MB) | ${check(app.peakPss <= 256 * 1048576)} |`,
    `| /healthz p99 ≤ 20 ms while image uploads saturate the server | **${fmt(health.p99, 1)} ms** | ${check(health.p99 <= 20)} |`,
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
  if (QUICK) return;
  fs.writeFileSync(path.join(ROOT, 'bench', 'results.md'), out.join('\n') + '\n');
  // The docs show this run's numbers: README.md the targets and the profile, bench/README.md all of it.
  const header =
    `From the run of ${new Date().toISOString().slice(0, 16)}Z (\`npm run bench\`; ${os.availableParallelism()} × ${cpu}, wrk on the same cores; ` +
    `load average before the run ${loadBefore[0]?.toFixed(2)}: ${(loadBefore[0] ?? 0) > 0.5 ? '**the machine was shared with other work**, so absolute numbers are low and noisy; ratios from one run less so' : 'the machine was otherwise idle'}).`;
  replaceBlock(path.join(ROOT, 'README.md'), 'bench:serving', [header, '', ...targetLines, '', ...profileLines].join('\n'));
  replaceBlock(path.join(ROOT, 'bench', 'README.md'), 'bench:results', out.join('\n').replace(/^# Benchmark: /m, '#### Run of ').replace(/^## /gm, '#### '));
}

/** Replaces what lies between `<!-- name:start -->` and `<!-- name:end -->` in `file`. */
function replaceBlock(file: string, name: string, content: string): void {
  const text = fs.readFileSync(file, 'utf8');
  const start = `<!-- ${name}:start -->`;
  const end = `<!-- ${name}:end -->`;
  const a = text.indexOf(start);
  const b = text.indexOf(end);
  if (a < 0 || b < a) throw new Error(`${file} has no ${start} … ${end} block`);
  fs.writeFileSync(file, `${text.slice(0, a + start.length)}\n${content}\n${text.slice(b)}`);
}

// Only `npm run bench` runs the whole benchmark (other scripts may import from here).
if (require.main === module) {
  main().catch((err: unknown) => {
    console.error(err);
    process.exit(1);
  });
}
