/**
 * `ml-forms predict`: every input through one model, one row per input in input order, to standard
 * output or --out, with progress on standard error and the known-answers report at the end.
 *
 * Flow: check the command line and inputs (usage errors before any work) → the model's labels
 * (card, or the remote API's /api/models) → the engine (in process, or --url) → inputs pulled one
 * at a time into a window of predictions in flight → each finished head-of-window row written →
 * summary and report. Ctrl-C stops pulling inputs, lets the ones in flight finish and be written,
 * and exits 130; a second Ctrl-C exits at once (whole rows are on disk either way).
 */
import { listImages } from '../batch/images';
import { type InputItem, UsageError } from '../batch/inputs';
import { checkTextSources, readTextInputs } from '../batch/text-inputs';
import { KnownAnswers } from '../batch/report';
import { type BatchRow, csvColumns, csvLine, jsonLine, rowCells } from '../batch/rows';
import type { Config } from '../config';
import type { FormName } from '../errors';
import { MODEL_NAMES, readCard } from '../predictors/registry';
import { type Engine, inProcessEngine, remoteEngine, remoteLabels } from './engines';
import {
  type OutputFormat,
  type Prior,
  type PriorOutcome,
  type Sink,
  openOutput,
  readPrior,
  streamSink,
} from './output';
import { Progress, type ProgressMode } from './progress';
import { count } from '../units';

export interface PredictOptions {
  model: string;
  inputs: string[];
  out?: string;
  field?: string;
  labelField?: string;
  idField?: string;
  url?: string;
  concurrency: number;
  resume: boolean;
  quiet: boolean;
}

export interface Io {
  stdout: NodeJS.WriteStream;
  stderr: NodeJS.WriteStream;
  /** Milliseconds between progress lines when standard error is not a terminal. */
  progressIntervalMs: number;
}

/** The exit codes: every row predicted, some rows with an error, a usage error, interrupted (128 + SIGINT). */
export const EXIT = { ok: 0, rowErrors: 1, usage: 2, interrupted: 130 } as const;

const DEFAULT_FIELD: Record<FormName, string> = { regression: 'x', malaria: '', sentiment: 'review' };

function check(options: PredictOptions): FormName {
  const model = options.model as FormName;
  if (!MODEL_NAMES.includes(model))
    throw new UsageError(`unknown model "${options.model}"; choose ${MODEL_NAMES.join(', ')}`);
  if (options.inputs.length === 0)
    throw new UsageError(
      `give at least one input: ${model === 'malaria' ? 'image files, folders or glob patterns' : '.csv, .jsonl or .txt files, or - for standard input'}`,
    );
  if (options.resume && options.out === undefined)
    throw new UsageError('--resume needs --out FILE: the file to complete');
  if (model === 'malaria' && (options.field ?? options.idField ?? options.labelField) !== undefined) {
    throw new UsageError(
      '--field, --id-field and --label-field apply to .csv and .jsonl inputs, not to images (their folders give the labels)',
    );
  }
  if (options.url !== undefined && !/^https?:\/\/[^/]/.test(options.url))
    throw new UsageError(`--url must be an http:// or https:// address, got "${options.url}"`);
  return model;
}

