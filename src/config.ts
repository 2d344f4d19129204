/**
 * Typed configuration from the environment, validated once at start-up. Every setting has a
 * default that works with no environment at all; a bad value stops the process with a message
 * naming the variable.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';

export interface Config {
  env: 'production' | 'development' | 'test';
  /**
   * What this process serves (ROLE, default "web"): "web" is the page and JSON API; "models" is
   * the model tier, the Open Inference Protocol v2 over MODELS_DIR (src/oip/).
   */
  role: 'web' | 'models';
  port: number;
  host: string;
  modelsDir: string;
  /** Upload limit in bytes (MAX_UPLOAD_MB, default 5). */
  maxUploadBytes: number;
  /** Images in one multi-image post (MAX_BATCH_FILES, default 100); each is still under maxUploadBytes. */
  maxBatchFiles: number;
  /** Body size of one multi-image post in bytes (MAX_BATCH_MB, default 50). */
  maxBatchBytes: number;
  /**
   * Images of one multi-image post decoded and classified at once (BATCH_CONCURRENCY, default 4:
   * the libuv threads sharp decodes on). More does not go faster; fewer leaves cores idle.
   */
  batchConcurrency: number;
  /**
   * Largest image accepted, width × height, read from the header before decoding
   * (MAX_IMAGE_MEGAPIXELS, default 4: 2000 × 2000, 12 MB of RGB once decoded). Cell crops are about
   * 150 px a side (the dataset's 40–394 px, 0.16 megapixels at most): 25 times the largest area.
   */
  maxImagePixels: number;
  /**
   * Decoded image bytes one process holds at once (DECODE_BUDGET_MB, default 48: four of the largest
   * images, thousands of cell crops), reserved from the header before decoding and given back once
   * the pixels are done with (src/memory-budget.ts). The rest wait up to decodeWaitMs, at most
   * QUEUE_LIMIT of them, then get 503 overloaded; an image larger than the whole budget gets 413.
   */
  decodeBudgetBytes: number;
  /** Longest wait for room in the decode budget before 503 overloaded (DECODE_WAIT_MS, default 2000). */
  decodeWaitMs: number;
  /** Longest review in characters (MAX_REVIEW_CHARS, default 20000). */
  maxReviewChars: number;
  /** JSON and urlencoded body limit in bytes. */
  maxBodyBytes: number;
  /** Every request answers within this (REQUEST_TIMEOUT_MS, default 25000 < Heroku's 30 s). */
  requestTimeoutMs: number;
  /**
   * HTTP processes (WEB_CONCURRENCY where set: Heroku sets it from the dyno's size; otherwise one
   * per available core, as many as the memory limit allows, see defaultHttpProcesses). With more
   * than one, this process supervises that many HTTP processes sharing PORT (node:cluster): form
   * posts use every core. With one, a single process does everything.
   */
  httpProcesses: number;
  /**
   * Where a cluster's models live (CLUSTER_MODELS): `each` HTTP process holds its own sessions
   * (default), or the primary process is a model `host` serving them over IPC.
   */
  clusterModels: 'each' | 'host';
  /**
   * Inference worker threads per process holding models (INFERENCE_WORKERS; default: none when
   * several HTTP processes each hold their models, otherwise the number of cores, at most 4;
   * HEROKU_AVAILABLE_PARALLELISM counts as the cores when set). 0: models run on the event loop.
   */
  inferenceWorkers: number;
  /** Requests waiting per model before new ones get 503 + Retry-After (QUEUE_LIMIT, default 128). */
  queueLimit: number;
  /**
   * Prediction requests per client per minute (RATE_LIMIT_PER_MINUTE, default 120; 0: no limit),
   * the client known by its address (X-Forwarded-For's last entry behind Heroku's router); more
   * get 429 + Retry-After. Several HTTP processes share it out (src/http/rate-limit.ts).
   */
  rateLimitPerMinute: number;
  /** Limit loopback clients too (RATE_LIMIT_LOOPBACK=1; default 0: benchmarks and health checks run there). */
  rateLimitLoopback: boolean;
  /**
   * Models run on the main thread even with workers (INFERENCE_INLINE, comma-separated, default
   * "regression": a few-µs model costs less inline than the round trip to a worker; "" for none).
   */
  inferenceInline: string[];
  /**
   * Workers that hold a model, when fewer than all (INFERENCE_REPLICAS, "model=n,...", default
   * none: every worker holds every model; a sentiment session costs ~12 MB, a malaria one ~3 MB).
   */
  inferenceReplicas: Record<string, number>;
  /** onnxruntime intra-op threads per session (ONNX_THREADS, default 1: parallelism comes from workers). */
  onnxThreads: number;
  /**
   * onnxruntime runs of one model started at once in a thread (ONNX_RUNS_PER_TURN, default 2; 0:
   * no limit): the rest wait, so the event loop answers its sockets between runs (src/inference/onnx.ts).
   */
  onnxRunsPerTurn: number;
  /** Nice value of inference worker threads and libvips' decoding threads (INFERENCE_NICE, default 5): the event loop answers first. */
  inferenceNice: number;
  /** If set, GET /metrics answers only `Authorization: Bearer <METRICS_TOKEN>`; otherwise anyone. */
  metricsToken?: string;
  /** libvips threads for image decoding (SHARP_CONCURRENCY, default 1: uploads are small, requests run in parallel). */
  sharpConcurrency: number;
  /**
   * A model tier to run the models on (INFERENCE_URL, e.g. http://127.0.0.1:8000 or a Triton
   * server), instead of this process. Unset: the models run here.
   */
  inferenceUrl?: string;
  /** Bearer token between the tiers (INFERENCE_TOKEN): the web tier sends it, the model tier requires it. */
  inferenceToken?: string;
  /** Longest wait for one call to the model tier (INFERENCE_TIMEOUT_MS, default 10000). */
  inferenceTimeoutMs: number;
  /** Retries of a call the model tier could not take (connection failed or 503) (INFERENCE_RETRIES, default 2). */
  inferenceRetries: number;
  /** Model tier: largest request body (MODEL_MAX_BODY_MB, default 64, as Triton's --http-max-input-size). */
  modelMaxBodyBytes: number;
  /**
   * Model tier: largest JSON part of a request (MODEL_MAX_JSON_MB, default 0.25): a whole JSON body,
   * or the JSON header before binary tensor data. JSON tensors take several times their bytes of
   * heap once parsed, and V8 parses many small nested arrays at ~150 ms per MB (a 256 KB body
   * decodes in under 50 ms of CPU, tests/unit/linear-parsers.test.ts); the longest review the web
   * tier sends as JSON is ~120 KB escaped. Large batches go as binary tensors (up to MODEL_MAX_BODY_MB).
   */
  modelMaxJsonBytes: number;
  /**
   * Model tier: bytes of request bodies held at once, read or being run (MODEL_BODY_BUDGET_MB,
   * default 80: one largest body and ordinary traffic beside it). A body that does not fit gets 503
   * with Retry-After before it is read; one alone always fits.
   */
  modelBodyBudgetBytes: number;
  /** Model tier: start without INFERENCE_TOKEN on a non-loopback HOST (ALLOW_NO_TOKEN=1; default refused). */
  allowNoToken: boolean;
  /** SIGTERM: how long in-flight requests may take to finish (SHUTDOWN_GRACE_MS, default 20000). */
  shutdownGraceMs: number;
  logLevel: string;
}

