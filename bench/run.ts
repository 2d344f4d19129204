/**
 * Load benchmark: `npm run bench` (about 10 minutes; `-- --quick` for a short smoke run).
 *
 * Builds dist/ if it is older than the sources, then, on 127.0.0.1 only:
 *  1. the in-process limit: the malaria predictor called in a loop (decode, resize, infer; no HTTP);
 *  2. the app as `npm start` runs it (node dist/server.js, production): start-up time to /readyz 200,
 *     idle RSS, each endpoint at a few concurrency levels, /healthz while image predictions
 *     saturate it, a burst of 400 simultaneous uploads, peak RSS of the process tree throughout;
 *  3. the walkthrough's stack (Flask + gunicorn, 2 workers) on the same form post and load (wrk);
 *  4. floors: node:http, Express 5 and Express 5 + urlencoded answering a fixed page of our size
 *     (bench/floor.ts), the same form post and load: what a request costs before any of our code;
 *  5. the serving designs side by side (models on the main thread, inference threads, the cluster
 *     of a model host and 2 HTTP processes, ...).
 *  6. the split (issue 11): a web tier (INFERENCE_URL) and a model tier (ROLE=models) as two
 *     processes on loopback against the one-process app: latency added per prediction (p50, p99
 *     at one connection) and image throughput (32 connections), memory of both tiers.
 * Prints markdown tables and writes them to bench/results.md.
 *
 * `npm run bench -- --only split` runs the split part alone (and writes bench/results-split.md).
 */
import { execFile, execFileSync, spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import http from 'node:http';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { inProcessLimit, syntheticCell } from './limit';
import { processTree, treeMemory } from './proc';

const ROOT = path.resolve(__dirname, '..');
const QUICK = process.argv.includes('--quick');
const ONLY = process.argv.includes('--only') ? process.argv[process.argv.indexOf('--only') + 1] : undefined;
const SECONDS = QUICK ? 2 : 6;
const LEVELS = QUICK ? [8] : [1, 8, 32];
const HOST = '127.0.0.1';
/** MODELS_DIR is passed on to the app too (it inherits this environment). */
const MODELS_DIR = path.resolve(process.env.MODELS_DIR ?? path.join(ROOT, 'models'));
const PYTHON = fs.existsSync('/usr/bin/python3') ? '/usr/bin/python3' : 'python3';
const REVIEW =
  'I went in expecting very little and came out delighted. The performances are warm and precise, the script ' +
  'is funny without trying too hard, and the last half hour is genuinely moving. A couple of scenes drag and the ' +
  'score is sometimes too insistent, but the cast makes every moment count. I would happily watch it again, and ' +
  'I have already recommended it to friends who usually avoid this kind of film. Beautifully shot, too.';

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));
const mb = (bytes: number): string => (bytes / 1048576).toFixed(0);

// ---------------------------------------------------------------------------------------------
// Processes: start, wait until ready, sample RSS of the whole tree, stop.

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.listen(0, HOST, () => {
      const { port } = srv.address() as net.AddressInfo;
      srv.close(() => resolve(port));
    });
    srv.on('error', reject);
  });
}

/** CPU time (user + system, all threads) used so far by a process tree, in ms. */
export function treeCpuMs(pid: number): number {
  let ticks = 0;
  for (const p of processTree(pid)) {
    try {
      const fields = fs.readFileSync(`/proc/${p}/stat`, 'utf8').split(') ')[1]?.split(' ') ?? [];
      ticks += Number(fields[11]) + Number(fields[12]);
    } catch {
      // exited
    }
  }
  return (ticks * 1000) / CLK_TCK;
}

const CLK_TCK = (() => {
  try {
    return Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim()) || 100;
  } catch {
    return 100;
  }
})();

export interface Proc {
  name: string;
  proc: ChildProcess;
  base: string;
  startupMs: number;
  idleRss: number;
  peakRss: number;
  peakPss: number;
  pid: number;
  stderr: string[];
  stop(): Promise<void>;
}

