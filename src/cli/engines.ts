/**
 * Where the batch command's predictions come from, behind one interface:
 *  - in process: the server's own Registry and predictors over the same worker pool of inference
 *    threads, with the server's configuration (MODELS_DIR, MAX_* limits, ONNX_THREADS, …);
 *  - remote (--url): each input POSTed to a running ml-forms JSON API, retried with backoff on 503
 *    (honouring Retry-After) and on connection failures. Redirects are not followed: an answer
 *    such as 307 would have the file posted again to wherever it points, so it is an error.
 * Either way an input becomes a BatchRow: the prediction, or the API's error code and message.
 * Asked to explain (--explain), both ask the model for its `explanation` (in process the predictor's
 * option, remote `?explain=1`), and a prediction that comes without one is that row's error, never
 * a row with an empty explanation that looks answered.
 */
import { SOURCE_HEADER } from '../database/types';
import path from 'node:path';
import { configureSharp } from '../images';
import type { InputItem } from '../batch/inputs';
import { NotRegularFile, openRegular } from '../batch/open-regular';
import type { BatchRow, RowError, RowPrediction } from '../batch/rows';
import { type Config, inputLimits } from '../config';
import { AppError, fileTooLarge, isErrorCode, isRetryable, kindOf } from '../errors';
import { inProcessBackend, localBackend } from '../inference/configured';
import { withRetry } from '../inference/retry';
import { type InputLimits, type ModelDefinition, inputFromValue, mainField } from '../models/model';
import type { Logger } from '../log';
import type { MonitoringParts } from '../monitoring/setup';
import { Registry } from '../predictors/registry';

export interface Engine {
  /** E.g. "in process, onnxruntime-node (2 worker threads)". */
  readonly description: string;
  /** Predictions in flight that keep it busy without piling up work. */
  readonly window: number;
  predict(item: InputItem): Promise<BatchRow>;
  close(): Promise<void>;
}

/**
 * An input's row: its reading error, or what `run` answers, or the error it throws. `explain`: the
 * answer must have its explanation (`source` says who gave an answer without one).
 */
async function row(
  item: InputItem,
  run: () => Promise<RowPrediction>,
  explain: boolean,
  source: string,
): Promise<BatchRow> {
  if (item.error !== undefined) return { input: item.id, error: item.error };
  try {
    const { label, confidence, scores, value, explanation } = await run();
    if (!explain) return { input: item.id, prediction: { label, confidence, scores, value } };
    if (explanation === undefined) throw new RowFailure('no_explanation', `${source} answered without an explanation.`);
    return { input: item.id, prediction: { label, confidence, scores, value, explanation } };
  } catch (err) {
    return { input: item.id, error: rowError(err) };
  }
}

/**
 * A row's failure that is not one of this app's own AppErrors: a file that cannot be read, a
 * remote server that cannot be reached, or whatever error a remote ml-forms answered (its code is
 * passed on as it came).
 */
export class RowFailure extends Error {
  constructor(
    readonly code: string,
    message: string,
  ) {
    super(message);
    this.name = 'RowFailure';
  }
}

/** The API's code and message for an AppError or RowFailure; for anything else (a bug, a failed worker), what happened. */
function rowError(err: unknown): RowError {
  if (err instanceof AppError || err instanceof RowFailure) return { code: err.code, message: err.message };
  return { code: 'internal_error', message: err instanceof Error ? err.message : String(err) };
}

const unreadable = (err: unknown): AppError | RowFailure =>
  err instanceof AppError || err instanceof RowFailure
    ? err
    : err instanceof NotRegularFile
      ? new RowFailure('not_a_file', `This is ${err.kind}, not a regular file; it was not read.`)
      : new RowFailure(
          'unreadable_file',
          `The file could not be read (${(err as NodeJS.ErrnoException).code ?? 'error'}).`,
        );

/**
 * An image file's bytes, if it is still the regular file that was listed (the listing gives real
 * paths, opened without following links). One over `maxBytes` (MAX_UPLOAD_MB in process) is
 * refused before it is read, as the API refuses the upload.
 */
async function readImageFile(file: string, maxBytes = Infinity): Promise<Uint8Array> {
  const handle = await openRegular(file, { noFollow: true }).catch((err: unknown) => {
    throw unreadable(err);
  });
  try {
    if ((await handle.stat()).size > maxBytes) throw fileTooLarge(maxBytes);
    return await handle.readFile();
  } catch (err) {
    throw unreadable(err);
  } finally {
    await handle.close();
  }
}

/**
 * The model's predictors in this process: `concurrency` inference threads, as the server runs them.
 * With one, that thread is this one (INFERENCE_WORKERS=0 in the server's terms): a worker thread
 * would add its own start-up (Node, onnxruntime and the session again: tens of ms of CPU, paid by
 * every shard of a sharded run) and a hop per input, and gain nothing, since the next images still
 * decode on libuv's threads while onnxruntime runs here.
 */
