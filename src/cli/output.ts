/**
 * Where rows go (standard output or --out FILE, written a whole line at a time with backpressure),
 * and what an earlier run already wrote there (--resume).
 *
 * Rows are written in input order, so an interrupted run's file holds whole rows for a prefix of the
 * inputs; a row cut short by a hard kill is removed before appending. Resuming skips each input as
 * many times as its name is already in the file, so the finished file has exactly one row per input.
 *
 * --resume never changes a file it refuses: the whole file is read and checked first (readPrior),
 * without writing; only a file that is ours is then cut and appended to (openOutput). Ours means:
 * a CSV file that starts with this run's header line, every complete row with its cells; a JSON
 * Lines file whose complete lines are rows with "input". Whatever follows the last complete row
 * without a line break (or inside a quoted field never closed) is a row cut short, dropped; a file
 * whose header line is missing, different or itself cut short is refused untouched. An empty file
 * is started afresh. A file written with --explain is completed only with --explain, and one written
 * without it only without it: its CSV header has the `explanation` column or not, its JSON Lines
 * predictions have `explanation` or not (error rows are the same either way).
 */
import fs from 'node:fs';
import path from 'node:path';
import { StringDecoder } from 'node:string_decoder';
import type { FileHandle } from 'node:fs/promises';
import { CsvRecords } from '../batch/csv-records';
import { UsageError } from '../batch/inputs';
import { NotRegularFile, openRegular } from '../batch/open-regular';
import { type RowError, cellText } from '../batch/rows';

export type OutputFormat = 'csv' | 'jsonl';

export interface Sink {
  write(text: string): Promise<void>;
  /** Everything written has reached the file (or the pipe). */
  close(): Promise<void>;
}

/** Writes to a stream, waiting for 'drain' when its buffer is full. A closed pipe (EPIPE) ends writing quietly. */
export function streamSink(
  stream: NodeJS.WritableStream & { writableNeedDrain?: boolean },
  owned: boolean,
  onBrokenPipe: () => void,
): Sink {
  let broken = false;
  let failure: Error | undefined;
  stream.on('error', (err: NodeJS.ErrnoException) => {
    if (err.code === 'EPIPE') {
      broken = true;
      onBrokenPipe();
    } else {
      failure = err;
    }
    stream.emit('drain'); // release a writer waiting for it
  });
  const settled = (): void => {
    if (failure !== undefined) throw failure;
  };
  return {
    write: async (text) => {
      settled();
      if (broken) return;
      if (!stream.write(text)) await new Promise<void>((resolve) => stream.once('drain', resolve));
      settled();
    },
    close: async () => {
      settled();
      if (broken) return;
      if (owned) await new Promise<void>((resolve) => stream.end(resolve));
      else if (stream.writableNeedDrain === true) await new Promise<void>((resolve) => stream.once('drain', resolve));
      settled();
    },
  };
}

/** What an earlier row of the output said, for the known-answers report. */
export interface PriorOutcome {
  label?: string;
  value?: number;
  error?: RowError;
}

export interface Prior {
  /** Rows already in the file, by input name (an input named twice has two entries). */
  rows: Map<string, PriorOutcome[]>;
  count: number;
  /** The file already has its CSV header (or is JSON Lines with rows). */
  started: boolean;
  /** The file as it was checked: its size and identity, and the bytes to keep (its complete rows). */
  size: number;
  keep: number;
  id?: { dev: number; ino: number };
}

/**
 * A file's text in pieces that each end at a line break (or at the end of a read), with their size
 * in bytes, so a reader can tell how many bytes its complete records take. A line break (0x0a) is
 * never inside a UTF-8 sequence, so each piece ending in one decodes completely.
 */
