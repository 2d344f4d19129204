/**
 * The batch command's inputs, one item per row to write.
 *
 * Images (malaria): files, folders (recursive, hidden files skipped) and glob patterns, each folder
 * and pattern in path order. An image's known answer is the nearest folder named after a label
 * ("cells/parasitized/a.png" → parasitized, any letter case).
 *
 * Text (regression, sentiment): .csv (the column named by `field`), .jsonl (the field named by
 * `field`), .txt (one input per line), and "-" for standard input; gzip is recognised by its
 * bytes, so "reviews.jsonl.gz" is read as it is. Everything is streamed line by line: only the
 * rows in flight are in memory, however large the file. Standard input is JSON Lines if its first
 * line starts with "{", CSV if its first line has a column named `field`, else one input per line.
 *
 * An item is named by the file path, else the `idField` value, else its line number
 * ("<source>:<line>" when there are several sources).
 */
import fs from 'node:fs';
import path from 'node:path';
import { Readable, pipeline } from 'node:stream';
import { StringDecoder } from 'node:string_decoder';
import zlib from 'node:zlib';
import { glob, isDynamicPattern } from 'tinyglobby';
import { CsvRecords } from './csv-records';
import type { RowError } from './rows';

/** A mistake in the command line or the inputs' shape: the run cannot start (exit 2). */
export class UsageError extends Error {}

export interface InputItem {
  /** The row's `input` cell. */
  id: string;
  /** Image inputs: the file to read. */
  file?: string;
  /** Text inputs: the field's value as read (a string from CSV and text; any JSON value from JSON Lines). */
  value?: unknown;
  /** The known answer, when there is one. */
  truth?: string;
  /** The input could not be read as a row (a line that is not JSON): this becomes the row's error. */
  error?: RowError;
}

const byPath = (a: string, b: string): number => (a < b ? -1 : a > b ? 1 : 0);

/** The nearest folder of `file` named after one of `labels`. */
function labelFromFolders(file: string, labels: readonly string[]): string | undefined {
  const folders = path.dirname(file).split(/[\\/]/).reverse();
  for (const folder of folders) {
    const hit = labels.find((l) => l.toLowerCase() === folder.toLowerCase());
    if (hit !== undefined) return hit;
  }
  return undefined;
}

/** Every image named by `args` (files, folders, glob patterns), in order; the whole list, for a total. */
export async function listImages(args: readonly string[], labels: readonly string[]): Promise<InputItem[]> {
  const files: string[] = [];
  for (const arg of args) {
    if (arg === '-')
      throw new UsageError('images are read from files, folders or glob patterns, not from standard input');
    const stat = fs.statSync(arg, { throwIfNoEntry: false });
    if (stat?.isDirectory()) {
      const found = await glob('**/*', { cwd: arg, onlyFiles: true, dot: false, followSymbolicLinks: true });
      files.push(...found.sort(byPath).map((rel) => path.join(arg, rel)));
    } else if (stat !== undefined) {
      files.push(arg);
    } else if (isDynamicPattern(arg)) {
      const found = await glob(arg, { onlyFiles: true, dot: false, absolute: path.isAbsolute(arg) });
      if (found.length === 0) throw new UsageError(`no files match ${arg}`);
      files.push(...found.sort(byPath));
    } else {
      throw new UsageError(`no such file or folder: ${arg}`);
    }
  }
  return files.map((file) => ({ id: file, file, truth: labelFromFolders(file, labels) }));
}

export type TextFormat = 'csv' | 'jsonl' | 'txt';

export interface TextOptions {
  /** The CSV column or JSON field holding the input. */
  field: string;
  /** Whether `field` was given (--field) rather than the model's default. */
  fieldGiven?: boolean;
  idField?: string;
  labelField?: string;
}

/** A source's format from its name ("reviews.jsonl.gz" → jsonl); null for standard input (sniffed). */
export function textFormat(source: string): TextFormat | null {
  if (source === '-') return null;
  const name = source.toLowerCase().replace(/\.gz$/, '');
  if (name.endsWith('.csv')) return 'csv';
  if (name.endsWith('.jsonl') || name.endsWith('.ndjson')) return 'jsonl';
  if (name.endsWith('.txt')) return 'txt';
  throw new UsageError(`${source}: not a .csv, .jsonl or .txt file (optionally .gz)`);
}