function get(url: string, timeoutMs = 2000): Promise<{ status: number; headers: http.IncomingHttpHeaders; body: string }> {
  return new Promise((resolve, reject) => {
    const req = http.get(url, { timeout: timeoutMs, agent: false }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (c: string) => (body += c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body }));
    });
    req.on('timeout', () => req.destroy(new Error('timeout')));
    req.on('error', reject);
  });
}

async function startProcess(name: string, cmd: string, args: string[], env: NodeJS.ProcessEnv, port: number, readyPath: string): Promise<Proc> {
  const started = performance.now();
  const proc = spawn(cmd, args, { cwd: ROOT, env: { ...process.env, ...env }, stdio: ['ignore', 'ignore', 'pipe'] });
  const stderr: string[] = [];
  proc.stderr?.setEncoding('utf8').on('data', (d: string) => stderr.push(d));
  const base = `http://${HOST}:${port}`;
  let startupMs = NaN;
  for (const deadline = started + 60_000; performance.now() < deadline; await sleep(20)) {
    if (proc.exitCode !== null) throw new Error(`${name} exited during start-up (${proc.exitCode}): ${stderr.join('').slice(-2000)}`);
    const res = await get(base + readyPath, 500).catch(() => null);
    if (res?.status === 200) {
      startupMs = performance.now() - started;
      break;
    }
  }
  if (Number.isNaN(startupMs)) throw new Error(`${name} not ready within 60 s`);
  const p: Proc = {
    name,
    proc,
    base,
    startupMs,
    idleRss: 0,
    peakRss: 0,
    peakPss: 0,
    pid: proc.pid as number,
    stderr,
    stop: async () => {
      clearInterval(sampler);
      if (proc.exitCode !== null) return;
      const exited = new Promise((r) => proc.once('exit', r));
      proc.kill('SIGTERM');
      await Promise.race([exited, sleep(25_000)]);
      if (proc.exitCode === null && proc.signalCode === null) proc.kill('SIGKILL');
    },
  };
  const pid = proc.pid as number;
  await sleep(1000); // settle before the idle reading
  const idle = treeMemory(pid);
  p.idleRss = idle.rss;
  p.peakRss = idle.rss;
  p.peakPss = idle.pss;
  const sampler = setInterval(() => {
    const m = treeMemory(pid);
    p.peakRss = Math.max(p.peakRss, m.rss);
    p.peakPss = Math.max(p.peakPss, m.pss);
  }, 100);
  return p;
}

/** The `start` script of package.json, split into its environment and its node arguments. */
function startScript(): { env: Record<string, string>; args: string[] } {
  const pkg = JSON.parse(fs.readFileSync(path.join(ROOT, 'package.json'), 'utf8')) as { scripts: Record<string, string> };
  const words = (pkg.scripts.start ?? 'node dist/server.js').split(/\s+/);
  const env: Record<string, string> = {};
  while (/^[A-Z_]+=/.test(words[0] ?? '')) {
    const [k, v] = (words.shift() as string).split('=') as [string, string];
    env[k] = v;
  }
  const [node, ...args] = words;
  if (node !== 'node') throw new Error(`the start script must be [VAR=value …] node …: ${pkg.scripts.start}`);
  return { env, args };
}

/** The app exactly as `npm start` runs it (the node flags of the start script included). */
export async function startApp(name: string, env: Record<string, string> = {}): Promise<Proc> {
  const start = startScript();
  const port = await freePort();
  return startProcess(name, process.execPath, start.args, { ...start.env, NODE_ENV: 'production', HOST, PORT: String(port), ...env }, port, '/readyz');
}

/** The model tier as `ROLE=models npm start` runs it, ready once /v2/health/ready answers 200. */
async function startModelTier(name: string, env: Record<string, string> = {}): Promise<Proc> {
  const start = startScript();
  const port = await freePort();
  const tierEnv = { ...start.env, NODE_ENV: 'production', HOST, PORT: String(port), ROLE: 'models', ...env };
  return startProcess(name, process.execPath, start.args, tierEnv, port, '/v2/health/ready');
}

