/**
 * Where a request's CPU goes: the app started as `npm start` starts it, with V8's sampling
 * profiler on in every process and thread (`--cpu-prof`), loaded by wrk; the samples taken while
 * wrk ran are sorted into categories (Node's HTTP core, Express, rendering, ...) and divided by the
 * requests served, giving µs of CPU per request per category.
 *
 *   npm run bench:profile -- [--target form|image] [--seconds 8] [--connections 8] [--keep DIR] [VAR=value ...]
 *
 * `npm run bench` runs the same measurement for the number form (profileFormPost below). The
 * profiler itself adds roughly 10 % of CPU. Idle time is left out; "(program)" is time in native
 * code V8 cannot attribute to a JavaScript function (libuv, the kernel's side of syscalls, the
 * HTTP parser's C part).
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { type Row, type Target, multipart, startApp, syntheticCell, warm, wrk } from './lib';

/** V8's .cpuprofile format (the fields used here). */
interface CpuProfile {
  nodes: { id: number; callFrame: { functionName: string; url: string }; children?: number[] }[];
  startTime: number;
  samples: number[];
  timeDeltas: number[];
}

/**
 * Categories, tried in order against a stack frame's script URL (and, for V8's pseudo-frames, its
 * name). A frame with no URL (a builtin such as JSON.stringify, or an EJS template compiled with
 * new Function) counts toward its caller's category.
 */