export class ConfigError extends Error {}

type Env = Record<string, string | undefined>;

/** The folder holding package.json, whether running from src/ (tsx, jest) or dist/ (compiled). */
export function projectRoot(from: string = __dirname): string {
  let dir = from;
  while (!fs.existsSync(path.join(dir, 'package.json'))) {
    const parent = path.dirname(dir);
    if (parent === dir) return process.cwd();
    dir = parent;
  }
  return dir;
}

let pkg: { name: string; version: string } | undefined;

/** This app's name and version, from its package.json (read once). */
export function packageInfo(): { name: string; version: string } {
  pkg ??= JSON.parse(fs.readFileSync(path.join(projectRoot(), 'package.json'), 'utf8')) as { name: string; version: string };
  return pkg;
}

function int(env: Env, name: string, fallback: number, min: number, max: number): number {
  const raw = env[name];
  if (raw === undefined || raw.trim() === '') return fallback;
  const value = Number(raw);
  if (!Number.isInteger(value) || value < min || value > max) {
    throw new ConfigError(`${name} must be a whole number from ${min} to ${max}, got "${raw}"`);
  }
  return value;
}

function num(env: Env, name: string, fallback: number, min: number, max: number): number {
  const raw = env[name];
  if (raw === undefined || raw.trim() === '') return fallback;
  const value = Number(raw);
  if (!Number.isFinite(value) || value < min || value > max) {
    throw new ConfigError(`${name} must be a number from ${min} to ${max}, got "${raw}"`);
  }
  return value;
}