/** A floor server (bench/floor.ts) with the start script's environment and node flags. */
async function startFloor(mode: string, pageBytes: number): Promise<Proc> {
  const start = startScript();
  const flags = start.args.filter((a) => a.startsWith('--'));
  const port = await freePort();
  const args = [...flags, '--import', 'tsx', path.join(ROOT, 'bench', 'floor.ts'), mode, String(port), String(pageBytes)];
  return startProcess(`floor ${mode}`, process.execPath, args, { ...start.env, NODE_ENV: 'production' }, port, '/');
}

/** Bytes of the body that `target` answers with (the floors answer a page just as long). */
function responseBytes(base: string, target: Target): Promise<number> {
  return new Promise((resolve, reject) => {
    const req = http.request(base + target.path, { method: target.method, headers: target.headers, agent: false }, (res) => {
      let n = 0;
      res.on('data', (c: Buffer) => (n += c.length));
      res.on('end', () => (res.statusCode === 200 ? resolve(n) : reject(new Error(`${target.method} ${target.path} answered ${res.statusCode}`))));
    });
    req.on('error', reject);
    req.end(target.body);
  });
}

export function buildIfStale(): void {
  const newest = (dir: string): number => {
    let t = 0;
    for (const e of fs.readdirSync(dir, { withFileTypes: true, recursive: true })) {
      if (e.isFile() && e.name.endsWith('.ts')) t = Math.max(t, fs.statSync(path.join(e.parentPath, e.name)).mtimeMs);
    }
    return t;
  };
  const dist = path.join(ROOT, 'dist', 'server.js');
  const src = Math.max(newest(path.join(ROOT, 'src')), fs.statSync(path.join(ROOT, 'server.ts')).mtimeMs, fs.statSync(path.join(ROOT, 'app.ts')).mtimeMs);
  if (!fs.existsSync(dist) || fs.statSync(dist).mtimeMs < src) {
    console.error('building dist/ (npm run build) …');
    execFileSync('npm', ['run', 'build', '--silent'], { cwd: ROOT, stdio: 'inherit' });
  }
}

// ---------------------------------------------------------------------------------------------
// Load.

interface Row {
  scenario: string;
  connections: number;
  rps: number;
  p50: number;
  p99: number;
  errors: number;
  non2xx: number;
  /** Server CPU time per request, ms (wrk runs only). */
  cpuMs?: number;
  note?: string;
}

interface Target {
  method: 'GET' | 'POST';
  path: string;
  headers?: Record<string, string>;
  body?: string | Buffer;
}

/**
 * wrk (C, epoll, one thread) generates all the load: the load generator must not be what limits
 * the server, and a Node client costs about as much CPU per request as the server does (measured:
 * the http.request loop this replaced used 0.5–0.7 ms of CPU per form post, wrk ~0.05 ms). It also
 * copes with gunicorn's sync workers closing every connection. Besides requests/s and latency it
 * reports the server's CPU time per request (all its processes and threads, from /proc) when given
 * the server's pid: unlike requests/s, that barely moves when something else shares the machine.
 */
