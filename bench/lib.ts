/**
 * What the benchmark scripts share (bench/run.ts, bench/profile.ts): starting a server as
 * `npm start` does, waiting until it is ready, sampling memory and CPU of its process tree from
 * /proc, and loading it with wrk.
 */
import { execFile, execFileSync, spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import http from 'node:http';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import sharp from 'sharp';
import { processTree, treeMemory } from './proc';

export { mb, processTree, treeMemory } from './proc';

export const ROOT = path.resolve(__dirname, '..');
export const HOST = '127.0.0.1';

/** A pale pink disc on black, with two dark purple dots: roughly what a stained cell looks like. */
export async function syntheticCell(): Promise<Buffer> {
  const size = 130;
  const px = Buffer.alloc(size * size * 3);
  for (let y = 0; y < size; y++) {
    for (let x = 0; x < size; x++) {
      const i = (y * size + x) * 3;
      const d = Math.hypot(x - 65, y - 65);
      if (d > 58) continue;
      const spot = Math.hypot(x - 50, y - 70) < 7 || Math.hypot(x - 80, y - 45) < 5;
      const noise = ((x * 7919 + y * 104729) % 17) - 8;
      px[i] = spot ? 110 : 215 + noise;
      px[i + 1] = spot ? 40 : 160 + noise;
      px[i + 2] = spot ? 140 : 170 + noise;
    }
  }
  return sharp(px, { raw: { width: size, height: size, channels: 3 } })
    .png()
    .toBuffer();
}

export const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

// ---------------------------------------------------------------------------------------------
// Processes: start, wait until ready, sample RSS of the whole tree, stop.

export function freePort(): Promise<number> {
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
  idlePss: number;
  peakRss: number;
  peakPss: number;
  pid: number;
  stderr: string[];
  stop(): Promise<void>;
}

export function get(
  url: string,
  timeoutMs = 2000,
  headers: http.OutgoingHttpHeaders = {},
): Promise<{ status: number; headers: http.IncomingHttpHeaders; body: string }> {
  return new Promise((resolve, reject) => {
    const req = http.get(url, { timeout: timeoutMs, agent: false, headers }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (c: string) => (body += c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body }));
    });
    req.on('timeout', () => req.destroy(new Error('timeout')));
    req.on('error', reject);
  });
}

