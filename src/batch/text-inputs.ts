/**
 * The batch command's text inputs: .csv (the column named by `field`),
 * .jsonl (the field named by `field`), .txt (one input per line), and "-" for standard input, each
 * optionally gzipped. Items are read as they are needed (text-lines.ts streams the lines).
 * Standard input is JSON Lines if its first line starts with "{", CSV if its first line has a
 * column named `field`, else one input per line.
 */
import fs from 'node:fs';
import { jsonDepthWithin } from '../json-depth';
import { CsvRecords } from './csv-records';
import { type InputItem, UsageError } from './inputs';
import { type Line, lines, sourceText } from './text-lines';

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
      key: present(id) ? `id:${id as string}` : undefined,
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
    const named = present(id) && typeof id !== 'object';
    yield {
      id: named ? String(id) : name(line),
      key: named ? `id:${String(id)}` : undefined,
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
