/**
 * Every environment variable the app reads, declared once: its doc comment, type, range and
 * default, as one zod schema over the environment (fastify's habit: options are one declared
 * schema, validated once; nobody hand-parses environment strings). Values come out in the
 * variable's own units (MB, megapixels); src/config.ts turns them into the typed Config and
 * computes the defaults that depend on other settings or on the machine (those are optional here).
 *
 * A blank value means unset (except INFERENCE_INLINE, where "" means none). Each rule's message
 * reads after the variable's name: "PORT" + " must be a whole number from 0 to 65535".
 */
import os from 'node:os';
import { z } from 'zod';
import { MODELS } from './models';

/** Blank or missing: unset, so the default applies. */
function unsetIfBlank(value: unknown): unknown {
  return typeof value === 'string' && value.trim() === '' ? undefined : value;
}

/** `schema` over a variable's text, blank meaning unset: `fallback` then, or undefined without one. */
function setting<T extends NonNullable<unknown>>(schema: z.ZodType<T>): z.ZodType<T | undefined>;
function setting<T extends NonNullable<unknown>>(schema: z.ZodType<T>, fallback: T | (() => T)): z.ZodType<T>;
function setting<T extends NonNullable<unknown>>(
  schema: z.ZodType<T>,
  fallback?: T | (() => T),
): z.ZodType<T | undefined> {
  if (fallback === undefined) return z.preprocess(unsetIfBlank, schema.optional());
  // A function computes the default when needed (the cores); values are used as they are.
  const computed = typeof fallback === 'function' ? (fallback as () => T) : () => fallback;
  return z.preprocess(unsetIfBlank, schema.default(computed));
}

function whole(min: number, max: number): z.ZodType<number> {
  const must = `must be a whole number from ${min} to ${max}`;
  return z.coerce.number({ error: must }).int({ error: must }).min(min, { error: must }).max(max, { error: must });
}

/** Any finite number in range: fractions of a MB or megapixel are allowed. */
function decimal(min: number, max: number): z.ZodType<number> {
  const must = `must be a number from ${min} to ${max}`;
  return z.coerce.number({ error: must }).min(min, { error: must }).max(max, { error: must });
}

/** One of `choices`, surrounding spaces ignored. */
function oneOf<const C extends string>(choices: readonly [C, ...C[]]): z.ZodType<C> {
  const must = `must be ${choices.slice(0, -1).join(', ')} or ${choices.at(-1)}`;
  return z
    .string()
    .trim()
    .pipe(z.enum(choices, { error: must }));
}

/** "1" or "0". */
const flag = oneOf(['0', '1']).transform((v) => v === '1');

/** A value used as given (a token, an address, a folder). */
const text = z.string();

/** The address of an HTTP server, without a trailing slash. */
const serverUrl = z
  .string()
  .trim()
  .transform((raw, ctx) => {
    const fail = (message: string) => (ctx.addIssue({ code: 'custom', message }), z.NEVER);
    let parsed: URL;
    try {
      parsed = new URL(raw);
    } catch {
      return fail('must be a URL like http://127.0.0.1:8000');
    }
    if (parsed.protocol !== 'http:' && parsed.protocol !== 'https:') return fail('must be an http:// or https:// URL');
    if (parsed.search !== '' || parsed.hash !== '' || parsed.username !== '') {
      return fail("must be the server's address only (no query, fragment or credentials; use INFERENCE_TOKEN)");
    }
    return parsed.href.replace(/\/+$/, '');
  });

/** Where the prediction log lives: a SQLite file (an absolute path) or a Postgres server. The password is never echoed back. */
const databaseUrl = z
  .string()
  .trim()
  .refine((url) => /^sqlite:\/\/\/./.test(url) || /^postgres(ql)?:\/\/./.test(url), {
    error: 'must be sqlite:///absolute/path.sqlite or postgres://user:password@host:port/database',
  });

/** The items of a comma-separated list, trimmed, empty ones dropped. */
function commaList(raw: string): string[] {
  return raw.split(',').flatMap((s) => (s.trim() === '' ? [] : [s.trim()]));
}

