/**
 * Typed configuration from the environment, validated once at start-up. The variables, their
 * ranges and defaults are declared once in src/config-schema.ts; here they become the Config the
 * app uses (bytes, derived defaults). Every setting has a default that works with no environment
 * at all; a bad value stops the process with a ConfigError naming the variable, what it must be
 * and what it got.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { environment, isLoopback } from './config-schema';
import type { InputLimits } from './models/model';

export { isLoopback };

/** The settings, each documented at its variable in src/config-schema.ts. */
export interface Config {
  /** NODE_ENV. */
  env: 'production' | 'development' | 'test';
  /** What this process serves: the page and JSON API, or the model tier (ROLE). */
  role: 'web' | 'models';
  port: number;
  host: string;
  /** MODELS_DIR, absolute. */
  modelsDir: string;
  /** MAX_UPLOAD_MB in bytes. */
  maxUploadBytes: number;
  /** MAX_BATCH_FILES. */
  maxBatchFiles: number;
  /** MAX_BATCH_MB in bytes. */
  maxBatchBytes: number;
  /** BATCH_CONCURRENCY. */
  batchConcurrency: number;
  /** MAX_IMAGE_MEGAPIXELS in pixels. */
  maxImagePixels: number;
  /** DECODE_BUDGET_MB in bytes. */
  decodeBudgetBytes: number;
  /** DECODE_WAIT_MS. */
  decodeWaitMs: number;
  /** MAX_REVIEW_CHARS. */
  maxReviewChars: number;
  /** MAX_BODY_KB in bytes. */
  maxBodyBytes: number;
  /** REQUEST_TIMEOUT_MS. */
  requestTimeoutMs: number;
  /** HTTP processes: WEB_CONCURRENCY, or as many as the cores and memory allow (defaultHttpProcesses). */
  httpProcesses: number;
  /** CLUSTER_MODELS. */
  clusterModels: 'each' | 'host';
  /** INFERENCE_WORKERS, or its default from httpProcesses, clusterModels and the cores. */
  inferenceWorkers: number;
  /** QUEUE_LIMIT. */
  queueLimit: number;
  /** RATE_LIMIT_PER_MINUTE (0: no limit). */
  rateLimitPerMinute: number;
  /** RATE_LIMIT_LOOPBACK. */
  rateLimitLoopback: boolean;
  /** INFERENCE_INLINE. */
  inferenceInline: string[];
  /** INFERENCE_REPLICAS. */
  inferenceReplicas: Record<string, number>;
  /** ONNX_THREADS. */
  onnxThreads: number;
  /** ONNX_RUNS_PER_TURN (0: no limit); unset: each model's own (ModelDefinition.runsPerTurn), else 2. */
  onnxRunsPerTurn: number | undefined;
  /** INFERENCE_NICE. */
  inferenceNice: number;
  /** METRICS_TOKEN. */
  metricsToken?: string;
  /** SHARP_CONCURRENCY. */
  sharpConcurrency: number;
  /** INFERENCE_URL, without a trailing slash; unset: the models run here. */
  inferenceUrl?: string;
  /** INFERENCE_TOKEN. */
  inferenceToken?: string;
  /** INFERENCE_TIMEOUT_MS, at most requestTimeoutMs. */
  inferenceTimeoutMs: number;
  /** INFERENCE_RETRIES. */
  inferenceRetries: number;
  /** MODEL_MAX_BODY_MB in bytes. */
  modelMaxBodyBytes: number;
  /** MODEL_MAX_JSON_MB in bytes. */
  modelMaxJsonBytes: number;
  /** MODEL_BODY_BUDGET_MB in bytes. */
  modelBodyBudgetBytes: number;
  /** ALLOW_NO_TOKEN. */
  allowNoToken: boolean;
  /** SHUTDOWN_GRACE_MS. */
  shutdownGraceMs: number;
  /** LOG_LEVEL. */
  logLevel: string;
  /** DATABASE_URL; unset: the SQLite file data/ml-forms.sqlite. */
  databaseUrl?: string;
  /** PREDICTION_LOG. */
  predictionLog: boolean;
  /** KEEP_INPUTS_MINUTES in ms (0: inputs are not held). */
  keepInputsMs: number;
  /** RETENTION_DAYS in ms. */
  retentionMs: number;
  /** ADMIN_TOKEN. */
  adminToken?: string;
  /** FEEDBACK_PER_MINUTE (0: no limit). */
  feedbackPerMinute: number;
}

/** A variable has a value it cannot have; the message names it, says what it must be and what it got. */
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
  pkg ??= JSON.parse(fs.readFileSync(path.join(projectRoot(), 'package.json'), 'utf8')) as {
    name: string;
    version: string;
  };
  return pkg;
}

/**
 * Memory one more HTTP process needs at peak, and what the rest takes (the supervising primary and
 * headroom), in MB: measured by `npm run bench` (bench/README.md).
 */
