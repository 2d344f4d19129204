/**
 * What the parts of `npm run bench` (bench/run.ts) share: the options of the run (--quick,
 * --only), the targets every part loads, and the two ways a part loads a server (each concurrency
 * level alone; image uploads saturating it with /healthz polled alongside).
 */
import fs from 'node:fs';
import path from 'node:path';
import { type Proc, ROOT, type Row, type Target, sleep, warm as warmFor, wrk } from '../lib';
import { FORM_POST } from '../profile';

/** The token the benchmark's app is started with, so that it can read /metrics in production. */
export const BENCH_METRICS_TOKEN = 'bench';
export const QUICK = process.argv.includes('--quick');
export const ONLY = process.argv.includes('--only') ? process.argv[process.argv.indexOf('--only') + 1] : undefined;
export const SECONDS = QUICK ? 2 : 6;
export const LEVELS = QUICK ? [8] : [1, 8, 32];
/** The serving memory line (issues 12, 24 and 26): PSS summed over the app's processes, MB. */
export const PSS_BAR_MB = 256;
/** MODELS_DIR is passed on to the app too (it inherits this environment). */
export const MODELS_DIR = path.resolve(process.env.MODELS_DIR ?? path.join(ROOT, 'models'));
/** The version a model's card in MODELS_DIR says is served. */
export function cardVersion(name: string): string {
  return (JSON.parse(fs.readFileSync(path.join(MODELS_DIR, name, 'card.json'), 'utf8')) as { version: string }).version;
}

/**
 * A cell's file as the prediction log holds it, for bench/log-path.ts and bench/log-postgres.ts:
 * 6,796 bytes (the held-out cell the serving benchmarks post, 2230.webp) behind a WEBP header.
 */
export function heldCellFile(): Uint8Array {
  const file = new Uint8Array(6796).fill(0x2a);
  file.set([0x52, 0x49, 0x46, 0x46, 0, 0, 0, 0, 0x57, 0x45, 0x42, 0x50]); // "RIFF....WEBP"
  return file;
}

/** The review the benchmarks post (and bench/log-path.ts records). */
export const REVIEW =
  'I went in expecting very little and came out delighted. The performances are warm and precise, the script ' +
  'is funny without trying too hard, and the last half hour is genuinely moving. A couple of scenes drag and the ' +
  'score is sometimes too insistent, but the cast makes every moment count. I would happily watch it again, and ' +
  'I have already recommended it to friends who usually avoid this kind of film. Beautifully shot, too.';

export const warm = (base: string, targets: Target[]): Promise<void> => warmFor(base, targets, QUICK ? 1 : 3);

/** A multipart upload: its headers (the boundary) and its body. */
export type Upload = { headers: Record<string, string>; body: Buffer };

/** What the parts load: the number form's post, the three JSON predictions and /healthz. */
export function benchTargets(upload: Upload) {
  return {
    regressionForm: FORM_POST,
    regressionApi: { method: 'POST', path: '/api/predict/regression', headers: { 'content-type': 'application/json' }, body: '{"x": 5}' } as Target,
    sentimentApi: { method: 'POST', path: '/api/predict/sentiment', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ review: REVIEW }) } as Target,
    malariaApi: { method: 'POST', path: '/api/predict/malaria', headers: upload.headers, body: upload.body } as Target,
    healthz: { method: 'GET', path: '/healthz' } as Target,
    /** /healthz probed as a Kubernetes or Heroku health check does: a new connection each time (wrk reconnects after `Connection: close`). */
    healthzNewConnection: { method: 'GET', path: '/healthz', headers: { connection: 'close' } } as Target,
  };
}

export type Targets = ReturnType<typeof benchTargets>;

/** One row per concurrency level, each measured alone (so its server CPU per request is meaningful). */
export const levels = async (p: Proc, target: Target, scenario: string, at: number[], note?: string): Promise<Row[]> => {
  const rows: Row[] = [];
  for (const c of at) rows.push({ ...(await wrk(p.base, target, c, SECONDS, p.pid)), scenario, note });
  return rows;
};

/**
 * Uploads saturating the server with /healthz polled alongside (`probe`: on one kept-alive
 * connection by default): is the event loop still free?
 */
export const saturated = async (p: Proc, targets: Targets, seconds: number, probe: Target = targets.healthz): Promise<{ images: Row; health: Row }> => {
  const [images, health] = await Promise.all([
    wrk(p.base, targets.malariaApi, 32, seconds + 1),
    sleep(500).then(() => wrk(p.base, probe, 1, Math.max(1, seconds - 1))),
  ]);
  return { images, health };
};
