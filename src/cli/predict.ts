/**
 * `ml-forms predict`: every input through one model, one row per input in input order, to standard
 * output or --out, with progress on standard error and the known-answers report at the end.
 *
 * Flow: check the command line and inputs (usage errors before any work) → the model's labels
 * (card, or the remote API's /api/models) → the engine (in process, or --url) → inputs pulled one
 * at a time into a window of predictions in flight → each finished head-of-window row written →
 * summary and report. Ctrl-C stops pulling inputs, lets the ones in flight finish and be written,
 * and exits 130; a second Ctrl-C exits at once (whole rows are on disk either way).
 *
 * With --shard I/N only this shard's inputs are predicted, and the rows go to a part file for
 * `ml-forms merge` instead (shard.ts: which inputs, the part's format, the rename when complete).
 */
import { listImages } from '../batch/images';
import { type InputItem, UsageError } from '../batch/inputs';
import { checkTextSources, readTextInputs } from '../batch/text-inputs';
import { KnownAnswers } from '../batch/report';
import { type BatchRow, csvColumns, csvLine, jsonLine, rowCells } from '../batch/rows';
import { type Config, inputLimits } from '../config';
import type { Logger } from '../log';
import { MODELS } from '../models';
import { type ModelDefinition, mainField } from '../models/model';
import { readCard } from '../predictors/registry';
import { type Engine, inProcessEngine, remoteCard, remoteEngine } from './engines';
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
import { type PredictOptions, checkPredict as check } from './check';
import { PartFile, type Placed, ShardTally, partHeader, partLine, partPath, shardItems, shardName } from './shard';
import { count } from '../units';
import { EXIT, type Io } from './exit';

export type { PredictOptions } from './check';

/**
 * What the prediction log says (DATABASE_URL set: the rows are logged too, src/cli/engines.ts), as
 * the command's own lines on standard error: where the log goes, and a database that is not answering.
 */
function stderrLog(io: Io, quiet: boolean): Logger {
  const say = (first: unknown, second?: unknown): void => {
    const text = typeof second === 'string' ? second : typeof first === 'string' ? first : '';
    if (text !== '') io.stderr.write(`ml-forms: ${text}\n`);
  };
  // --quiet keeps the warnings (a database not answering), not the note of where the log goes.
  return { info: quiet ? () => undefined : say, warn: say, error: say, fatal: say } as Logger;
}

/**
 * Runs the command with a model of `table` (default MODELS); resolves to the exit code. Usage
 * errors are thrown as UsageError.
 */