/**
 * Checks text sources before anything runs: each exists and is a file of a known format, and field
 * options are not given for text files that have no fields. Returns their total size in bytes
 * (standard input counts 0), for progress.
 */
export function checkTextSources(sources: readonly string[], options: TextOptions): number {
  let bytes = 0;
  if (sources.filter((s) => s === '-').length > 1) throw new UsageError('standard input ("-") can be read only once');
  for (const source of sources) {
    const format = textFormat(source);
    if (source === '-') continue;
    const stat = fs.statSync(source, { throwIfNoEntry: false });
    if (stat === undefined) throw new UsageError(`no such file: ${source}`);
    if (!stat.isFile()) throw new UsageError(`${source} is not a file`);
    bytes += stat.size;
    if (format === 'txt' && (options.fieldGiven || options.idField !== undefined || options.labelField !== undefined)) {
      throw new UsageError(
        `${source}: a .txt file has one input per line and no fields; --field, --id-field and --label-field need .csv or .jsonl`,
      );
    }
  }
  return bytes;
}

/** A source's text, decoded as UTF-8 (BOM dropped), gunzipped first if its bytes say gzip. */
async function* sourceText(source: string, onBytes: (n: number) => void): AsyncGenerator<string> {
  const raw: Readable = source === '-' ? process.stdin : fs.createReadStream(source);
  const it = raw[Symbol.asyncIterator]() as AsyncIterator<Buffer>;
  const first = await it.next();
  if (first.done === true) return;
  async function* bytes(): AsyncGenerator<Buffer> {
    onBytes(first.value.length);
    yield first.value;
    for (let next = await it.next(); next.done !== true; next = await it.next()) {
      onBytes(next.value.length);
      yield next.value;
    }
  }
  let chunks: AsyncIterable<Buffer> = bytes();
  if (first.value[0] === 0x1f && first.value[1] === 0x8b) {
    const gunzip = zlib.createGunzip();
    pipeline(Readable.from(bytes()), gunzip, () => undefined); // an error surfaces in the loop below
    chunks = gunzip;
  }
  const decoder = new StringDecoder('utf8');
  let start = true;
  try {
    for await (const chunk of chunks) {
      let text = decoder.write(chunk);
      if (start && text !== '') {
        if (text.startsWith('\uFEFF')) text = text.slice(1);
        start = false;
      }
      if (text !== '') yield text;
    }
  } catch (err) {
    throw new UsageError(
      `${source === '-' ? 'standard input' : source} could not be read: ${err instanceof Error ? err.message : String(err)}`,
    );
  }
  const rest = decoder.end();
  if (rest !== '') yield rest;
}

export interface Line {
  line: number;
  text: string;
}

/** The lines of streamed text, numbered from 1, without their line breaks (LF or CRLF). */
export async function* lines(texts: AsyncIterable<string>): AsyncGenerator<Line> {
  let n = 0;
  let pending = '';
  for await (const text of texts) {
    pending += text;
    let at = pending.indexOf('\n');
    let from = 0;
    while (at >= 0) {
      yield { line: ++n, text: pending.slice(from, at).replace(/\r$/, '') };
      from = at + 1;
      at = pending.indexOf('\n', from);
    }
    pending = pending.slice(from);
  }
  if (pending !== '') yield { line: ++n, text: pending.replace(/\r$/, '') };
}

const present = (v: unknown): boolean => v !== undefined && v !== null && v !== '';