async function* pieces(handle: FileHandle): AsyncGenerator<{ text: string; bytes: number; endsLine: boolean }> {
  const decoder = new StringDecoder('utf8');
  for await (const chunk of handle.createReadStream({ autoClose: false }) as AsyncIterable<Buffer>) {
    for (let from = 0; from < chunk.length;) {
      const nl = chunk.indexOf(0x0a, from);
      const to = nl < 0 ? chunk.length : nl + 1;
      yield { text: decoder.write(chunk.subarray(from, to)), bytes: to - from, endsLine: nl >= 0 };
      from = to;
    }
  }
  const rest = decoder.end();
  if (rest !== '') yield { text: rest, bytes: 0, endsLine: false };
}

const parseError = (text: string): RowError => {
  const at = text.indexOf(': ');
  return at < 0 ? { code: text, message: '' } : { code: text.slice(0, at), message: text.slice(at + 2) };
};

/**
 * The rows an earlier run wrote to `file`, checked against the columns this run writes. Reads the
 * whole file and writes nothing: a refusal (UsageError) leaves it as it was.
 */
export async function readPrior(
  file: string,
  format: OutputFormat,
  columns: readonly string[],
  { explain = false }: { explain?: boolean } = {},
): Promise<Prior> {
  const prior: Prior = { rows: new Map(), count: 0, started: false, size: 0, keep: 0 };
  let handle: FileHandle;
  try {
    handle = await openRegular(file);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return prior;
    throw new UsageError(
      err instanceof NotRegularFile
        ? `${file} is ${err.kind}, not a file --resume can complete; choose another --out`
        : `${file} could not be read: ${err instanceof Error ? err.message : String(err)}`,
    );
  }
  try {
    const { dev, ino } = await handle.stat();
    prior.id = { dev, ino };
    const add = (input: string, outcome: PriorOutcome): void => {
      const list = prior.rows.get(input);
      if (list === undefined) prior.rows.set(input, [outcome]);
      else list.push(outcome);
      prior.count++;
    };
    if (format === 'jsonl') await readJsonl(file, handle, prior, add, explain);
    else await readCsv(file, handle, columns, prior, add);
    return prior;
  } finally {
    await handle.close();
  }
}

type Add = (input: string, outcome: PriorOutcome) => void;

/** How a run with (or without) --explain refuses an output written the other way. */
const otherExplain = (file: string, explain: boolean): UsageError =>
  new UsageError(
    explain
      ? `${file} was written without --explain: complete it without --explain, or choose another --out`
      : `${file} was written with --explain: complete it with --explain, or choose another --out`,
  );

async function readJsonl(file: string, handle: FileHandle, prior: Prior, add: Add, explain: boolean): Promise<void> {
  let line = 0;
  let pending = '';
  for await (const { text, bytes, endsLine } of pieces(handle)) {
    prior.size += bytes;
    pending += text;
    if (!endsLine) continue;
    line++;
    const content = pending.replace(/\r?\n$/, '');
    pending = '';
    if (content.trim() !== '') {
      let record: { input?: unknown; label?: string; value?: number; error?: RowError; explanation?: unknown };
      try {
        record = JSON.parse(content) as typeof record;
      } catch {
        throw new UsageError(
          `${file} is not a JSON Lines output of this command (line ${line} is not JSON); choose another --out`,
        );
      }
      if (record === null || typeof record !== 'object' || typeof record.input !== 'string')
        throw new UsageError(`${file} has a row without "input" (line ${line}); choose another --out`);
      if (record.error === undefined && (record.explanation !== undefined) !== explain)
        throw otherExplain(file, explain);
      add(record.input, { label: record.label, value: record.value, error: record.error });
      prior.started = true;
    }
    prior.keep = prior.size;
  }
  // Text after the last line break: a row cut short, if complete rows of ours come before it.
  if (prior.keep < prior.size && !prior.started)
    throw new UsageError(
      `${file} has no complete JSON Lines row, only a line without a line break: it is not an output of this command; choose another --out`,
    );
}