export async function startProcess(
  name: string,
  cmd: string,
  args: string[],
  env: NodeJS.ProcessEnv,
  port: number,
  readyPath: string,
): Promise<Proc> {
  const started = performance.now();
  const proc = spawn(cmd, args, { cwd: ROOT, env: { ...process.env, ...env }, stdio: ['ignore', 'ignore', 'pipe'] });
  const stderr: string[] = [];
  proc.stderr?.setEncoding('utf8').on('data', (d: string) => stderr.push(d));
  const base = `http://${HOST}:${port}`;
  let startupMs = NaN;
  for (const deadline = started + 60_000; performance.now() < deadline; await sleep(20)) {
    if (proc.exitCode !== null)
      throw new Error(`${name} exited during start-up (${proc.exitCode}): ${stderr.join('').slice(-2000)}`);
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
    idlePss: 0,
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
  p.idlePss = idle.pss;
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
export function startScript(): { env: Record<string, string>; args: string[] } {
  const pkg = JSON.parse(fs.readFileSync(path.join(ROOT, 'package.json'), 'utf8')) as {
    scripts: Record<string, string>;
  };
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

/**
 * The in-process image limit (bench/image-limit.ts, in a process of its own with the app's flags):
 * the plainest pipeline over `file` (an image, or a .list of image paths) with `concurrency` in flight.
 */
export function imageLimit(
  file: string,
  concurrency: number,
  seconds: number,
): { perSecond: number; cpuMsPerImage: number } {
  const start = startScript();
  const flags = start.args.filter((a) => a.startsWith('--'));
  const out = execFileSync(
    process.execPath,
    [
      ...flags,
      '--import',
      'tsx',
      path.join(ROOT, 'bench', 'image-limit.ts'),
      file,
      String(concurrency),
      String(seconds),
    ],
    {
      cwd: ROOT,
      env: { ...process.env, ...start.env },
      encoding: 'utf8',
    },
  );
  return JSON.parse(out.trim().split('\n').pop() as string) as { perSecond: number; cpuMsPerImage: number };
}

/** The in-process image limit over `file` with 1, 2 and 4 in flight, one after another: the best rate. */
export function bestImageLimit(file: string, seconds: number): number {
  return Math.max(...[1, 2, 4].map((c) => imageLimit(file, c, seconds).perSecond));
}

/**
 * The app exactly as `npm start` runs it (the node flags of the start script included).
 * `nodeArgs` go before the script (the profiler's flags; a cluster's processes inherit them).
 */
export async function startApp(name: string, env: Record<string, string> = {}, nodeArgs: string[] = []): Promise<Proc> {
  const start = startScript();
  const port = await freePort();
  const script = start.args.slice(-1);
  return startProcess(
    name,
    process.execPath,
    [...start.args.slice(0, -1), ...nodeArgs, ...script],
    { ...start.env, NODE_ENV: 'production', HOST, PORT: String(port), ...env },
    port,
    '/readyz',
  );
}

/** The model tier as `ROLE=models npm start` runs it, ready once /v2/health/ready answers 200. */
export async function startModelTier(name: string, env: Record<string, string> = {}): Promise<Proc> {
  const start = startScript();
  const port = await freePort();
  const tierEnv = { ...start.env, NODE_ENV: 'production', HOST, PORT: String(port), ROLE: 'models', ...env };
  return startProcess(name, process.execPath, start.args, tierEnv, port, '/v2/health/ready');
}

/** A floor server (bench/floor.ts) with the start script's environment and node flags. */
export async function startFloor(mode: string, pageBytes: number): Promise<Proc> {
  const start = startScript();
  const flags = start.args.filter((a) => a.startsWith('--'));
  const port = await freePort();
  const args = [
    ...flags,
    '--import',
    'tsx',
    path.join(ROOT, 'bench', 'floor.ts'),
    mode,
    String(port),
    String(pageBytes),
  ];
  return startProcess(`floor ${mode}`, process.execPath, args, { ...start.env, NODE_ENV: 'production' }, port, '/');
}

/** Bytes of the body that `target` answers with (the floors answer a page just as long). */
export function responseBytes(base: string, target: Target): Promise<number> {
  return new Promise((resolve, reject) => {
    const req = http.request(
      base + target.path,
      { method: target.method, headers: target.headers, agent: false },
      (res) => {
        let n = 0;
        res.on('data', (c: Buffer) => (n += c.length));
        res.on('end', () =>
          res.statusCode === 200
            ? resolve(n)
            : reject(new Error(`${target.method} ${target.path} answered ${res.statusCode}`)),
        );
      },
    );
    req.on('error', reject);
    req.end(target.body);
  });
}

/** Runs `npm run build` if `output` is missing or older than a source file; returns `output`. */
export function buildIfStale(output = path.join(ROOT, 'dist', 'server.js')): string {
  const newest = (dir: string): number => {
    let t = 0;
    for (const e of fs.readdirSync(dir, { withFileTypes: true, recursive: true })) {
      if (e.isFile() && e.name.endsWith('.ts')) t = Math.max(t, fs.statSync(path.join(e.parentPath, e.name)).mtimeMs);
    }
    return t;
  };
  const src = Math.max(
    newest(path.join(ROOT, 'src')),
    fs.statSync(path.join(ROOT, 'server.ts')).mtimeMs,
    fs.statSync(path.join(ROOT, 'app.ts')).mtimeMs,
  );
  if (!fs.existsSync(output) || fs.statSync(output).mtimeMs < src) {
    console.error('building dist/ (npm run build) …');
    execFileSync('npm', ['run', 'build', '--silent'], { cwd: ROOT, stdio: 'inherit' });
  }
  return output;
}

// ---------------------------------------------------------------------------------------------
// Load.

export interface Row {
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

export interface Target {
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
export async function wrk(
  url: string,
  target: Target,
  connections: number,
  seconds: number,
  serverPid?: number | number[],
): Promise<Row> {
  const pids = serverPid === undefined ? [] : Array.isArray(serverPid) ? serverPid : [serverPid];
  const cpuNow = (): number => pids.reduce((sum, pid) => sum + treeCpuMs(pid), 0);
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'bench-wrk-'));
  const script = path.join(dir, 'load.lua');
  const bodyFile = path.join(dir, 'body');
  fs.writeFileSync(bodyFile, target.body ?? '');
  const headers = Object.entries(target.headers ?? {}).map(
    ([k, v]) => `wrk.headers[${JSON.stringify(k)}] = ${JSON.stringify(v)}`,
  );
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
    execFile(
      'wrk',
      ['-t1', `-c${connections}`, `-d${seconds}s`, '--timeout', '30s', '-s', script, url + target.path],
      (err, stdout) => (err ? reject(err) : resolve(stdout)),
    );
  });
  const cpuMs = pids.length === 0 ? NaN : cpuNow() - cpu0;
  fs.rmSync(dir, { recursive: true, force: true });
  const line = /WRKJSON (.*)/.exec(out)?.[1];
  if (line === undefined) throw new Error(`unexpected wrk output: ${out}`);
  const r = JSON.parse(line) as {
    requests: number;
    non2xx: number;
    errors: number;
    us: number;
    p50: number;
    p99: number;
  };
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

export function requireWrk(): void {
  try {
    execFileSync('wrk', ['--version'], { stdio: 'ignore' });
  } catch (err) {
    // wrk --version exits 1 after printing its version; only a missing binary is a problem
    if ((err as { code?: string }).code === 'ENOENT') throw new Error('wrk is missing: apt-get install wrk');
  }
}

/** Load that is not recorded (`seconds` per target): lazy imports, JIT, first allocations. */
export async function warm(base: string, targets: Target[], seconds = 3): Promise<void> {
  for (const t of targets) await wrk(base, t, 4, seconds);
}

export function multipart(
  file: Buffer,
  field = 'image',
  filename = 'cell.png',
): { headers: Record<string, string>; body: Buffer } {
  const boundary = '----mlformsbench7MA4YWxkTrZu0gW';
  const head = `--${boundary}\r\nContent-Disposition: form-data; name="${field}"; filename="${filename}"\r\nContent-Type: image/png\r\n\r\n`;
  return {
    headers: { 'content-type': `multipart/form-data; boundary=${boundary}` },
    body: Buffer.concat([Buffer.from(head), file, Buffer.from(`\r\n--${boundary}--\r\n`)]),
  };
}

export const PYTHON = fs.existsSync('/usr/bin/python3') ? '/usr/bin/python3' : 'python3';

/**
 * ml-forms' page after a form post, as a Jinja template for the Flask reference: the page as the
 * app sent it, with the statement and the input's value left to Jinja; everything else is kept
 * verbatim ({% raw %}), so Flask answers the same bytes for the same input.
 */
export function flaskPageTemplate(html: string, statement: string, x: string): string {
  const result = `<p class="prediction">${statement}</p>`;
  const at = html.indexOf(result);
  const input = /<input id="x" name="x"[^>]*?value="([^"]*)"/.exec(html);
  if (at < 0 || input === null || input[1] !== x)
    throw new Error('the page has no prediction statement or x input to template');
  const valueAt = input.index + input[0].length - x.length - 1;
  const raw = (s: string): string => `{% raw %}${s}{% endraw %}`;
  const parts = [
    { at: valueAt, len: x.length, with: '{{ x }}' },
    { at, len: result.length, with: '<p class="prediction">{{ prediction_text }}</p>' },
  ].sort((a, b) => a.at - b.at);
  let out = '';
  let pos = 0;
  for (const p of parts) {
    out += raw(html.slice(pos, p.at)) + p.with;
    pos = p.at + p.len;
  }
  return out + raw(html.slice(pos));
}

/** The walkthrough's Flask app under gunicorn with 2 sync workers (bench/flask/app.py). */
export async function startFlask(options: {
  modelPath: string;
  reloadModel: boolean;
  pageTemplate?: string;
}): Promise<Proc> {
  const port = await freePort();
  return startProcess(
    'flask',
    'gunicorn',
    [
      '-w',
      '2',
      '-b',
      `${HOST}:${port}`,
      '--chdir',
      path.join(ROOT, 'bench', 'flask'),
      '--log-level',
      'warning',
      'app:app',
    ],
    {
      MODEL_PATH: options.modelPath,
      RELOAD_MODEL: options.reloadModel ? '1' : '0',
      ...(options.pageTemplate ? { PAGE_TEMPLATE: options.pageTemplate } : {}),
    },
    port,
    '/',
  );
}

/** Fits the walkthrough's LinearRegression (bench/flask/fit.py) and pickles it to `file`. */
export function fitFlaskModel(file: string): void {
  execFileSync(PYTHON, [path.join(ROOT, 'bench', 'flask', 'fit.py'), file], { stdio: 'inherit' });
}