/** Comma-separated names; "" (or only commas) is none, unlike the blank-means-unset of the others. */
function names(fallback: string[]): z.ZodType<string[]> {
  return z
    .string()
    .transform(commaList)
    .default(() => [...fallback]);
}

/** "name=n,..." with n ≥ 1. */
const counts = z.string().transform((raw, ctx) => {
  const out: Record<string, number> = {};
  for (const part of commaList(raw)) {
    const m = /^([a-z]+)=(\d+)$/.exec(part);
    if (m === null || Number(m[2]) < 1) {
      ctx.addIssue({
        code: 'custom',
        message: 'must look like "model=1,other=2" (model names, each with a whole number ≥ 1)',
      });
      return z.NEVER;
    }
    out[m[1] as string] = Number(m[2]);
  }
  return out;
});

/** The cores this process may use, as the OS reports them. */
function osCores(): number {
  return typeof os.availableParallelism === 'function' ? os.availableParallelism() : os.cpus().length;
}

/** An address only this machine can reach: 127.0.0.0/8, ::1 (also IPv4-mapped), localhost. */
export function isLoopback(host: string): boolean {
  const h = host
    .trim()
    .toLowerCase()
    .replace(/^\[|\]$/g, '');
  return h === 'localhost' || h === '::1' || /^(::ffff:)?127(\.\d{1,3}){3}$/.test(h);
}