export async function inProcessEngine(
  model: ModelDefinition,
  config: Config,
  concurrency: number,
  table: readonly ModelDefinition[],
  { explain = false, log }: { explain?: boolean; log?: Logger } = {},
): Promise<Engine> {
  configureSharp(config.sharpConcurrency);
  const window = concurrency * 4; // decoding (libuv threads) of the next images overlaps inference
  // The server's inference threads (src/inference/configured.ts), one per --concurrency; at most a
  // window of jobs queue, and none waits long enough to reach the server's per-request deadline.
  const pool =
    concurrency === 1
      ? await inProcessBackend({ ...config, queueLimit: window })
      : await localBackend(
          { ...config, inferenceWorkers: concurrency, queueLimit: window },
          [model.name].filter((m) => config.inferenceInline.includes(m)),
        );
  const registry = new Registry(
    pool,
    config.modelsDir,
    { maxPixels: config.maxImagePixels },
    { models: [model.name], table },
  );
  await registry.load();
  const monitoring = await batchLog(config, registry, log);
  const recorder = monitoring?.recorder;
  const input = model.input;
  const options = { explain };
  let predict: (item: InputItem) => Promise<RowPrediction>;
  if (input.kind === 'image') {
    predict = async (item) => {
      const bytes = await readImageFile(item.file as string, config.maxUploadBytes);
      const predictor = registry.image(model.name);
      if (recorder === undefined) return predictor.predict(bytes, options);
      const context = { source: 'batch' as const, started: performance.now() };
      return (await recorder.predictImage(predictor, bytes, async () => undefined, options, context)).prediction;
    };
  } else {
    // A row's value stands for the model's first field, checked as the JSON API checks it.
    const limits = inputLimits(config);
    predict = async (item) => {
      const started = performance.now();
      const modelInput = inputFromValue(model, limits, item.value);
      const prediction = await registry.get(model.name).predict(modelInput, options);
      return recorder === undefined ? prediction : recorder.record(prediction, { source: 'batch', started, modelInput });
    };
  }
  return {
    description: concurrency === 1 ? 'in process, onnxruntime-node in this thread' : `in process, ${pool.description}`,
    window,
    predict: (item) => row(item, () => predict(item), explain, `The model ${model.name}`),
    close: async () => {
      await registry.close();
      // The log's last lines written, the database closed.
      await monitoring?.close();
    },
  };
}

/**
 * With DATABASE_URL set (and PREDICTION_LOG not 0), the rows go into the app's prediction log as
 * well, source `batch`, their inputs' numbers with them and the inputs never held: a Job pointed
 * at the app's database shows on its /monitor. Unset, a run writes nowhere but its output (unlike
 * the server, whose default is a SQLite file in data/).
 */
async function batchLog(config: Config, registry: Registry, log: Logger | undefined): Promise<MonitoringParts | null> {
  if (config.databaseUrl === undefined || log === undefined) return null;
  const { startMonitoring } = await import('../monitoring/setup');
  const monitoring = await startMonitoring({ ...config, keepInputsMs: 0 }, { registry, log });
  await monitoring?.modelsLoaded();
  return monitoring;
}

export interface RetryPolicy {
  /** Tries per input, the first included. */
  attempts: number;
  /** First backoff; doubled each time, at most maxDelayMs. Retry-After wins when the server sends it. */
  baseDelayMs: number;
  maxDelayMs: number;
  /** Per request. */
  timeoutMs: number;
}

const DEFAULT_RETRY: RetryPolicy = { attempts: 8, baseDelayMs: 500, maxDelayMs: 30_000, timeoutMs: 60_000 };

/** A 3xx answer, which is not followed: where it pointed, and what to do instead. */
function redirected(base: string, res: Response): string {
  const location = res.headers.get('location');
  return (
    `${base} answered ${res.status} ${res.statusText}${location === null ? '' : ` (to ${location})`}; ` +
    'redirects are not followed: give --url the address that answers.'
  );
}

/** The model's labels from a running ml-forms (GET /api/models); a failure here stops the run. */
export async function remoteLabels(base: string, model: string): Promise<string[]> {
  return (await remoteCard(base, model)).labels;
}

/** The labels and version of `model` as the API at `base` serves it (GET /api/models). */
export async function remoteCard(base: string, model: string): Promise<{ labels: string[]; version: string }> {
  let cards: { name: string; labels: string[]; version: string }[];
  try {
    const res = await fetch(`${base}/api/models`, { redirect: 'manual', signal: AbortSignal.timeout(15_000) });
    if (res.status >= 300 && res.status < 400) throw new Error(`GET /api/models: ${redirected(base, res)}`);
    if (!res.ok) throw new Error(`GET /api/models answered ${res.status}`);
    cards = ((await res.json()) as { models: typeof cards }).models;
  } catch (err) {
    throw new Error(`cannot use ${base} as an ml-forms API: ${err instanceof Error ? err.message : String(err)}`);
  }
  const card = cards.find((c) => c.name === model);
  if (card === undefined) throw new Error(`${base} does not serve the model "${model}"`);
  return { labels: card.labels, version: String(card.version) };
}

