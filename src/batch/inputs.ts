/**
 * The batch command's inputs, one item per row to write.
 *
 * Images (malaria): files, folders (recursive, hidden files skipped) and glob patterns, each folder
 * and pattern in path order. An image's known answer is the nearest folder named after a label
 * ("cells/parasitized/a.png" → parasitized, any letter case).
 *
 * Only regular files inside the folders given are read, since a folder may come from someone else
 * (an unpacked archive, a shared drive): a link to a file inside the folder is read; a link out of
 * it (`b.png → /etc/hostname`, `etc → /etc`) becomes an `outside_folder` row, neither followed nor
 * read; links to folders inside it are not walked (their files are listed where they are), so a
 * link loop cannot make the listing endless. Anything else that is not a regular file (a FIFO, a
 * device, a socket), in a folder or named on the command line, becomes a `not_a_file` row. Glob
 * patterns match regular files only and do not follow links. Files are opened with O_NONBLOCK and
 * checked again on the open descriptor (openRegular), so nothing swapped in after the listing can
 * block the run in open() or be read.
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
import fsp from 'node:fs/promises';
import path from 'node:path';
import { Readable, pipeline } from 'node:stream';
import { StringDecoder } from 'node:string_decoder';
import zlib from 'node:zlib';
import { glob, isDynamicPattern } from 'tinyglobby';
import { jsonDepthWithin } from '../json-depth';
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

/** What a file system entry is, in words, for the rows and messages that refuse it. */
function kind(stat: fs.Stats): string {
  if (stat.isFIFO()) return 'a named pipe (FIFO)';
  if (stat.isCharacterDevice() || stat.isBlockDevice()) return 'a device';
  if (stat.isSocket()) return 'a socket';
  if (stat.isDirectory()) return 'a folder';
  if (stat.isSymbolicLink()) return 'a link';
  return 'not a regular file';
}

/** The path names something other than a regular file: it is not opened, or not read once opened. */
export class NotRegularFile extends Error {
  constructor(
    readonly file: string,
    readonly kind: string,
  ) {
    super(`${file} is ${kind}, not a regular file`);
    this.name = 'NotRegularFile';
  }
}

const O_NONBLOCK = fs.constants.O_NONBLOCK ?? 0;
const O_NOFOLLOW = fs.constants.O_NOFOLLOW ?? 0;

/**
 * Opens `file` for reading if it is a regular file, else throws NotRegularFile. The type is checked
 * before open (so a FIFO or device is never opened) and again on the opened descriptor, which must
 * be the file checked: what is read is what was checked. O_NONBLOCK makes open() of a FIFO swapped
 * in between return at once instead of holding a libuv thread (and the process's exit) until a
 * writer comes; it does not change reads of a regular file. `noFollow` for paths already resolved:
 * a link put in their place is refused (ELOOP) rather than followed.
 */
export async function openRegular(file: string, { noFollow = false } = {}): Promise<fsp.FileHandle> {
  const before = noFollow ? await fsp.lstat(file) : await fsp.stat(file);
  if (!before.isFile()) throw new NotRegularFile(file, kind(before));
  const handle = await fsp.open(file, fs.constants.O_RDONLY | O_NONBLOCK | (noFollow ? O_NOFOLLOW : 0));
  try {
    const opened = await handle.stat();
    if (!opened.isFile()) throw new NotRegularFile(file, kind(opened));
    if (opened.ino !== before.ino || opened.dev !== before.dev)
      throw new NotRegularFile(file, 'a file that changed while it was opened');
    return handle;
  } catch (err) {
    await handle.close();
    throw err;
  }
}

const notAFile = (what: string): RowError => ({
  code: 'not_a_file',
  message: `This is ${what}, not a regular file; it was not read.`,
});

const outsideFolder = (folder: string): RowError => ({
  code: 'outside_folder',
  message: `This link points outside ${folder}; it was not followed.`,
});

const brokenLink = (err: unknown): RowError => ({
  code: 'unreadable_file',
  message: `This link cannot be followed (${(err as NodeJS.ErrnoException).code ?? 'error'}); nothing was read.`,
});

/** `target` is `root` or inside it (both real paths). */
function within(root: string, target: string): boolean {
  return target === root || target.startsWith(root.endsWith(path.sep) ? root : root + path.sep);
}

/** An entry to list: the real path to read, or why it is not read. */
interface Found {
  rel: string;
  file?: string;
  error?: RowError;
}

/**
 * Every entry of `folder` to list, recursively, hidden ones skipped, by relative path. Files come
 * with their real path (no link in it), which is what is opened later (with O_NOFOLLOW).
 */