async function* csvItems(
  source: string,
  input: AsyncIterable<Line>,
  options: TextOptions,
  name: (line: number) => string,
): AsyncGenerator<InputItem> {
  const parser = new CsvRecords();
  let columns: { field: number; id: number; label: number } | null = null;
  const column = (header: string[], wanted: string, flag: string): number => {
    const i = header.indexOf(wanted);
    if (i < 0) {
      throw new UsageError(
        `${source} has no column "${wanted}" (its columns: ${header.join(', ')}); choose one with ${flag}`,
      );
    }
    return i;
  };
  async function* records() {
    for await (const { text } of input) yield* parser.push(text + '\n');
    yield* parser.end();
  }
  for await (const record of records()) {
    if (columns === null) {
      const header = record.fields.map((f) => f.trim());
      columns = {
        field: column(header, options.field, '--field'),
        id: options.idField === undefined ? -1 : column(header, options.idField, '--id-field'),
        label: options.labelField === undefined ? -1 : column(header, options.labelField, '--label-field'),
      };
      continue;
    }
    const id = record.fields[columns.id];
    const truth = record.fields[columns.label];
    const item: InputItem = {
      id: present(id) ? (id as string) : name(record.line),
      value: record.fields[columns.field],
      truth: present(truth) ? truth : undefined,
    };
    if (record.unterminated === true) {
      item.error = {
        code: 'invalid_csv',
        message: `The quoted field in the row starting on line ${record.line} is never closed.`,
      };
    }
    yield item;
  }
}

async function* jsonlItems(
  input: AsyncIterable<Line>,
  options: TextOptions,
  name: (line: number) => string,
): AsyncGenerator<InputItem> {
  for await (const { line, text } of input) {
    if (text.trim() === '') continue;
    let record: unknown;
    try {
      record = JSON.parse(text);
    } catch {
      yield { id: name(line), error: { code: 'invalid_json', message: `Line ${line} is not valid JSON.` } };
      continue;
    }
    if (record === null || typeof record !== 'object' || Array.isArray(record)) {
      yield { id: name(line), error: { code: 'invalid_json', message: `Line ${line} is not a JSON object.` } };
      continue;
    }
    const fields = record as Record<string, unknown>;
    const id = options.idField === undefined ? undefined : fields[options.idField];
    const truth = options.labelField === undefined ? undefined : fields[options.labelField];
    yield {
      id: present(id) && typeof id !== 'object' ? String(id) : name(line),
      value: fields[options.field],
      truth: present(truth) && typeof truth !== 'object' ? String(truth) : undefined,
    };
  }
}

async function* txtItems(input: AsyncIterable<Line>, name: (line: number) => string): AsyncGenerator<InputItem> {
  for await (const { line, text } of input) {
    if (text.trim() !== '') yield { id: name(line), value: text };
  }
}

/** Standard input's format from its first non-blank line; that line is handed on with the rest. */
async function sniffed(
  input: AsyncGenerator<Line>,
  options: TextOptions,
): Promise<{ format: TextFormat; input: AsyncIterable<Line> }> {
  const skipped: Line[] = [];
  for (let next = await input.next(); next.done !== true; next = await input.next()) {
    skipped.push(next.value);
    if (next.value.text.trim() === '') continue;
    const first = next.value.text;
    const header = new CsvRecords().push(first + '\n')[0]?.fields.map((f) => f.trim()) ?? [];
    const format: TextFormat = first.trimStart().startsWith('{')
      ? 'jsonl'
      : header.includes(options.field)
        ? 'csv'
        : 'txt';
    return {
      format,
      input: (async function* () {
        yield* skipped;
        yield* input;
      })(),
    };
  }
  return { format: 'txt', input: (async function* () {})() };
}

/** Every input of the text sources, in order, read as they are needed. `onBytes` counts bytes read (compressed, for .gz). */
export async function* readTextInputs(
  sources: readonly string[],
  options: TextOptions,
  onBytes: (n: number) => void = () => undefined,
): AsyncGenerator<InputItem> {
  for (const source of sources) {
    const label = source === '-' ? 'stdin' : source;
    const name = sources.length > 1 ? (line: number) => `${label}:${line}` : (line: number) => String(line);
    let input: AsyncIterable<Line> = lines(sourceText(source, onBytes));
    let format = textFormat(source);
    if (format === null) ({ format, input } = await sniffed(input as AsyncGenerator<Line>, options));
    if (format === 'csv') yield* csvItems(label, input, options, name);
    else if (format === 'jsonl') yield* jsonlItems(input, options, name);
    else yield* txtItems(input, name);
  }
}