/** The limits a model's fields are built with under this configuration (a text field's longest text: MAX_REVIEW_CHARS). */
export const inputLimits = (config: Pick<Config, 'maxReviewChars'>): InputLimits => ({ maxTextChars: config.maxReviewChars });

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

const MB = 1024 * 1024;

/** Validates `env` against the declared variables and derives the Config; throws ConfigError naming every bad variable. */
export function loadConfig(env: Env = process.env): Config {
  const parsed = environment.safeParse(env);
  if (!parsed.success) {
    const messages = parsed.error.issues.map((issue) => {
      const name = issue.path[0];
      if (typeof name !== 'string') return issue.message;
      // A database URL may hold a password: only its scheme is echoed.
      const got = name === 'DATABASE_URL' ? `${/^[a-z][a-z0-9+.-]*:/i.exec(env[name] ?? '')?.[0] ?? ''}…` : env[name];
      return `${name} ${issue.message}, got "${got}"`;
    });
    throw new ConfigError(messages.join('; '));
  }
  const v = parsed.data;
  const cores = v.HEROKU_AVAILABLE_PARALLELISM;
  // A web tier on a model tier (INFERENCE_URL) serves from one process (server.ts).
  const httpProcesses =
    v.WEB_CONCURRENCY ?? (v.INFERENCE_URL !== undefined ? 1 : defaultHttpProcesses(cores, memoryLimit()));
  // One HTTP process per core already spreads inference over the cores, each on its own event
  // loop; a single process (or a model host) needs threads for that.
  const inferenceWorkers =
    v.INFERENCE_WORKERS ?? (httpProcesses > 1 && v.CLUSTER_MODELS === 'each' ? 0 : Math.min(cores, 4));
  return {
    env: v.NODE_ENV,
    role: v.ROLE,
    port: v.PORT,
    host: v.HOST,
    modelsDir: path.resolve(v.MODELS_DIR ?? path.join(projectRoot(), 'models')),
    maxUploadBytes: Math.round(v.MAX_UPLOAD_MB * MB),
    maxBatchFiles: v.MAX_BATCH_FILES,
    maxBatchBytes: Math.round(v.MAX_BATCH_MB * MB),
    batchConcurrency: v.BATCH_CONCURRENCY,
    maxImagePixels: Math.round(v.MAX_IMAGE_MEGAPIXELS * 1e6),
    decodeBudgetBytes: Math.round(v.DECODE_BUDGET_MB * MB),
    decodeWaitMs: v.DECODE_WAIT_MS,
    maxReviewChars: v.MAX_REVIEW_CHARS,
    maxBodyBytes: v.MAX_BODY_KB * 1024,
    requestTimeoutMs: v.REQUEST_TIMEOUT_MS,
    httpProcesses,
    clusterModels: v.CLUSTER_MODELS,
    inferenceWorkers,
    queueLimit: v.QUEUE_LIMIT,
    rateLimitPerMinute: v.RATE_LIMIT_PER_MINUTE,
    rateLimitLoopback: v.RATE_LIMIT_LOOPBACK,
    inferenceInline: v.INFERENCE_INLINE,
    inferenceReplicas: v.INFERENCE_REPLICAS,
    onnxThreads: v.ONNX_THREADS,
    onnxRunsPerTurn: v.ONNX_RUNS_PER_TURN,
    sharpConcurrency: v.SHARP_CONCURRENCY,
    inferenceNice: v.INFERENCE_NICE,
    metricsToken: v.METRICS_TOKEN,
    inferenceUrl: v.INFERENCE_URL,
    inferenceToken: v.INFERENCE_TOKEN,
    inferenceTimeoutMs: v.INFERENCE_TIMEOUT_MS ?? Math.min(10_000, v.REQUEST_TIMEOUT_MS),
    inferenceRetries: v.INFERENCE_RETRIES,
    modelMaxBodyBytes: Math.round(v.MODEL_MAX_BODY_MB * MB),
    modelMaxJsonBytes: Math.round(v.MODEL_MAX_JSON_MB * MB),
    modelBodyBudgetBytes: Math.round(v.MODEL_BODY_BUDGET_MB * MB),
    allowNoToken: v.ALLOW_NO_TOKEN,
    shutdownGraceMs: v.SHUTDOWN_GRACE_MS,
    logLevel: v.LOG_LEVEL ?? (v.NODE_ENV === 'test' ? 'silent' : 'info'),
    databaseUrl: v.DATABASE_URL,
    predictionLog: v.PREDICTION_LOG,
    keepInputsMs: v.KEEP_INPUTS_MINUTES * 60_000,
    retentionMs: v.RETENTION_DAYS * 86_400_000,
    adminToken: v.ADMIN_TOKEN,
    feedbackPerMinute: v.FEEDBACK_PER_MINUTE,
  };
}