async function wrk(url: string, target: Target, connections: number, seconds: number, serverPid?: number | number[]): Promise<Row> {
  const pids = serverPid === undefined ? [] : Array.isArray(serverPid) ? serverPid : [serverPid];
  const cpuNow = (): number => pids.reduce((sum, pid) => sum + treeCpuMs(pid), 0);
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'bench-wrk-'));
  const script = path.join(dir, 'load.lua');
  const bodyFile = path.join(dir, 'body');
  fs.writeFileSync(bodyFile, target.body ?? '');
  const headers = Object.entries(target.headers ?? {}).map(([k, v]) => `wrk.headers[${JSON.stringify(k)}] = ${JSON.stringify(v)}`);
  fs.writeFileSync(
    script,
    [
      `wrk.method = ${JSON.stringify(target.method)}`,
      `local f = assert(io.open(${JSON.stringify(bodyFile)}, "rb"))`,
      'local body = f:read("*a")',
      'f:close()',
      'if #body > 0 then wrk.body = body end',
      ...headers,
      'done = function(summary, latency, requests)',
      '  local e = summary.errors',
      '  io.write(string.format(\'WRKJSON {"requests":%d,"non2xx":%d,"errors":%d,"us":%d,"p50":%f,"p99":%f}\\n\',',
      '    summary.requests, e.status, e.connect + e.read + e.write + e.timeout, summary.duration,',
      '    latency:percentile(50) / 1000, latency:percentile(99) / 1000))',
      'end',
    ].join('\n'),
  );
  const cpu0 = cpuNow();
  const out = await new Promise<string>((resolve, reject) => {
    execFile('wrk', ['-t1', `-c${connections}`, `-d${seconds}s`, '--timeout', '30s', '-s', script, url + target.path], (err, stdout) =>
      err ? reject(err) : resolve(stdout),
    );
  });
  const cpuMs = pids.length === 0 ? NaN : cpuNow() - cpu0;
  fs.rmSync(dir, { recursive: true, force: true });
  const line = /WRKJSON (.*)/.exec(out)?.[1];
  if (line === undefined) throw new Error(`unexpected wrk output: ${out}`);
  const r = JSON.parse(line) as { requests: number; non2xx: number; errors: number; us: number; p50: number; p99: number };
  return {
    scenario: '',
    connections,
    rps: r.requests / (r.us / 1e6),
    p50: r.p50,
    p99: r.p99,
    errors: r.errors,
    non2xx: r.non2xx,
    cpuMs: pids.length === 0 || r.requests === 0 ? undefined : cpuMs / r.requests,
  };
}

function requireWrk(): void {
  try {
    execFileSync('wrk', ['--version'], { stdio: 'ignore' });
  } catch (err) {
    // wrk --version exits 1 after printing its version; only a missing binary is a problem
    if ((err as { code?: string }).code === 'ENOENT') throw new Error('wrk is missing: apt-get install wrk');
  }
}

/** Load that is not recorded (3 s per target): lazy imports, JIT, first allocations. */
async function warm(base: string, targets: Target[]): Promise<void> {
  for (const t of targets) await wrk(base, t, 4, QUICK ? 1 : 3);
}

export function multipart(file: Buffer, field = 'image'): { headers: Record<string, string>; body: Buffer } {
  const boundary = '----mlformsbench7MA4YWxkTrZu0gW';
  const head = `--${boundary}\r\nContent-Disposition: form-data; name="${field}"; filename="cell.png"\r\nContent-Type: image/png\r\n\r\n`;
  return {
    headers: { 'content-type': `multipart/form-data; boundary=${boundary}` },
    body: Buffer.concat([Buffer.from(head), file, Buffer.from(`\r\n--${boundary}--\r\n`)]),
  };
}

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

/**
 * The split (issue 11): the app as one process against a web tier + model tier on loopback, both
 * running at once so that each measurement of one is followed at once by the same measurement of
 * the other (the machine's load drifts). Latency added: wrk at one connection, p50 and p99, per
 * model. Throughput: images at 32 connections. CPU per request counts both tiers' processes.
 */
