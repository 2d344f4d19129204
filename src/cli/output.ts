/**
 * Where rows go (standard output or --out FILE, written a whole line at a time with backpressure),
 * and what an earlier run already wrote there (--resume).
 *
 * Rows are written in input order, so an interrupted run's file holds whole rows for a prefix of the
 * inputs; a line cut short by a hard kill is removed before appending. Resuming skips each input as
 * many times as its name is already in the file, so the finished file has exactly one row per input.
 */
import fs from 'node:fs';
import { CsvRecords } from '../batch/csv-records';
import { UsageError, lines } from '../batch/inputs';
import type { RowError } from '../batch/rows';

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
}

/** Drops a last line without its line break (a run killed mid-write). */
function dropPartialLine(file: string): void {
  const fd = fs.openSync(file, 'r+');
  try {
    const size = fs.fstatSync(fd).size;
    const buf = Buffer.alloc(64 * 1024);
    let end = size;
    while (end > 0) {
      const start = Math.max(0, end - buf.length);
      fs.readSync(fd, buf, 0, end - start, start);
      const nl = buf.subarray(0, end - start).lastIndexOf(0x0a);
      if (nl >= 0) {
        if (start + nl + 1 < size) fs.ftruncateSync(fd, start + nl + 1);
        return;
      }
      end = start;
    }
    fs.ftruncateSync(fd, 0);
  } finally {
    fs.closeSync(fd);
  }
}

/** A file's text, streamed. */
const fileText = (file: string): AsyncIterable<string> => fs.createReadStream(file, { encoding: 'utf8' });

const parseError = (text: string): RowError => {
  const at = text.indexOf(': ');
  return at < 0 ? { code: text, message: '' } : { code: text.slice(0, at), message: text.slice(at + 2) };
};

/** The rows an earlier run wrote to `file`, checked against the columns this run writes. */
export async function readPrior(file: string, format: OutputFormat, columns: readonly string[]): Promise<Prior> {
  const prior: Prior = { rows: new Map(), count: 0, started: false };
  if (!fs.existsSync(file)) return prior;
  dropPartialLine(file);
  const add = (input: string, outcome: PriorOutcome): void => {
    const list = prior.rows.get(input);
    if (list === undefined) prior.rows.set(input, [outcome]);
    else list.push(outcome);
    prior.count++;
  };
  const regression = columns[1] === 'value';
  if (format === 'jsonl') {
    for await (const { text: line } of lines(fileText(file))) {
      if (line.trim() === '') continue;
      let record: { input?: unknown; label?: string; value?: number; error?: RowError };
      try {
        record = JSON.parse(line) as typeof record;
      } catch {
        throw new UsageError(
          `${file} is not a JSON Lines output of this command (a line is not JSON); choose another --out`,
        );
      }
      if (typeof record.input !== 'string')
        throw new UsageError(`${file} has a row without "input"; choose another --out`);
      add(record.input, { label: record.label, value: record.value, error: record.error });
      prior.started = true;
    }
    return prior;
  }
  const parser = new CsvRecords();
  const take = (records: ReturnType<CsvRecords['push']>): void => {
    for (const { fields, unterminated } of records) {
      if (unterminated === true)
        throw new UsageError(`${file} ends inside a quoted field; remove its last row and resume`);
      if (!prior.started) {
        if (fields.join(',') !== columns.join(',')) {
          throw new UsageError(
            `${file} has the columns ${fields.join(',')}, not ${columns.join(',')}: it was written for another model; choose another --out`,
          );
        }
        prior.started = true;
        continue;
      }
      const error = fields[fields.length - 1] ?? '';
      const outcome: PriorOutcome =
        error !== '' ? { error: parseError(error) } : regression ? { value: Number(fields[1]) } : { label: fields[1] };
      add(fields[0] ?? '', outcome);
    }
  };
  for await (const text of fileText(file)) take(parser.push(text));
  take(parser.end());
  return prior;
}