export async function predictCommand(
  options: PredictOptions,
  config: Config,
  io: Io,
  table: readonly ModelDefinition[] = MODELS,
): Promise<number> {
  const definition = check(options, table);
  const model = definition.name;
  const imageModel = definition.input.kind === 'image';
  const limits = inputLimits(config);
  const base = options.url?.replace(/\/+$/, '');
  const format: OutputFormat = options.out?.toLowerCase().endsWith('.jsonl') ? 'jsonl' : 'csv';

  // Everything that can be a usage error comes before the models load.
  let labels: string[];
  let version: string;
  try {
    ({ labels, version } = base === undefined ? readCard(config.modelsDir, model) : await remoteCard(base, model));
  } catch (err) {
    throw new UsageError(err instanceof Error ? err.message : String(err));
  }
  const text = {
    field: options.field ?? mainField(definition, limits) ?? '',
    fieldGiven: options.field !== undefined,
    idField: options.idField,
    labelField: options.labelField,
  };
  const inputBytes = imageModel ? 0 : checkTextSources(options.inputs, text);
  const explain = options.explain === true;
  const rowOptions = { explain };
  const columns = csvColumns(labels, rowOptions);

  const shard = options.shard;
  const tally = shard === undefined ? undefined : new ShardTally(shard);
  const part = shard !== undefined && options.out !== undefined ? partPath(options.out, shard) : undefined;
  // The models load while image folders are listed and an earlier output is read.
  const loading: Promise<Engine> =
    base === undefined
      ? inProcessEngine(definition, config, options.concurrency, table, { explain, log: stderrLog(io, options.quiet) })
      : Promise.resolve(remoteEngine(definition, base, options.concurrency, limits, { explain }));
  loading.catch(() => undefined); // a load failure is reported where it is awaited below
  let images: Placed[] | undefined;
  let prior: Prior | undefined;
  try {
    if (imageModel) images = await listImages(options.inputs, labels);
    if (images !== undefined && tally !== undefined)
      images = images.flatMap((item) => {
        const at = tally.take(item);
        return at === undefined ? [] : [{ ...item, at }];
      });
    if (options.out !== undefined && options.resume) prior = await readPrior(options.out, format, columns, { explain });
  } catch (err) {
    await loading.then((e) => e.close()).catch(() => undefined);
    throw err;
  }
  const engine = await loading;
  // Only now is --out touched: a file --resume refused above is left as it was.
  let output: NodeJS.WritableStream & { writableNeedDrain?: boolean };
  let partFile: PartFile | undefined;
  try {
    if (part !== undefined) partFile = new PartFile(part);
    output = partFile?.stream ?? (options.out === undefined ? io.stdout : openOutput(options.out, prior));
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
  const listed: AsyncIterable<Placed> =
    images !== undefined
      ? (async function* () {
          yield* images;
        })()
      : readTextInputs(options.inputs, text, (n) => (bytesRead += n));
  const items = tally === undefined || images !== undefined ? listed : shardItems(listed, tally);

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

  const sink: Sink = streamSink(output, output !== io.stdout, () => {
    stopping = true;
    stop();
  });
  const mode: ProgressMode = options.quiet ? 'none' : io.stderr.isTTY ? 'bar' : 'lines';
  const progress = new Progress(
    progressState,
    mode,
    io.stderr,
    io.progressIntervalMs,
    shard === undefined ? undefined : `shard ${shardName(shard)}`,
  );
  const known = new KnownAnswers(labels);
  const hasKnownAnswers = (item: InputItem): boolean => item.truth !== undefined;
  const shardText = shard === undefined ? '' : ` shard ${shardName(shard)}`;
  // The rows already written, consumed as their inputs come by (prior.rows is not read again).
  const remaining = prior?.rows ?? new Map<string, PriorOutcome[]>();

  if (!options.quiet) {
    const resumed =
      prior !== undefined && prior.count > 0 ? `; ${count(prior.count)} rows already in ${options.out}` : '';
    io.stderr.write(
      `ml-forms predict ${model}${shardText}: ${images !== undefined ? `${count(images.length)} images` : `${options.inputs.join(', ')}`}, ${engine.description}${resumed}\n`,
    );
  }
  const started = performance.now();
  progress.start(prior?.count ?? 0);
  let written = 0;
  let exhausted = false;
  let complete = false;
  try {
    if (shard !== undefined) {
      const { field, labelField } = { ...text, labelField: options.labelField };
      const limitsGiven = { ...limits, maxUploadBytes: config.maxUploadBytes, maxImagePixels: config.maxImagePixels };
      // `explain` only when asked: a part without it is the same as one written before --explain existed.
      const changing = {
        inputs: options.inputs,
        field,
        idField: options.idField,
        labelField,
        limits: limitsGiven,
        ...(explain ? { explain } : {}),
      };
      await sink.write(partLine(partHeader(shard, { model, version, labels }, changing)));
    } else if (format === 'csv' && !(prior?.started ?? false)) await sink.write(csvLine(columns));
    const window: Promise<{ item: Placed; row: BatchRow }>[] = [];
    const writeHead = async (): Promise<void> => {
      const { item, row } = await (window.shift() as Promise<{ item: Placed; row: BatchRow }>);
      await sink.write(
        shard !== undefined
          ? partLine({ at: item.at as number, row, truth: item.truth })
          : format === 'csv'
            ? csvLine(rowCells(row, labels, rowOptions))
            : jsonLine(row, rowOptions),
      );
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
    if (exhausted && !stopping && tally !== undefined) {
      await sink.write(partLine({ end: true, rows: written, inputs: tally.inputs, digest: tally.finish() }));
      complete = true;
    }
  } finally {
    progress.stop();
    process.off('SIGINT', interrupt);
    process.off('SIGTERM', interrupt);
    try {
      await sink.close();
      if (complete) partFile?.commit();
    } finally {
      if (!complete) partFile?.discard();
      await engine.close();
    }
  }

  const interrupted = stopping && !exhausted;
  const seconds = (performance.now() - started) / 1000;
  const where = part ?? options.out ?? 'standard output';
  if (!options.quiet) {
    const errors = progressState.errors > 0 ? `, ${count(progressState.errors)} with an error` : '';
    const skipped =
      prior !== undefined && prior.count > 0 ? ` (${count(progressState.done - written)} already there)` : '';
    io.stderr.write(
      `${interrupted ? 'interrupted: ' : ''}${shardText === '' ? '' : `${shardText.trim()}: `}${count(progressState.done)} rows in ${where}${skipped}${errors}` +
        `${tally === undefined ? '' : ` (${count(tally.inputs)} inputs in all shards)`}; ` +
        `${count(written)} predicted in ${seconds.toFixed(seconds < 10 ? 2 : 1)} s (${count(Math.round(written / seconds))}/s)\n`,
    );
  }
  if (known.seen > 0)
    io.stderr.write(
      (shard === undefined ? '' : `This shard's known answers (merge the parts for all):\n`) + known.format() + '\n',
    );
  if (interrupted) {
    if (shard !== undefined) io.stderr.write(`no part was written: run the same command again\n`);
    else if (options.out !== undefined) io.stderr.write(`to finish, run the same command with --resume\n`);
    return EXIT.interrupted;
  }
  return progressState.errors > 0 ? EXIT.rowErrors : EXIT.ok;
}