async function readCsv(
  file: string,
  handle: FileHandle,
  columns: readonly string[],
  prior: Prior,
  add: Add,
): Promise<void> {
  const header = columns.join(',');
  const notOurs = (): UsageError =>
    new UsageError(
      `${file} does not start with the line ${header} that this command writes: it is not an output of this command; choose another --out`,
    );
  const valueColumn = columns[1] === 'value'; // a model without labels: input,value,error
  const parser = new CsvRecords();
  // Whether the bytes read so far end at a record's end (not inside a quoted field), and whether
  // the current line is blank (the parser skips blank lines without returning a record).
  let atRecordEnd = true;
  let blank = true;
  for await (const { text, bytes, endsLine } of pieces(handle)) {
    prior.size += bytes;
    if (/[^\r\n]/.test(text)) blank = false;
    const records = parser.push(text);
    for (const { fields, line } of records) {
      if (!prior.started) {
        if (fields.join(',') !== header) {
          if (fields[0] !== 'input' || fields[fields.length - 1] !== 'error') throw notOurs();
          const explained = fields.includes('explanation');
          const plain = (cells: readonly string[]): string => cells.filter((c) => c !== 'explanation').join(',');
          if (explained !== columns.includes('explanation') && plain(fields) === plain(columns))
            throw otherExplain(file, !explained);
          throw new UsageError(
            `${file} has the columns ${fields.join(',')}, not ${header}: it was written for another model; choose another --out`,
          );
        }
        prior.started = true;
        continue;
      }
      if (fields.length !== columns.length)
        throw new UsageError(
          `${file} has ${fields.length} cells in the row on line ${line}, not ${columns.length}: it is not an output of this command; choose another --out`,
        );
      const error = fields[fields.length - 1] ?? '';
      const outcome: PriorOutcome =
        error !== '' ? { error: parseError(error) } : valueColumn ? { value: Number(fields[1]) } : { label: fields[1] };
      add(cellText(fields[0] ?? ''), outcome); // the name as the input gave it, without csvField's "'"
    }
    // A first line longer than the header (a text file without line breaks, say) is not ours: stop reading.
    if (!prior.started && prior.size > Buffer.byteLength(header) + 2) throw notOurs();
    if (endsLine) {
      atRecordEnd = records.length > 0 || (atRecordEnd && blank);
      blank = true;
      if (atRecordEnd) prior.keep = prior.size;
    }
  }
  // After the last record's end: a row cut short (kept out of prior.rows, predicted again), if the header is ours.
  if (prior.size > 0 && !prior.started) throw notOurs();
}

/**
 * The stream for --out: a new file, or with --resume the file readPrior checked, its complete rows
 * kept (a row cut short after them dropped) and the new rows appended. A file that changed since
 * it was checked is refused, unchanged.
 */
export function openOutput(file: string, prior: Prior | undefined): fs.WriteStream {
  // A missing folder would only surface as the stream's error after the models loaded (and a
  // stat of the folder cannot block, as opening a FIFO could): a usage error now instead.
  const folder = path.dirname(file);
  if (!fs.statSync(folder, { throwIfNoEntry: false })?.isDirectory()) throw new UsageError(`cannot write ${file}: no folder ${folder}`);
  if (prior === undefined || prior.size === 0) return fs.createWriteStream(file, { flags: 'w' });
  const fd = fs.openSync(file, fs.constants.O_WRONLY | (fs.constants.O_NONBLOCK ?? 0));
  try {
    const now = fs.fstatSync(fd);
    if (!now.isFile() || now.size !== prior.size || now.dev !== prior.id?.dev || now.ino !== prior.id?.ino)
      throw new UsageError(`${file} changed while it was being read; run the command again`);
    if (prior.keep < prior.size) fs.ftruncateSync(fd, prior.keep);
  } catch (err) {
    fs.closeSync(fd);
    throw err;
  }
  return fs.createWriteStream(file, { fd, start: prior.keep });
}