async function walkFolder(folder: string): Promise<Found[]> {
  const root = await fsp.realpath(folder);
  const found: Found[] = [];
  const visit = async (realDir: string, rel: string): Promise<void> => {
    let entries: fs.Dirent[];
    try {
      entries = await fsp.readdir(realDir, { withFileTypes: true });
    } catch (err) {
      found.push({
        rel,
        error: {
          code: 'unreadable_file',
          message: `This folder could not be read (${(err as NodeJS.ErrnoException).code ?? 'error'}).`,
        },
      });
      return;
    }
    for (const entry of entries) {
      if (entry.name.startsWith('.')) continue;
      const real = path.join(realDir, entry.name);
      const relPath = rel === '' ? entry.name : `${rel}/${entry.name}`;
      if (entry.isDirectory()) {
        await visit(real, relPath);
      } else if (entry.isFile()) {
        found.push({ rel: relPath, file: real });
      } else if (!entry.isSymbolicLink()) {
        found.push({ rel: relPath, error: notAFile(kind(await fsp.lstat(real))) });
      } else {
        // realpath and stat read the link and the target's type, never the target's bytes.
        let target: string;
        let stat: fs.Stats;
        try {
          target = await fsp.realpath(real);
          if (!within(root, target)) {
            found.push({ rel: relPath, error: outsideFolder(folder) });
            continue;
          }
          stat = await fsp.stat(target);
        } catch (err) {
          found.push({ rel: relPath, error: brokenLink(err) });
          continue;
        }
        if (stat.isDirectory()) continue; // inside the folder: its files are listed where they are
        found.push(stat.isFile() ? { rel: relPath, file: target } : { rel: relPath, error: notAFile(kind(stat)) });
      }
    }
  };
  await visit(root, '');
  return found.sort((a, b) => byPath(a.rel, b.rel));
}

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
  const items: Omit<InputItem, 'truth'>[] = [];
  for (const arg of args) {
    if (arg === '-')
      throw new UsageError('images are read from files, folders or glob patterns, not from standard input');
    // stat, not open: it does not block on a FIFO or touch a device.
    const stat = await fsp.stat(arg).catch(() => undefined);
    if (stat?.isDirectory()) {
      for (const { rel, file, error } of await walkFolder(arg)) items.push({ id: path.join(arg, rel), file, error });
    } else if (stat !== undefined) {
      // Named on the command line (a link too, since its name was given): a regular file, or an error row.
      items.push(stat.isFile() ? { id: arg, file: await fsp.realpath(arg) } : { id: arg, error: notAFile(kind(stat)) });
    } else if (isDynamicPattern(arg)) {
      const found = await glob(arg, {
        onlyFiles: true,
        dot: false,
        absolute: path.isAbsolute(arg),
        followSymbolicLinks: false,
      });
      if (found.length === 0) throw new UsageError(`no files match ${arg}`);
      for (const match of found.sort(byPath)) {
        const entry = await fsp.lstat(match);
        items.push(
          entry.isFile() ? { id: match, file: await fsp.realpath(match) } : { id: match, error: notAFile(kind(entry)) },
        );
      }
    } else {
      throw new UsageError(`no such file or folder: ${arg}`);
    }
  }
  return items.map((item) => ({ ...item, truth: labelFromFolders(item.id, labels) }));
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
  let raw: Readable = process.stdin;
  if (source !== '-') {
    try {
      raw = (await openRegular(source)).createReadStream();
    } catch (err) {
      throw new UsageError(
        err instanceof NotRegularFile
          ? `${source} is ${err.kind}, not a file`
          : `${source} could not be read: ${err instanceof Error ? err.message : String(err)}`,
      );
    }
  }
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

const withoutCr = (line: string): string => (line.endsWith('\r') ? line.slice(0, -1) : line);

/**
 * The lines of streamed text, numbered from 1, without their line breaks (LF or CRLF). Each piece
 * is searched once: a line that arrives in many pieces is kept as a list of them and joined when
 * it ends (searching the growing line again for each piece was quadratic: 1 MB in 4 KB pieces
 * took 0.7 s).
 */
export async function* lines(texts: AsyncIterable<string>): AsyncGenerator<Line> {
  let n = 0;
  let pending: string[] = [];
  for await (const text of texts) {
    let from = 0;
    for (let at = text.indexOf('\n'); at >= 0; at = text.indexOf('\n', from)) {
      pending.push(text.slice(from, at));
      yield { line: ++n, text: withoutCr(pending.join('')) };
      pending = [];
      from = at + 1;
    }
    if (from < text.length) pending.push(text.slice(from));
  }
  if (pending.length > 0) yield { line: ++n, text: withoutCr(pending.join('')) };
}

/** Deepest nesting a JSON Lines record may have (a record is an object of plain values). */
const MAX_JSON_DEPTH = 32;

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
      // V8's JSON.parse slows down more than linearly on deep nesting; no record needs it.
      if (!jsonDepthWithin(text, MAX_JSON_DEPTH)) throw new SyntaxError('nested too deeply');
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
