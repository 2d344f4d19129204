/**
 * Servers for the benchmarks: starting a server as `npm start` does (or the model tier, or a
 * floor), waiting until it is ready, sampling the memory of its process tree while it runs, and
 * stopping it; and building dist/ when it is older than the sources.
 */
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import http from 'node:http';
import net from 'node:net';
import path from 'node:path';
import { treeMemory } from './proc';

export const ROOT = path.resolve(__dirname, '..');
export const HOST = '127.0.0.1';

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

/**
 * Starts `cmd` (in `cwd`, the repository by default) and waits until `readyPath` answers 200;
 * from then on the memory of its process tree is sampled every 100 ms until stop().
 */
export async function startProcess(
  name: string,
  cmd: string,
  args: string[],
  env: NodeJS.ProcessEnv,
  port: number,
  readyPath: string,
  cwd = ROOT,
): Promise<Proc> {
  const started = performance.now();
  const proc = spawn(cmd, args, { cwd, env: { ...process.env, ...env }, stdio: ['ignore', 'ignore', 'pipe'] });
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

/**
 * The `start` script of package.json (this repository's, or that of the checkout at `root`), split
 * into its environment and its node arguments.
 */
export function startScript(root = ROOT): { env: Record<string, string>; args: string[] } {
  const pkg = JSON.parse(fs.readFileSync(path.join(root, 'package.json'), 'utf8')) as {
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
 * The app exactly as `npm start` runs it (the node flags of the start script included).
 * `nodeArgs` go before the script (the profiler's flags; a cluster's processes inherit them).
 * `root`: the checkout to run (its own package.json and dist/), this repository by default.
 */
export async function startApp(
  name: string,
  env: Record<string, string> = {},
  nodeArgs: string[] = [],
  root = ROOT,
): Promise<Proc> {
  const start = startScript(root);
  const port = await freePort();
  const script = start.args.slice(-1);
  return startProcess(
    name,
    process.execPath,
    [...start.args.slice(0, -1), ...nodeArgs, ...script],
    { ...start.env, NODE_ENV: 'production', HOST, PORT: String(port), ...env },
    port,
    '/readyz',
    root,
  );
}

/** The model tier as `ROLE=models npm start` runs it, ready once /v2/health/ready answers 200. */
export async function startModelTier(name: string, env: Record<string, string> = {}): Promise<Proc> {
  const start = startScript();
  const port = await freePort();
  const tierEnv = { ...start.env, NODE_ENV: 'production', HOST, PORT: String(port), ROLE: 'models', ...env };
  return startProcess(name, process.execPath, start.args, tierEnv, port, '/v2/health/ready');
}

/**
 * A server written in bench/ (`script`, run with tsx as `script <port> ...args`) with the start
 * script's environment and node flags, ready once GET / answers 200: the floors, the minimal server.
 */
export async function startBenchServer(name: string, script: string, args: string[] = []): Promise<Proc> {
  const start = startScript();
  const flags = start.args.filter((a) => a.startsWith('--'));
  const port = await freePort();
  const argv = [...flags, '--import', 'tsx', path.join(ROOT, 'bench', script), String(port), ...args];
  return startProcess(name, process.execPath, argv, { ...start.env, NODE_ENV: 'production' }, port, '/');
}

/** A floor server (bench/floor.ts) with the start script's environment and node flags. */
export function startFloor(mode: string, pageBytes: number): Promise<Proc> {
  return startBenchServer(`floor ${mode}`, 'floor.ts', [mode, String(pageBytes)]);
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
