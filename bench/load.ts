/**
 * Load for the benchmarks: wrk driving a target (method, path, headers, body) and its output
 * parsed into a row (requests/s, latency, errors, the server's CPU per request), warm-up load,
 * multipart upload bodies, and the size of a target's answer.
 */
import { execFile, execFileSync } from 'node:child_process';
import fs from 'node:fs';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import { treeCpuMs } from './proc';

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

/** One request of `target`, on a connection of its own: the status and the whole body. */
export function answerOf(base: string, target: Target): Promise<{ status: number; body: Buffer }> {
  return new Promise((resolve, reject) => {
    const req = http.request(base + target.path, { method: target.method, headers: target.headers, agent: false }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks) }));
    });
    req.on('error', reject);
    req.end(target.body);
  });
}

/** Bytes of the body that `target` answers with (the floors answer a page just as long). */
export async function responseBytes(base: string, target: Target): Promise<number> {
  const { status, body } = await answerOf(base, target);
  if (status !== 200) throw new Error(`${target.method} ${target.path} answered ${status}`);
  return body.length;
}