async function splitSection(targets: Record<'regressionApi' | 'sentimentApi' | 'malariaApi', Target>, say: (s?: string) => void): Promise<{ ratio: number; imageRps: [number, number] }> {
  const token = 'bench-token';
  const one = await startApp('one process');
  const tier = await startModelTier('model tier', { INFERENCE_TOKEN: token });
  const web = await startApp('web tier', { INFERENCE_URL: tier.base, INFERENCE_TOKEN: token });
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
  say(`# Benchmark: ${new Date().toISOString()}`);
  say();
  say(`Machine: ${os.availableParallelism()} × ${cpu}, ${mb(os.totalmem())} MB RAM, Linux ${os.release()}, Node ${process.version}; ` +
    `load generator (wrk, one thread) on the same machine. Command: \`npm run bench${QUICK || ONLY !== undefined ? ' --' : ''}${ONLY !== undefined ? ` --only ${ONLY}` : ''}${QUICK ? ' --quick' : ''}\`, ${SECONDS} s per cell. ` +
    `Load average before the run: ${os.loadavg().map((l) => l.toFixed(2)).join(', ')} (anything above ~0.2 means other work shared the 2 cores).`);
  say();

  const png = await syntheticCell();
  const upload = multipart(png);
  const targets = {
    regressionForm: { method: 'POST', path: '/predict/regression', headers: { 'content-type': 'application/x-www-form-urlencoded' }, body: 'x=5' } as Target,
    regressionApi: { method: 'POST', path: '/api/predict/regression', headers: { 'content-type': 'application/json' }, body: '{"x": 5}' } as Target,
    sentimentApi: { method: 'POST', path: '/api/predict/sentiment', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ review: REVIEW }) } as Target,
    malariaApi: { method: 'POST', path: '/api/predict/malaria', headers: upload.headers, body: upload.body } as Target,
    healthz: { method: 'GET', path: '/healthz' } as Target,
  };
  /** One row per concurrency level, each measured alone (so its server CPU per request is meaningful). */
  const levels = async (p: Proc, target: Target, scenario: string, at: number[], note?: string): Promise<Row[]> => {
    const out: Row[] = [];
    for (const c of at) out.push({ ...(await wrk(p.base, target, c, SECONDS, p.pid)), scenario, note });
    return out;
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
    await splitSection(targets, say);
    say(`Load average after the run: ${os.loadavg().map((l) => l.toFixed(2)).join(', ')}.`);
    if (!QUICK) fs.writeFileSync(path.join(ROOT, 'bench', 'results-split.md'), out.join('\n') + '\n');
    return;
  }
  if (ONLY !== undefined) throw new Error(`--only ${ONLY}: the only part that runs alone is "split"`);

  // 1. The in-process limit, before any server runs.
  const limit1 = await inProcessLimit(MODELS_DIR, [png], 1, QUICK ? 2 : 5);
  const limit4 = await inProcessLimit(MODELS_DIR, [png], 4, QUICK ? 2 : 5);
  const limit = Math.max(limit1, limit4);

  // 2. The app, default settings.
  const app = await startApp('app');
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
  const pageBytes = await responseBytes(app.base, targets.regressionForm);
  const b = await burst(app.base, upload, 400);
  const metricsText = (await get(app.base + '/metrics')).body;
  await app.stop();

  // 3. The walkthrough's stack on the same form post, same load generator, same levels.
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'bench-'));
  const pkl = path.join(tmp, 'model.pkl');
  execFileSync(PYTHON, [path.join(ROOT, 'bench', 'flask', 'fit.py'), pkl], { stdio: 'inherit' });
  const flaskRows: Row[] = [];
  let flaskPeak = 0;
  let flaskPeakPss = 0;
  for (const reload of ['1', '0']) {
    const port = await freePort();
    const flask = await startProcess(
      'flask',
      'gunicorn',
      ['-w', '2', '-b', `${HOST}:${port}`, '--chdir', path.join(ROOT, 'bench', 'flask'), '--log-level', 'warning', 'app:app'],
      { MODEL_PATH: pkl, RELOAD_MODEL: reload },
      port,
      '/',
    );
    const form = { ...targets.regressionForm, path: '/predict' };
    await warm(flask.base, [form]);
    const note = reload === '1' ? 'pickle loaded per request, as the walkthrough' : 'pickle loaded once';
    flaskRows.push(...(await levels(flask, form, 'Flask+gunicorn ×2 form POST /predict', reload === '1' ? LEVELS : [LEVELS[LEVELS.length - 1] as number], note)));
    flaskPeak = Math.max(flaskPeak, flask.peakRss);
    flaskPeakPss = Math.max(flaskPeakPss, flask.peakPss);
    await flask.stop();
  }
  fs.rmSync(tmp, { recursive: true, force: true });

  // 3b. Floors: the same form post against servers that only answer a page of the same size.
  const floorRows: Row[] = [];
  const formLevel = LEVELS[LEVELS.length - 1] as number;
  for (const [mode, what] of [
    ['http', 'node:http, fixed page'],
    ['express', 'Express 5, fixed page'],
    ['express-urlencoded', 'Express 5 + urlencoded body parser, fixed page'],
  ] as const) {
    const f = await startFloor(mode, pageBytes);
    await warm(f.base, [targets.regressionForm]);
    floorRows.push({ ...(await wrk(f.base, targets.regressionForm, formLevel, SECONDS, f.pid)), scenario: `floor: ${what}` });
    await f.stop();
  }

  // 4. Designs side by side: image saturation with /healthz alongside, the number form, memory.
  const designs: { name: string; env: Record<string, string> }[] = [
    { name: 'one process, models on the main thread', env: { INFERENCE_WORKERS: '0' } },
    { name: 'one process, 1 inference thread with 2 intra-op threads', env: { INFERENCE_WORKERS: '1', ONNX_THREADS: '2' } },
    { name: 'one process, 2 inference threads, every model in both (default)', env: {} },
    { name: 'one process, 2 inference threads, sentiment in one of them', env: { INFERENCE_REPLICAS: 'sentiment=1' } },
    { name: 'one process, 2 inference threads, regression in them too', env: { INFERENCE_INLINE: '' } },
    { name: 'model host + 2 HTTP processes (WEB_CONCURRENCY=2)', env: { WEB_CONCURRENCY: '2' } },
    { name: 'model host + 2 HTTP processes, models on the host\'s main thread', env: { WEB_CONCURRENCY: '2', INFERENCE_WORKERS: '0' } },
  ];
  const designLines = [
    '| design | start-up ms | idle RSS MB | peak RSS MB | peak PSS MB | images req/s (c=32) | image p99 ms | /healthz p99 ms | form req/s (c=32, wrk) | form CPU ms/req | sentiment req/s (c=32) |',
    '|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|',
  ];
  for (const d of QUICK ? designs.slice(-2, -1) : designs) {
    const p = await startApp(d.name, d.env);
    await warm(p.base, [targets.regressionForm, targets.sentimentApi, targets.malariaApi]);
    const { images: img, health: hz } = await saturated(p, Math.max(2, SECONDS - 1));
    const form = await wrk(p.base, targets.regressionForm, formLevel, Math.max(2, SECONDS - 2), p.pid);
    const senti = await wrk(p.base, targets.sentimentApi, 32, Math.max(2, SECONDS - 2));
    await p.stop();
    designLines.push(
      `| ${d.name} | ${fmt(p.startupMs)} | ${mb(p.idleRss)} | ${mb(p.peakRss)} | ${mb(p.peakPss)} | ${fmt(img.rps)} | ${fmt(img.p99)} | ${fmt(hz.p99)} | ${fmt(form.rps)} | ${fmt(form.cpuMs ?? NaN, 2)} | ${fmt(senti.rps)} |`,
    );
  }

  // 5. The split: measured now, reported after the designs.
  const splitOut: string[] = [];
  const splitResult = await splitSection(targets, (line = '') => splitOut.push(line));

  // Report.
  const ours = (c: number): number => rows.find((r) => r.connections === c && r.scenario.startsWith('form'))?.rps ?? NaN;
  const theirs = (c: number): number => flaskRows.find((r) => r.connections === c && r.note?.includes('walkthrough'))?.rps ?? NaN;
  const healthP99 = health.p99;
  const check = (ok: boolean): string => (ok ? 'holds' : '**does not hold**');
  say('## The app (`npm start`: one process, production, default settings)');
  say();
  say(`Start-up to /readyz 200: **${fmt(app.startupMs)} ms**. RSS of the app process: idle **${mb(app.idleRss)} MB**, peak under all the load below **${mb(app.peakRss)} MB** (PSS ${mb(app.peakPss)} MB).`);
  say();
  say(table(rows));
  say();
  say(`Burst of 400 simultaneous uploads: ${b.ok} × 200, ${b.shed} × 503 with Retry-After, ${b.other} other; ` +
    `slowest answer ${fmt(b.slowestMs)} ms, all answered in ${fmt(b.totalMs)} ms; /healthz afterwards: ${b.aliveAfter ? '200' : 'FAILED'}.`);
  say();
  say('## Reference and limit');
  say();
  say('Form posts of the number form, both servers loaded by the same wrk command (one thread, the same connections and duration):');
  say();
  say(table([...rows.filter((r) => r.scenario.startsWith('form')).map((r) => ({ ...r, scenario: 'ml-forms form POST /predict/regression' })), ...flaskRows]));
  say();
  say(`Flask + gunicorn peak RSS (master + 2 workers): ${mb(flaskPeak)} MB (PSS ${mb(flaskPeakPss)} MB).`);
  say();
  say(`Floors: the same load (${formLevel} connections) against servers that only read the body and answer a fixed page ` +
    `of the same size (${pageBytes} bytes), with the app's node flags (\`bench/floor.ts\`): what a Node server pays before any of our code runs.`);
  say();
  const oursAtLevel = rows.find((r) => r.connections === formLevel && r.scenario.startsWith('form'));
  say(table([...(oursAtLevel ? [{ ...oursAtLevel, scenario: 'ml-forms form POST /predict/regression (one process)' }] : []), ...floorRows]));
  say();
  const goal = 2 * theirs(formLevel);
  say(`2× the walkthrough at ${formLevel} connections is ${fmt(goal)} req/s. Two cores give 2,000 ms of CPU a second to the server, ` +
    `wrk and the kernel together, so the server may spend at most ${fmt(2000 / goal, 2)} ms of CPU per request; ` +
    `one Node process runs its JavaScript on one thread, the event loop, which would have ≤ ${fmt(1000 / goal, 2)} ms per request.`);
  say();
  say(`In-process limit (malaria predictor in a loop: decode + resize + infer, no HTTP, one process): ` +
    `${fmt(limit1)} predictions/s one at a time, ${fmt(limit4)} /s with 4 in flight (decode overlapping inference).`);
  say();
  say('## Designs (same load, one server each)');
  say();
  say(designLines.join('\n'));
  say();
  for (const line of splitOut) say(line);
  say('## Targets (issue 4)');
  say();
  say(`| target | measured | |`);
  say(`|---|---|---|`);
  for (const c of LEVELS) {
    say(`| form posts ≥ 2× Flask+gunicorn (c=${c}) | ${fmt(ours(c))} vs ${fmt(theirs(c))} req/s = ${fmt(ours(c) / theirs(c), 2)}× | ${check(ours(c) >= 2 * theirs(c))} |`);
  }
  say(`| images over HTTP ≥ 0.8× in-process limit | ${fmt(imageRps)} vs ${fmt(limit)} /s = ${fmt(imageRps / limit, 2)}× | ${check(imageRps >= 0.8 * limit)} |`);
  say(`| peak RSS of app processes ≤ 300 MB | ${mb(app.peakRss)} MB | ${check(app.peakRss <= 300 * 1048576)} |`);
  say(`| /healthz p99 ≤ 100 ms under image saturation | ${fmt(healthP99, 1)} ms | ${check(healthP99 <= 100)} |`);
  say(`| 400-upload burst: only 200 / 503+Retry-After, no hang, alive after | ${b.ok} + ${b.shed} + ${b.other} other, alive: ${b.aliveAfter} | ${check(b.other === 0 && b.aliveAfter)} |`);
  say(`| split image throughput ≥ 0.8× one process (issue 11) | ${fmt(splitResult.imageRps[1])} vs ${fmt(splitResult.imageRps[0])} /s = ${fmt(splitResult.ratio, 2)}× | ${check(splitResult.ratio >= 0.8)} |`);
  say();
  const queueLines = metricsText.split('\n').filter((l) => /^(inference_duration_seconds_(sum|count)|nodejs_eventloop_lag_p99_seconds|process_resident_memory_bytes)/.test(l));
  say('<details><summary>/metrics excerpt after the run</summary>\n\n```\n' + queueLines.join('\n') + '\n```\n</details>');
  say();
  say(`Load average after the run: ${os.loadavg().map((l) => l.toFixed(2)).join(', ')}.`);
  if (!QUICK) fs.writeFileSync(path.join(ROOT, 'bench', 'results.md'), out.join('\n') + '\n');
}

// bench/multi.ts borrows the helpers above; only `npm run bench` runs the whole benchmark.
if (require.main === module) {
  main().catch((err: unknown) => {
    console.error(err);
    process.exit(1);
  });
}