/**
 * The request the JSON API takes for this model's input. Images go as multipart field "image", as
 * the page and `curl -F` send them (an empty file is then "empty_file", as in process); a row's
 * value as the model's first field of a JSON body.
 */
async function requestBody(
  model: ModelDefinition,
  field: string | null,
  item: InputItem,
): Promise<{ body: FormData | string; headers: Record<string, string> }> {
  if (model.input.kind === 'image') {
    const bytes = await readImageFile(item.file as string);
    const body = new FormData();
    body.append('image', new Blob([bytes]), path.basename(item.file as string));
    return { body, headers: {} };
  }
  return {
    body: JSON.stringify({ [field as string]: item.value ?? null }),
    headers: { 'content-type': 'application/json' },
  };
}

/** What one POST of the remote engine came to. */
type Attempt = { answer: RowPrediction } | { failure: RowFailure; retryable: boolean; retryAfterMs?: number };

/** Each input POSTed to `base`/api/predict/<model> (with `?explain=1` when `explain`), `concurrency` at a time. */
export function remoteEngine(
  model: ModelDefinition,
  base: string,
  concurrency: number,
  limits: InputLimits,
  { explain = false, retry = DEFAULT_RETRY }: { explain?: boolean; retry?: RetryPolicy } = {},
): Engine {
  const url = `${base}/api/predict/${model.name}${explain ? '?explain=1' : ''}`;
  const field = mainField(model, limits);
  /** One POST: the prediction, or a failure that says whether it is worth another attempt. */
  const attempt = async (body: FormData | string, headers: Record<string, string>): Promise<Attempt> => {
    let res: Response;
    try {
      res = await fetch(url, {
        method: 'POST',
        body,
        // The server's prediction log counts these as the batch command's (src/http/record.ts).
        headers: { ...headers, [SOURCE_HEADER]: 'batch' },
        redirect: 'manual',
        signal: AbortSignal.timeout(retry.timeoutMs),
      });
    } catch (err) {
      const cause =
        (err as { cause?: { code?: string } }).cause?.code ?? (err instanceof Error ? err.message : String(err));
      return { failure: new RowFailure('connection_failed', `Could not reach ${base} (${cause}).`), retryable: true };
    }
    if (res.status >= 300 && res.status < 400) {
      await res.body?.cancel();
      throw new RowFailure('redirected', redirected(base, res));
    }
    const text = await res.text();
    let answer: unknown;
    try {
      answer = JSON.parse(text);
    } catch {
      answer = undefined;
    }
    if (res.ok && answer !== undefined) return { answer: answer as RowPrediction };
    const error = (answer as { error?: RowError } | undefined)?.error;
    const failure = new RowFailure(
      error?.code ?? `http_${res.status}`,
      error?.message ?? `${base} answered ${res.status} ${res.statusText}.`,
    );
    // Retried: what the API's code says is worth retrying (busy, loading, rate-limited); an answer
    // without the API's error body (a proxy's) by its status.
    const retryable = isErrorCode(error?.code)
      ? isRetryable(kindOf(error.code))
      : res.status === 503 || res.status === 429;
    // Retry-After in seconds (the server sends seconds; an HTTP date falls back to the backoff).
    const retryAfter = Number(res.headers.get('retry-after') ?? NaN);
    return {
      failure,
      retryable,
      retryAfterMs: Number.isFinite(retryAfter) && retryAfter >= 0 ? retryAfter * 1000 : undefined,
    };
  };
  // The same retry wrapper as the model tier's client (src/inference/retry.ts), not a loop of its own.
  const attempts = withRetry(attempt, {
    retries: retry.attempts - 1,
    backoffMs: retry.baseDelayMs,
    maxDelayMs: retry.maxDelayMs,
    retryResult: (a) => 'failure' in a && a.retryable,
    resultDelayMs: (a) => ('failure' in a ? a.retryAfterMs : undefined),
  });
  const send = async (item: InputItem): Promise<RowPrediction> => {
    const { body, headers } = await requestBody(model, field, item);
    const result = await attempts(body, headers);
    if ('failure' in result) throw result.failure;
    return result.answer;
  };
  return {
    description: `the JSON API at ${base}`,
    window: concurrency,
    // A server from before ?explain=1 ignores the query and answers without the explanation.
    predict: (item) => row(item, () => send(item), explain, base),
    close: async () => undefined,
  };
}