/** Runs the command; resolves to the exit code. Usage errors are thrown as UsageError. */
export async function predictCommand(options: PredictOptions, config: Config, io: Io): Promise<number> {
  const model = check(options);
  const base = options.url?.replace(/\/+$/, '');
  const format: OutputFormat = options.out?.toLowerCase().endsWith('.jsonl') ? 'jsonl' : 'csv';

  // Everything that can be a usage error comes before the models load.
  let labels: string[];
  try {
    labels = base === undefined ? readCard(config.modelsDir, model).labels : await remoteLabels(base, model);
  } catch (err) {
    throw new UsageError(err instanceof Error ? err.message : String(err));
  }
  const text = {
    field: options.field ?? DEFAULT_FIELD[model],
    fieldGiven: options.field !== undefined,
    idField: options.idField,
    labelField: options.labelField,
  };
  const inputBytes = model === 'malaria' ? 0 : checkTextSources(options.inputs, text);
  const columns = csvColumns(labels);

  // The models load while image folders are listed and an earlier output is read.
  const loading: Promise<Engine> =
    base === undefined
      ? inProcessEngine(model, config, options.concurrency)
      : Promise.resolve(remoteEngine(model, base, options.concurrency));
  loading.catch(() => undefined); // a load failure is reported where it is awaited below
  let images: InputItem[] | undefined;
  let prior: Prior | undefined;
  try {
    if (model === 'malaria') images = await listImages(options.inputs, labels);
    if (options.out !== undefined && options.resume) prior = await readPrior(options.out, format, columns);
  } catch (err) {
    await loading.then((e) => e.close()).catch(() => undefined);
    throw err;
  }
  const engine = await loading;
  // Only now is --out touched: a file --resume refused above is left as it was.
  let output: NodeJS.WritableStream & { writableNeedDrain?: boolean };
  try {
    output = options.out === undefined ? io.stdout : openOutput(options.out, prior);
  } catch (err) {
    await engine.close().catch(() => undefined);
    throw err;
  }

  const progressState = {
    done: 0,
    errors: 0,
    total: images?.length,
    fraction: undefined as (() => number | undefined) | undefined,
  };
  let bytesRead = 0;
  if (images === undefined && !options.inputs.includes('-'))
    progressState.fraction = () => (inputBytes === 0 ? 1 : bytesRead / inputBytes);
  const items: AsyncIterable<InputItem> =
    images !== undefined
      ? (async function* () {
          yield* images;
        })()
      : readTextInputs(options.inputs, text, (n) => (bytesRead += n));

  let stopping = false;
  // Wakes the loop if it is waiting for the next input (standard input may never send one). Set
  // per wait: racing every read against one long-lived promise would keep every input alive.
  let wake: (() => void) | undefined;
  const stop = (): void => wake?.();
  const interrupt = (): void => {
    if (stopping) process.exit(EXIT.interrupted); // second Ctrl-C: now; rows on disk are whole lines
    stopping = true;
    stop();
  };
  process.on('SIGINT', interrupt);
  process.on('SIGTERM', interrupt);

  const sink: Sink = streamSink(output, options.out !== undefined, () => {
    stopping = true;
    stop();
  });
  const mode: ProgressMode = options.quiet ? 'none' : io.stderr.isTTY ? 'bar' : 'lines';
  const progress = new Progress(progressState, mode, io.stderr, io.progressIntervalMs);
  const known = new KnownAnswers(labels);
  const hasKnownAnswers = (item: InputItem): boolean => item.truth !== undefined;
  // The rows already written, consumed as their inputs come by (prior.rows is not read again).
  const remaining = prior?.rows ?? new Map<string, PriorOutcome[]>();

  if (!options.quiet) {
    const resumed =
      prior !== undefined && prior.count > 0 ? `; ${count(prior.count)} rows already in ${options.out}` : '';
    io.stderr.write(
      `ml-forms predict ${model}: ${images !== undefined ? `${count(images.length)} images` : `${options.inputs.join(', ')}`}, ${engine.description}${resumed}\n`,
    );
  }
  const started = performance.now();
  progress.start(prior?.count ?? 0);
  let written = 0;
  let exhausted = false;
  try {
    if (format === 'csv' && !(prior?.started ?? false)) await sink.write(csvLine(columns));
    const window: Promise<{ item: InputItem; row: BatchRow }>[] = [];
    const writeHead = async (): Promise<void> => {
      const { item, row } = await (window.shift() as Promise<{ item: InputItem; row: BatchRow }>);
      await sink.write(format === 'csv' ? csvLine(rowCells(row, labels)) : jsonLine(row));
      written++;
      progressState.done++;
      if (row.error !== undefined) progressState.errors++;
      if (hasKnownAnswers(item)) known.add(item.truth as string, row.prediction ?? null);
    };
    const it = items[Symbol.asyncIterator]();
    while (!stopping) {
      const next = await new Promise<IteratorResult<InputItem> | 'stop'>((resolve, reject) => {
        wake = () => resolve('stop');
        it.next().then(resolve, reject);
      });
      wake = undefined;
      if (next === 'stop') break;
      if (next.done === true) {
        exhausted = true;
        break;
      }
      const item = next.value;
      const earlier = remaining.get(item.id)?.shift();
      if (earlier !== undefined) {
        // Already in the output: count it, score it from what was written, do not predict again.
        progressState.done++;
        if (earlier.error !== undefined) progressState.errors++;
        if (hasKnownAnswers(item)) known.add(item.truth as string, earlier.error !== undefined ? null : earlier);
        continue;
      }
      window.push(engine.predict(item).then((row) => ({ item, row })));
      if (window.length >= engine.window) await writeHead();
    }
    while (window.length > 0) await writeHead();
    if (!exhausted) void it.return?.();
  } finally {
    progress.stop();
    process.off('SIGINT', interrupt);
    process.off('SIGTERM', interrupt);
    await sink.close();
    await engine.close();
  }

  const interrupted = stopping && !exhausted;
  const seconds = (performance.now() - started) / 1000;
  const where = options.out ?? 'standard output';
  if (!options.quiet) {
    const errors = progressState.errors > 0 ? `, ${count(progressState.errors)} with an error` : '';
    const skipped =
      prior !== undefined && prior.count > 0 ? ` (${count(progressState.done - written)} already there)` : '';
    io.stderr.write(
      `${interrupted ? 'interrupted: ' : ''}${count(progressState.done)} rows in ${where}${skipped}${errors}; ` +
        `${count(written)} predicted in ${seconds.toFixed(seconds < 10 ? 2 : 1)} s (${count(Math.round(written / seconds))}/s)\n`,
    );
  }
  if (known.seen > 0) io.stderr.write(known.format() + '\n');
  if (interrupted) {
    if (options.out !== undefined) io.stderr.write(`to finish, run the same command with --resume\n`);
    return EXIT.interrupted;
  }
  return progressState.errors > 0 ? EXIT.rowErrors : EXIT.ok;
}