function url(env: Env, name: string): string | undefined {
  const raw = env[name]?.trim();
  if (raw === undefined || raw === '') return undefined;
  let parsed: URL;
  try {
    parsed = new URL(raw);
  } catch {
    throw new ConfigError(`${name} must be a URL like http://127.0.0.1:8000, got "${raw}"`);
  }
  if (parsed.protocol !== 'http:' && parsed.protocol !== 'https:') throw new ConfigError(`${name} must be an http:// or https:// URL, got "${raw}"`);
  if (parsed.search !== '' || parsed.hash !== '' || parsed.username !== '') {
    throw new ConfigError(`${name} must be the server's address only (no query, fragment or credentials; use INFERENCE_TOKEN), got "${raw}"`);
  }
  return parsed.href.replace(/\/+$/, '');
}

/** One of two `choices`, trimmed; `fallback` when unset or blank. */
function choice<C extends string>(env: Env, name: string, choices: readonly [C, C], fallback: C): C {
  const raw = env[name]?.trim();
  if (raw === undefined || raw === '') return fallback;
  if (!(choices as readonly string[]).includes(raw)) throw new ConfigError(`${name} must be ${choices.join(' or ')}, got "${env[name]}"`);
  return raw as C;
}

/** A value used as given (a token); unset when missing or empty. */
function optional(env: Env, name: string): string | undefined {
  const raw = env[name];
  return raw === undefined || raw === '' ? undefined : raw;
}

function list(env: Env, name: string, fallback: string[]): string[] {
  const raw = env[name];
  if (raw === undefined) return fallback;
  return raw.split(',').map((s) => s.trim()).filter((s) => s !== '');
}

function replicas(env: Env, name: string, fallback: Record<string, number>): Record<string, number> {
  const raw = env[name];
  if (raw === undefined) return fallback;
  const out: Record<string, number> = {};
  for (const part of raw.split(',').map((s) => s.trim()).filter((s) => s !== '')) {
    const m = /^([a-z]+)=(\d+)$/.exec(part);
    if (m === null || Number(m[2]) < 1) throw new ConfigError(`${name} must look like "sentiment=1,malaria=2", got "${raw}"`);
    out[m[1] as string] = Number(m[2]);
  }
  return out;
}

/**
 * Memory one more HTTP process needs at peak, and what the rest takes (the supervising primary and
 * headroom), in MB: measured by `npm run bench` (bench/README.md).
 */
export const HTTP_PROCESS_MB = 128;
export const BASE_MB = 64;

/** The memory this process may use: the cgroup's limit where there is one (a container, a dyno), else the machine's. */
function memoryLimit(): number {
  const constrained = typeof process.constrainedMemory === 'function' ? process.constrainedMemory() : undefined;
  const total = os.totalmem();
  return constrained !== undefined && constrained > 0 && constrained < total ? constrained : total;
}

/** One HTTP process per core, as many as fit in `memoryBytes` (at least one). */
export function defaultHttpProcesses(cores: number, memoryBytes: number): number {
  const fit = Math.floor((memoryBytes / 1048576 - BASE_MB) / HTTP_PROCESS_MB);
  return Math.max(1, Math.min(cores, fit, 64));
}

/** An address only this machine can reach: 127.0.0.0/8, ::1 (also IPv4-mapped), localhost. */
export function isLoopback(host: string): boolean {
  const h = host.trim().toLowerCase().replace(/^\[|\]$/g, '');
  return h === 'localhost' || h === '::1' || /^(::ffff:)?127(\.\d{1,3}){3}$/.test(h);
}