const variables = z.object({
  /** `production` caches templates and hides stacks; `test` silences the log. */
  NODE_ENV: setting(oneOf(['production', 'development', 'test']), 'development'),
  /**
   * What this process serves: `web` is the page and JSON API; `models` is the model tier, the Open
   * Inference Protocol v2 over MODELS_DIR (src/oip/).
   */
  ROLE: setting(oneOf(['web', 'models']), 'web'),
  /** Port to listen on (0: any free one). */
  PORT: setting(whole(0, 65535), 3000),
  /** Address to listen on. */
  HOST: setting(text, '0.0.0.0'),
  /** The model repository (default: models/ beside package.json). */
  MODELS_DIR: setting(text),
  /** Upload limit in MB. */
  MAX_UPLOAD_MB: setting(decimal(0.001, 100), 5),
  /** Images in one multi-image post; each is still under MAX_UPLOAD_MB. */
  MAX_BATCH_FILES: setting(whole(1, 10_000), 100),
  /** Body size of one multi-image post in MB. */
  MAX_BATCH_MB: setting(decimal(0.001, 1024), 50),
  /**
   * Images of one multi-image post decoded and classified at once: the libuv threads sharp decodes
   * on. More does not go faster; fewer leaves cores idle.
   */
  BATCH_CONCURRENCY: setting(whole(1, 64), 4),
  /**
   * Largest image accepted, width × height in millions, read from the header before decoding
   * (4: 2000 × 2000, 12 MB of RGB once decoded). Cell crops are about 150 px a side (the dataset's
   * 40–394 px, 0.16 megapixels at most): 25 times the largest area.
   */
  MAX_IMAGE_MEGAPIXELS: setting(decimal(0.01, 268), 4),
  /**
   * Decoded image MB one process holds at once (48: four of the largest images, thousands of cell
   * crops), reserved from the header before decoding and given back once the pixels are done with
   * (src/memory-budget.ts). The rest wait up to DECODE_WAIT_MS, at most QUEUE_LIMIT of them, then
   * get 503 overloaded; an image larger than the whole budget gets 413.
   */
  DECODE_BUDGET_MB: setting(decimal(0.01, 65_536), 48),
  /** Longest wait in ms for room in the decode budget before 503 overloaded. */
  DECODE_WAIT_MS: setting(whole(0, 120_000), 2000),
  /** Longest review in characters. */
  MAX_REVIEW_CHARS: setting(whole(1, 1_000_000), 20_000),
  /** JSON and urlencoded body limit in KB. */
  MAX_BODY_KB: setting(whole(1, 10_240), 512),
  /** Every request answers within this many ms (25000: under Heroku's 30 s). */
  REQUEST_TIMEOUT_MS: setting(whole(100, 120_000), 25_000),
  /** The cores this process may use, where Heroku says them (Fir dynos); the OS may report the host's. */
  HEROKU_AVAILABLE_PARALLELISM: setting(whole(1, 1024), osCores),
  /**
   * HTTP processes (Heroku sets it from the dyno's size). Default: one per core, as many as the
   * memory limit allows (defaultHttpProcesses in src/config.ts); 1 with INFERENCE_URL. With more
   * than one, this process supervises that many HTTP processes sharing PORT (node:cluster).
   */
  WEB_CONCURRENCY: setting(whole(1, 64)),
  /**
   * Where a cluster's models live: `each` HTTP process holds its own sessions, or the primary
   * process is a model `host` serving them over IPC.
   */
  CLUSTER_MODELS: setting(oneOf(['each', 'host']), 'each'),
  /**
   * Inference worker threads per process holding models (0: models run on the event loop).
   * Default: none when several HTTP processes each hold their models, else the cores, at most 4.
   */
  INFERENCE_WORKERS: setting(whole(0, 64)),
  /** Requests waiting per model before new ones get 503 + Retry-After. */
  QUEUE_LIMIT: setting(whole(1, 100_000), 128),
  /**
   * Prediction requests per client per minute (0: no limit), the client known by its address
   * (X-Forwarded-For's last entry behind Heroku's router); more get 429 + Retry-After. Several
   * HTTP processes share it out (src/http/rate-limit.ts).
   */
  RATE_LIMIT_PER_MINUTE: setting(whole(0, 1_000_000), 120),
  /** Limit loopback clients too (default 0: benchmarks and health checks run there). */
  RATE_LIMIT_LOOPBACK: setting(flag, false),
  /**
   * Models run on the main thread even with workers, comma-separated ("" for none): a model of a
   * few µs costs less inline than the round trip to a worker. Default: the models whose definition
   * says `inline` (src/models/).
   */
  INFERENCE_INLINE: names(MODELS.filter((m) => m.inline === true).map((m) => m.name)),
  /**
   * Workers that hold a model, when fewer than all ("model=n,..."; default: every worker holds every
   * model). A session costs 3 to 12 MB depending on the model.
   */
  INFERENCE_REPLICAS: setting(counts, () => ({})),
  /** onnxruntime intra-op threads per session (parallelism comes from workers). */
  ONNX_THREADS: setting(whole(1, 64), 1),
  /**
   * onnxruntime runs of one model started at once in a thread (0: no limit): the rest wait, so the
   * event loop answers its sockets between runs (src/inference/onnx.ts). Unset: each model's own
   * (its definition's `runsPerTurn`: 1 for the cell classifier, whose run takes most of a
   * millisecond), else 2.
   */
  ONNX_RUNS_PER_TURN: setting(whole(0, 1024)),
  /** libvips threads for image decoding (uploads are small, requests run in parallel). */
  SHARP_CONCURRENCY: setting(whole(0, 64), 1),
  /** Nice value of inference worker threads and libvips' decoding threads: the event loop answers first. */
  INFERENCE_NICE: setting(whole(0, 19), 5),
  /** If set, GET /metrics answers only `Authorization: Bearer <METRICS_TOKEN>`; otherwise anyone. */
  METRICS_TOKEN: setting(text),
  /** A model tier to run the models on (e.g. http://127.0.0.1:8000 or a Triton server); unset: here. */
  INFERENCE_URL: setting(serverUrl),
  /** Bearer token between the tiers: the web tier sends it, the model tier requires it. */
  INFERENCE_TOKEN: setting(text),
  /** Longest wait in ms for one call to the model tier (default 10000, at most REQUEST_TIMEOUT_MS). */
  INFERENCE_TIMEOUT_MS: setting(whole(50, 120_000)),
  /** Retries of a call the model tier could not take (connection failed or 503). */
  INFERENCE_RETRIES: setting(whole(0, 10), 2),
  /** Model tier: largest request body in MB (64, as Triton's --http-max-input-size). */
  MODEL_MAX_BODY_MB: setting(decimal(0.001, 2048), 64),
  /**
   * Model tier: largest JSON part of a request in MB: a whole JSON body, or the JSON header before
   * binary tensor data. JSON tensors take several times their bytes of heap once parsed, and V8
   * parses many small nested arrays at ~150 ms per MB (a 256 KB body decodes in under 50 ms of CPU,
   * tests/integration/linear-parsers.test.ts); the longest review the web tier sends as JSON is ~120 KB
   * escaped. Large batches go as binary tensors (up to MODEL_MAX_BODY_MB).
   */
  MODEL_MAX_JSON_MB: setting(decimal(0.001, 2048), 0.25),
  /**
   * Model tier: MB of request bodies held at once, read or being run (80: one largest body and
   * ordinary traffic beside it). A body that does not fit gets 503 with Retry-After before it is
   * read; one alone always fits.
   */
  MODEL_BODY_BUDGET_MB: setting(decimal(0.001, 16_384), 80),
  /** Model tier: start without INFERENCE_TOKEN on a non-loopback HOST (default 0: refused). */
  ALLOW_NO_TOKEN: setting(flag, false),
  /**
   * Where the prediction log, held inputs and feedback live (issue 26): unset, an embedded SQLite
   * file (data/ml-forms.sqlite beside package.json; lost at every restart on Heroku, whose
   * filesystem is ephemeral); `sqlite:///absolute/path.sqlite`; or `postgres://…` (what Heroku
   * Postgres sets). The batch command logs its rows only when it is set.
   */
  DATABASE_URL: setting(databaseUrl),
  /** The prediction log, feedback and /monitor (default 1; 0: nothing is kept and answers carry no id); the model tier logs its clients' runs. */
  PREDICTION_LOG: setting(flag, true),
  /**
   * Minutes each prediction's input is held in the database so that a person can share it with
   * their feedback, then deleted (0: inputs are never held, so none can be shared).
   */
  KEEP_INPUTS_MINUTES: setting(whole(0, 1440), 30),
  /** Days the prediction log and feedback are kept. */
  RETENTION_DAYS: setting(whole(1, 3650), 90),
  /**
   * Opens /monitor (HTTP Basic, this token as the password, any user name) and /api/monitor and
   * DELETE /api/feedback/{id} (Authorization: Bearer); unset, they answer 404.
   */
  ADMIN_TOKEN: setting(text),
  /** Feedback posts per client per minute (0: no limit); loopback clients as RATE_LIMIT_LOOPBACK says. */
  FEEDBACK_PER_MINUTE: setting(whole(0, 100_000), 20),
  /** SIGTERM: how long in ms in-flight requests may take to finish. */
  SHUTDOWN_GRACE_MS: setting(whole(0, 60_000), 20_000),
  /** pino's level (default info; silent under NODE_ENV=test). */
  LOG_LEVEL: setting(oneOf(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'])),
});

/** The rules between variables. */
export const environment = variables.superRefine((v, ctx) => {
  if (v.INFERENCE_TIMEOUT_MS !== undefined && v.INFERENCE_TIMEOUT_MS > v.REQUEST_TIMEOUT_MS) {
    ctx.addIssue({
      code: 'custom',
      path: ['INFERENCE_TIMEOUT_MS'],
      message: `must be a whole number from 50 to ${v.REQUEST_TIMEOUT_MS} (REQUEST_TIMEOUT_MS)`,
    });
  }
  // The model tier runs whatever it is sent on its CPU and memory: open to a network, it needs a token.
  if (v.ROLE === 'models' && v.INFERENCE_TOKEN === undefined && !v.ALLOW_NO_TOKEN && !isLoopback(v.HOST)) {
    ctx.addIssue({
      code: 'custom',
      path: [],
      message: `ROLE=models refuses to start on HOST=${v.HOST} (not a loopback address) without INFERENCE_TOKEN: set INFERENCE_TOKEN (the web tier sends the same), or HOST=127.0.0.1 to serve this machine only, or ALLOW_NO_TOKEN=1 when something in front of it checks every request`,
    });
  }
});

/** The names of every variable the app reads. */
export const VARIABLES = Object.keys(variables.shape) as (keyof Environment)[];

/** The environment once validated, each variable in its own units, undefined where the default depends on others. */
export type Environment = z.output<typeof variables>;