const CATEGORIES: [string, (fn: string, url: string) => boolean][] = [
  ['GC', (fn) => fn === '(garbage collector)'],
  ['native, unattributed', (fn) => fn === '(program)'],
  ['page rendering', (_f, u) => /\/node_modules\/ejs\/|\/src\/http\/(page|view)\.[jt]s|\/views\/.*\.ejs/.test(u)],
  ['onnxruntime call', (_f, u) => /\/node_modules\/onnxruntime-(node|common)\/|\/src\/inference\//.test(u)],
  ['body parsing', (_f, u) => /\/node_modules\/(body-parser|raw-body|iconv-lite|qs|type-is|content-type|media-typer|bytes|unpipe)\/|\/src\/http\/body\.[jt]s/.test(u)],
  ['uploads (multer, busboy)', (_f, u) => /\/node_modules\/(multer|busboy|streamsearch|append-field)\//.test(u)],
  ['image decoding (sharp)', (_f, u) => /\/node_modules\/sharp\/|\/src\/image/.test(u)],
  ['metrics', (_f, u) => /\/node_modules\/(prom-client|tdigest|bintrees)\/|\/src\/metrics\.[jt]s/.test(u)],
  ['logging', (_f, u) => /\/node_modules\/(pino|pino-std-serializers|sonic-boom|thread-stream|quick-format-unescaped|fast-redact|safe-stable-stringify|on-exit-leak-free|atomic-sleep)\/|\/src\/log\.[jt]s/.test(u)],
  ['security headers', (_f, u) => /\/node_modules\/helmet\/|\/src\/http\/security\.[jt]s/.test(u)],
  [
    'Express + router',
    (_f, u) =>
      /\/node_modules\/(express|router|finalhandler|send|serve-static|path-to-regexp|parseurl|accepts|negotiator|mime-types|mime-db|content-disposition|cookie|cookie-signature|etag|fresh|proxy-addr|range-parser|vary|encodeurl|escape-html|statuses|debug|ms|depd|on-finished|ee-first|forwarded|ipaddr\.js|http-errors|merge-descriptors|setprototypeof|is-promise|once|wrappy|toidentifier|inherits|safe-buffer|safer-buffer|range-parser)\//.test(u),
  ],
  ['Node core (HTTP, net, streams, timers)', (_f, u) => u.startsWith('node:')],
  ['our other code', (_f, u) => u !== '' && !u.includes('/node_modules/')],
  ['other packages', (_f, u) => u.includes('/node_modules/')],
];
const SKIP = new Set(['(idle)', '(root)']);

export type CpuBreakdown = Record<string, number>;

/**
 * CPU time per category, µs, in samples taken between `fromUs` and `toUs` (V8's profile clock:
 * the monotonic clock, the same as process.hrtime). Every file is one thread's profile.
 */
export function breakdown(files: string[], fromUs = -Infinity, toUs = Infinity): CpuBreakdown {
  const out: CpuBreakdown = {};
  for (const file of files) {
    const profile = JSON.parse(fs.readFileSync(file, 'utf8')) as CpuProfile;
    const parent = new Map<number, number>();
    const byId = new Map<number, CpuProfile['nodes'][number]>();
    for (const n of profile.nodes) {
      byId.set(n.id, n);
      for (const c of n.children ?? []) parent.set(c, n.id);
    }
    const category = new Map<number, string | null>();
    const categoryOf = (id: number): string | null => {
      const known = category.get(id);
      if (known !== undefined) return known;
      const node = byId.get(id);
      let result: string | null = null;
      if (node !== undefined && !SKIP.has(node.callFrame.functionName)) {
        const { functionName, url } = node.callFrame;
        result = CATEGORIES.find(([, test]) => test(functionName, url))?.[0] ?? null;
        if (result === null) {
          const up = parent.get(id);
          result = up === undefined ? 'other' : (categoryOf(up) ?? 'other');
        }
      }
      category.set(id, result);
      return result;
    };
    // Sample i was taken at startTime + sum of timeDeltas[0..i]; it stands for the time until the next one.
    let t = profile.startTime;
    for (let i = 0; i < profile.samples.length; i++) {
      t += profile.timeDeltas[i] ?? 0;
      const dt = profile.timeDeltas[i + 1] ?? 0;
      if (t < fromUs || t > toUs) continue;
      const c = categoryOf(profile.samples[i] as number);
      if (c !== null) out[c] = (out[c] ?? 0) + dt;
    }
  }
  return out;
}

export interface ProfileResult {
  row: Row;
  /** µs of CPU per request, per category, largest first. */
  perRequest: [string, number][];
  /** Sum of perRequest, µs. */
  totalUs: number;
}

const nowUs = (): number => Number(process.hrtime.bigint() / 1000n);

/** The app with the profiler on, warmed, then loaded with `target`; only the loaded window counts. */
export async function profileTarget(
  target: Target,
  options: { connections: number; seconds: number; env?: Record<string, string>; keep?: string },
): Promise<ProfileResult> {
  const dir = options.keep ?? fs.mkdtempSync(path.join(os.tmpdir(), 'bench-prof-'));
  fs.mkdirSync(dir, { recursive: true });
  const app = await startApp('app (profiled)', options.env ?? {}, ['--cpu-prof', '--cpu-prof-dir', dir]);
  let row: Row;
  let from: number;
  let to: number;
  try {
    await warm(app.base, [target], 3);
    from = nowUs();
    row = await wrk(app.base, target, options.connections, options.seconds, app.pid);
    to = nowUs();
  } finally {
    await app.stop(); // the profiles are written at exit
  }
  const files = fs.readdirSync(dir).filter((f) => f.endsWith('.cpuprofile')).map((f) => path.join(dir, f));
  const requests = row.rps * options.seconds;
  const cpu = breakdown(files, from, to);
  if (options.keep === undefined) fs.rmSync(dir, { recursive: true, force: true });
  const perRequest = Object.entries(cpu)
    .map(([k, us]): [string, number] => [k, us / requests])
    .sort((a, b) => b[1] - a[1]);
  return { row, perRequest, totalUs: perRequest.reduce((s, [, us]) => s + us, 0) };
}

/** One column of a breakdown table. */
export interface ProfileColumn {
  label: string;
  /** µs of CPU per request, per category. */
  perRequest: [string, number][];
  rps: number;
  /** Server CPU per request from /proc, ms (profiler on). */
  cpuMs: number;
}

export const column = (label: string, r: ProfileResult): ProfileColumn => ({
  label,
  perRequest: r.perRequest,
  rps: r.row.rps,
  cpuMs: r.row.cpuMs ?? NaN,
});

/**
 * A form post before issue 12 (main at 94ce075: one process, the page through EJS with cached
 * idle cards), measured with this profiler on 2026-11-27 at 10:07 UTC, load average 0.3: 8
 * connections for 8 s, 2,537 requests/s, 0.46 ms of CPU per request from /proc.
 */
export const FORM_POST_BEFORE: ProfileColumn = {
  label: 'before (one process, main 94ce075)',
  perRequest: [
    ['Node core (HTTP, net, streams, timers)', 125],
    ['page rendering', 91],
    ['GC', 42],
    ['Express + router', 41],
    ['onnxruntime call', 41],
    ['body parsing', 17],
    ['metrics', 10],
    ['our other code', 7],
    ['native, unattributed', 6],
    ['logging', 5],
    ['security headers', 2],
  ],
  rps: 2537,
  cpuMs: 0.46,
};

/** A markdown table: one row per category, one column per profile, µs of CPU per request. */
export function breakdownTable(columns: ProfileColumn[]): string {
  const cats = [...new Set(columns.flatMap((c) => c.perRequest.map(([k]) => k)))];
  const first = columns[0]?.perRequest ?? [];
  const at = (c: ProfileColumn, k: string): number => c.perRequest.find(([x]) => x === k)?.[1] ?? 0;
  cats.sort((a, b) => (first.find(([k]) => k === b)?.[1] ?? 0) - (first.find(([k]) => k === a)?.[1] ?? 0));
  const lines = [`| µs of CPU per request | ${columns.map((c) => c.label).join(' | ')} |`, `|---|${columns.map(() => '---:').join('|')}|`];
  for (const k of cats) lines.push(`| ${k} | ${columns.map((c) => at(c, k).toFixed(0)).join(' | ')} |`);
  lines.push(`| **total (profile)** | ${columns.map((c) => `**${c.perRequest.reduce((s, [, us]) => s + us, 0).toFixed(0)}**`).join(' | ')} |`);
  lines.push(`| server CPU per request from /proc, profiler on | ${columns.map((c) => `${(c.cpuMs * 1000).toFixed(0)}`).join(' | ')} |`);
  lines.push(`| requests/s while profiled | ${columns.map((c) => c.rps.toFixed(0)).join(' | ')} |`);
  return lines.join('\n');
}

/** The number form, as `npm run bench` posts it. */
export const FORM_POST: Target = {
  method: 'POST',
  path: '/predict/regression',
  headers: { 'content-type': 'application/x-www-form-urlencoded' },
  body: 'x=5',
};

async function main(): Promise<void> {
  const args = process.argv.slice(2);
  const opt = (name: string, fallback: number): number => {
    const i = args.indexOf(`--${name}`);
    return i >= 0 ? Number(args[i + 1]) : fallback;
  };
  const keepAt = args.indexOf('--keep');
  const env = Object.fromEntries(args.filter((a) => /^[A-Z_]+=/.test(a)).map((a) => a.split(/=(.*)/s).slice(0, 2) as [string, string]));
  const targetAt = args.indexOf('--target');
  const which = targetAt >= 0 ? args[targetAt + 1] : 'form';
  const upload = multipart(await syntheticCell());
  const target: Target =
    which === 'image' ? { method: 'POST', path: '/api/predict/malaria', headers: upload.headers, body: upload.body } : FORM_POST;
  const result = await profileTarget(target, {
    connections: opt('connections', 8),
    seconds: opt('seconds', 8),
    env,
    keep: keepAt >= 0 ? args[keepAt + 1] : undefined,
  });
  console.log(breakdownTable([column(`${target.method} ${target.path}`, result)]));
  console.log(`\nserver CPU per request from /proc (profiler on): ${(result.row.cpuMs ?? NaN).toFixed(2)} ms`);
}

if (require.main === module) {
  main().catch((err: unknown) => {
    console.error(err);
    process.exit(1);
  });
}