export function loadConfig(env: Env = process.env): Config {
  const nodeEnv = env.NODE_ENV ?? 'development';
  if (!['production', 'development', 'test'].includes(nodeEnv)) {
    throw new ConfigError(`NODE_ENV must be production, development or test, got "${nodeEnv}"`);
  }
  // The cores this process may use. Heroku's Fir dynos say so in HEROKU_AVAILABLE_PARALLELISM; on
  // other platforms (Heroku's Cedar dynos included) the OS may report the host's cores instead.
  const osCores = typeof os.availableParallelism === 'function' ? os.availableParallelism() : os.cpus().length;
  const cores = int(env, 'HEROKU_AVAILABLE_PARALLELISM', osCores, 1, 1024);
  // A web tier on a model tier (INFERENCE_URL) serves from one process (server.ts).
  const inferenceUrl = url(env, 'INFERENCE_URL');
  const httpProcesses = int(env, 'WEB_CONCURRENCY', inferenceUrl !== undefined ? 1 : defaultHttpProcesses(cores, memoryLimit()), 1, 64);
  const clusterModels = choice(env, 'CLUSTER_MODELS', ['each', 'host'], 'each');
  const role = choice(env, 'ROLE', ['web', 'models'], 'web');
  const requestTimeoutMs = int(env, 'REQUEST_TIMEOUT_MS', 25_000, 100, 120_000);
  const host = env.HOST ?? '0.0.0.0';
  const allowNoToken = choice(env, 'ALLOW_NO_TOKEN', ['0', '1'], '0') === '1';
  // The model tier runs whatever it is sent on its CPU and memory: open to a network, it needs a token.
  if (role === 'models' && optional(env, 'INFERENCE_TOKEN') === undefined && !allowNoToken && !isLoopback(host)) {
    throw new ConfigError(
      `ROLE=models refuses to start on HOST=${host} (not a loopback address) without INFERENCE_TOKEN: set INFERENCE_TOKEN (the web tier sends the same), or HOST=127.0.0.1 to serve this machine only, or ALLOW_NO_TOKEN=1 when something in front of it checks every request`,
    );
  }
  return {
    env: nodeEnv as Config['env'],
    role,
    port: int(env, 'PORT', 3000, 0, 65535),
    host,
    modelsDir: path.resolve(env.MODELS_DIR ?? path.join(projectRoot(), 'models')),
    maxUploadBytes: Math.round(num(env, 'MAX_UPLOAD_MB', 5, 0.001, 100) * 1024 * 1024),
    maxBatchFiles: int(env, 'MAX_BATCH_FILES', 100, 1, 10_000),
    maxBatchBytes: Math.round(num(env, 'MAX_BATCH_MB', 50, 0.001, 1024) * 1024 * 1024),
    batchConcurrency: int(env, 'BATCH_CONCURRENCY', 4, 1, 64),
    maxImagePixels: Math.round(num(env, 'MAX_IMAGE_MEGAPIXELS', 4, 0.01, 268) * 1e6),
    decodeBudgetBytes: Math.round(num(env, 'DECODE_BUDGET_MB', 48, 0.01, 65_536) * 1024 * 1024),
    decodeWaitMs: int(env, 'DECODE_WAIT_MS', 2000, 0, 120_000),
    maxReviewChars: int(env, 'MAX_REVIEW_CHARS', 20_000, 1, 1_000_000),
    maxBodyBytes: int(env, 'MAX_BODY_KB', 512, 1, 10_240) * 1024,
    requestTimeoutMs,
    httpProcesses,
    clusterModels,
    // One HTTP process per core already spreads inference over the cores, each on its own event
    // loop; a single process (or a model host) needs threads for that.
    inferenceWorkers: int(env, 'INFERENCE_WORKERS', httpProcesses > 1 && clusterModels === 'each' ? 0 : Math.min(cores, 4), 0, 64),
    queueLimit: int(env, 'QUEUE_LIMIT', 128, 1, 100_000),
    rateLimitPerMinute: int(env, 'RATE_LIMIT_PER_MINUTE', 120, 0, 1_000_000),
    rateLimitLoopback: choice(env, 'RATE_LIMIT_LOOPBACK', ['0', '1'], '0') === '1',
    inferenceInline: list(env, 'INFERENCE_INLINE', ['regression']),
    inferenceReplicas: replicas(env, 'INFERENCE_REPLICAS', {}),
    onnxThreads: int(env, 'ONNX_THREADS', 1, 1, 64),
    onnxRunsPerTurn: int(env, 'ONNX_RUNS_PER_TURN', 2, 0, 1024),
    sharpConcurrency: int(env, 'SHARP_CONCURRENCY', 1, 0, 64),
    inferenceNice: int(env, 'INFERENCE_NICE', 5, 0, 19),
    metricsToken: optional(env, 'METRICS_TOKEN'),
    inferenceUrl,
    inferenceToken: optional(env, 'INFERENCE_TOKEN'),
    inferenceTimeoutMs: int(env, 'INFERENCE_TIMEOUT_MS', Math.min(10_000, requestTimeoutMs), 50, requestTimeoutMs),
    inferenceRetries: int(env, 'INFERENCE_RETRIES', 2, 0, 10),
    modelMaxBodyBytes: Math.round(num(env, 'MODEL_MAX_BODY_MB', 64, 0.001, 2048) * 1024 * 1024),
    modelMaxJsonBytes: Math.round(num(env, 'MODEL_MAX_JSON_MB', 0.25, 0.001, 2048) * 1024 * 1024),
    modelBodyBudgetBytes: Math.round(num(env, 'MODEL_BODY_BUDGET_MB', 80, 0.001, 16_384) * 1024 * 1024),
    allowNoToken,
    shutdownGraceMs: int(env, 'SHUTDOWN_GRACE_MS', 20_000, 0, 60_000),
    logLevel: env.LOG_LEVEL ?? (nodeEnv === 'test' ? 'silent' : 'info'),
  };
}
