/**
 * `ml-forms feedback export --out DIR [--database URL] [--force]` (issue 26, "Back into training"):
 * the inputs people shared with their feedback, under the label (or value) they said was right, in
 * the layouts the training scripts read with `--extra DIR` (`npm run train -- <model> --extra DIR`),
 * each model's named by its definition (`feedbackLayout`, src/models/<name>/index.ts): a folder per
 * label of image files, byte for byte; gzipped JSON lines of texts, as the data set has them; or a
 * CSV of the input and the value given.
 *
 * Feedback without a shared input is not exported: an input is kept only when its person shares it.
 * Everything is written to a folder inside DIR first and moved into place once the database has
 * been read to the end, so a failed export leaves DIR as it was. A DIR that already holds files is
 * refused unless --force, which replaces the models' paths (and nothing else): an export is the
 * whole set of shared items, and a stale file would train on feedback deleted since.
 */
import fs from 'node:fs';
import path from 'node:path';
import { parseArgs } from 'node:util';
import zlib from 'node:zlib';
import type { SharedFeedback, Store } from '../database/types';
import { EXIT } from './exit';
import { MODELS } from '../models';
import { type FeedbackLayout, type ModelDefinition, inputFromValue, mainField } from '../models/model';
import { readCard } from '../predictors/registry';

/** Exit code when the database cannot be opened or read (nothing is written then). */
const UNREADABLE = 1;

/** What each layout holds, for the help. */
const LAYOUT_WORDS: Record<FeedbackLayout['kind'], (layout: FeedbackLayout) => string> = {
  'image-folders': (l) => `DIR/${l.path}/<label>/<id>.<png|jpg|webp|gif>   the uploaded image, byte for byte`,
  'text-lines': (l) => `DIR/${l.path}   one {"id": "feedback/<id>", "text", "label"} a line`,
  points: (l) => `DIR/${l.path}   <input>,y: the number asked about, the value given`,
};

const layouts = (): FeedbackLayout[] => MODELS.flatMap((m) => (m.feedbackLayout === undefined ? [] : [m.feedbackLayout]));

export const feedbackHelp = (): string => `Usage: ml-forms feedback export --out DIR [--database URL] [--force]

Writes the inputs people shared with their feedback, under the label or value they said was right,
in the layouts the training scripts read (npm run train -- <model> --extra DIR):
${layouts()
  .map((l) => `  ${LAYOUT_WORDS[l.kind](l)}`)
  .join('\n')}
<id> is the feedback item's id. Feedback whose input was not shared is not written.

Options:
  --out DIR         where to write (created if missing); it must be empty unless --force
  --database URL    the database to read (default: DATABASE_URL, else the SQLite file data/ml-forms.sqlite);
                    sqlite:///absolute/path.sqlite or postgres://…
  --force           write into a DIR that holds files: replaces what an earlier export wrote there
                    (${layouts()
                      .map((l) => `DIR/${l.path}`)
                      .join(', ')}), leaves everything else
  -h, --help        this help

Prints what it wrote (items per model and label) on standard error.
Exit codes: 0 written, 1 the database cannot be read (nothing written), 2 usage error.
`;

/** The export's own paths under DIR, one per model: what --force replaces. */
const OWN_PATHS = MODELS.flatMap((m) => (m.feedbackLayout === undefined ? [] : [path.normalize(m.feedbackLayout.path)]));
/** The folder the export is written to inside DIR before it is moved into place. */
const STAGING_PREFIX = '.feedback-export-';

/** A feedback item whose input was shared (the only ones exported). */
type Shared = SharedFeedback & { input: NonNullable<SharedFeedback['input']> };

/** Why an item that was shared is not written (it is counted and named on standard error). */
class Unusable extends Error {}

/** The database could not be opened or read: exit 1, nothing written. */
class Unreadable extends Error {}

/** Runs a database call; any failure of it is the database's (an unreachable server, a damaged file). */
async function fromDatabase<T>(call: () => Promise<T>): Promise<T> {
  try {
    return await call();
  } catch (err) {
    throw new Unreadable(err instanceof Error ? err.message : String(err), { cause: err });
  }
}

/** One model's training layout, written item by item. */
interface LayoutWriter {
  /** Writes one item; resolves to what it is counted under (its label, or "" for a value), or throws Unusable. */
  add(item: Shared): Promise<string>;
  /** Finishes the files (a stream's end); only then are they whole. */
  close(): Promise<void>;
}

/** The file name extensions the image training scripts read, by the media type the input was held under. */
const IMAGE_EXTENSIONS: Record<string, string> = {
  'image/png': 'png',
  'image/jpeg': 'jpg',
  'image/webp': 'webp',
  'image/gif': 'gif',
};

/** A feedback id as a file name: the app makes them; anything else (a path, a dot) is not written. */
const SAFE_ID = /^[A-Za-z0-9_-]{1,128}$/;

function labelOf(item: Shared, labels: readonly string[]): string {
  const { label } = item.feedback;
  if (label === null) throw new Unusable('no label');
  if (!labels.includes(label)) throw new Unusable(`the label "${label}" is not one of ${labels.join(', ')}`);
  return label;
}

function textOf(item: Shared): string {
  if (!item.input.mediaType.toLowerCase().startsWith('text/plain'))
    throw new Unusable(`the input is ${item.input.mediaType}, not text`);
  try {
    return new TextDecoder('utf-8', { fatal: true }).decode(item.input.bytes);
  } catch {
    throw new Unusable('the input is not UTF-8 text');
  }
}

/** Writes to a stream, waiting when its buffer is full (an export can be large; memory stays flat). */
async function write(stream: NodeJS.WritableStream, text: string): Promise<void> {
  if (!stream.write(text)) await new Promise<void>((resolve) => stream.once('drain', resolve));
}

/** Ends a stream and resolves once its file is closed; rejects with its error. */
function finish(stream: NodeJS.WritableStream, file: fs.WriteStream): Promise<void> {
  return new Promise((resolve, reject) => {
    file.once('close', resolve);
    file.once('error', reject);
    stream.once('error', reject);
    stream.end();
  });
}

/** A text file opened at its first item (a model without items leaves no file), gzipped or not. */
class LazyFile {
  private file: fs.WriteStream | undefined;
  private stream: NodeJS.WritableStream | undefined;

  constructor(
    private readonly target: string,
    private readonly header: string,
    private readonly gzip: boolean,
  ) {}

  async line(text: string): Promise<void> {
    if (this.stream === undefined) {
      fs.mkdirSync(path.dirname(this.target), { recursive: true });
      this.file = fs.createWriteStream(this.target);
      if (this.gzip) {
        const gz = zlib.createGzip();
        gz.pipe(this.file);
        this.stream = gz;
      } else this.stream = this.file;
      if (this.header !== '') await write(this.stream, this.header);
    }
    await write(this.stream, text);
  }

  async close(): Promise<void> {
    if (this.stream !== undefined && this.file !== undefined) await finish(this.stream, this.file);
  }
}

/** <path>/<label>/<id>.<ext>: every label's folder made at the first image (the loader needs every one). */
function imageFolders(root: string, labels: readonly string[]): LayoutWriter {
  let made = false;
  return {
    async add(item) {
      const label = labelOf(item, labels);
      const ext = IMAGE_EXTENSIONS[item.input.mediaType.toLowerCase()];
      if (ext === undefined) throw new Unusable(`the input is ${item.input.mediaType}, which training does not read`);
      if (!made) for (const l of labels) fs.mkdirSync(path.join(root, l), { recursive: true });
      made = true;
      await fs.promises.writeFile(path.join(root, label, `${item.feedback.id}.${ext}`), item.input.bytes, {
        flag: 'wx',
      });
      return label;
    },
    close: async () => undefined,
  };
}

/** A gzipped JSON lines file: the text as it was sent, under the label given. */
function reviewLines(file: string, labels: readonly string[]): LayoutWriter {
  const out = new LazyFile(file, '', true);
  return {
    async add(item) {
      const label = labelOf(item, labels);
      const text = textOf(item);
      await out.line(JSON.stringify({ id: `feedback/${item.feedback.id}`, text, label }) + '\n');
      return label;
    },
    close: () => out.close(),
  };
}

/** A CSV file `<field>,y`: the input read as the app reads it (the same parser), y the value given. */
function points(file: string, field: string, parse: (raw: string) => unknown): LayoutWriter {
  const out = new LazyFile(file, `${field},y\n`, false);
  return {
    async add(item) {
      const { value } = item.feedback;
      if (value === null || !Number.isFinite(value)) throw new Unusable('no value');
      let x: number;
      try {
        x = Number(parse(textOf(item)));
      } catch (err) {
        if (err instanceof Unusable) throw err;
        throw new Unusable('the input is not a number');
      }
      // JavaScript's shortest round-trip form: Python's float() reads it back to the same double.
      await out.line(`${String(x)},${String(value)}\n`);
      return '';
    },
    close: () => out.close(),
  };
}

/** What was written and what was not, for standard error. */
class Tally {
  readonly written = new Map<string, Map<string, number>>();
  readonly notShared = new Map<string, number>();
  readonly unusable = new Map<string, number>();

  add(model: string, key: string): void {
    const labels = this.written.get(model) ?? new Map<string, number>();
    labels.set(key, (labels.get(key) ?? 0) + 1);
    this.written.set(model, labels);
  }

  skip(map: Map<string, number>, reason: string): void {
    map.set(reason, (map.get(reason) ?? 0) + 1);
  }

  report(out: string, from: string): string {
    const total = [...this.written.values()].reduce((n, m) => n + [...m.values()].reduce((a, b) => a + b, 0), 0);
    const lines = [
      `ml-forms feedback export: ${total} shared item${total === 1 ? '' : 's'} from ${from} written to ${out}`,
    ];
    for (const [model, labels] of [...this.written].sort(([a], [b]) => a.localeCompare(b))) {
      const n = [...labels.values()].reduce((a, b) => a + b, 0);
      const byLabel = [...labels]
        .filter(([label]) => label !== '')
        .sort(([a], [b]) => a.localeCompare(b))
        .map(([label, count]) => `${label} ${count}`);
      lines.push(`  ${model}: ${n}${byLabel.length > 0 ? ` (${byLabel.join(', ')})` : ''}`);
    }
    const notShared = [...this.notShared.values()].reduce((a, b) => a + b, 0);
    if (notShared > 0)
      lines.push(
        `  not written: ${notShared} feedback item${notShared === 1 ? '' : 's'} without a shared input (${[
          ...this.notShared,
        ]
          .sort(([a], [b]) => a.localeCompare(b))
          .map(([m, c]) => `${m} ${c}`)
          .join(', ')})`,
      );
    for (const [reason, count] of [...this.unusable].sort(([a], [b]) => a.localeCompare(b)))
      lines.push(`  not written: ${count} shared item${count === 1 ? '' : 's'}: ${reason}`);
    return lines.join('\n') + '\n';
  }
}

/**
 * A model's layout writer under `staging`: its labels are its card's (the labels it was trained
 * on, and a label is a folder name, so only these are written); a value model's input is read by
 * its own field's parser, as the app reads it.
 */
function layoutWriter(model: ModelDefinition, layout: FeedbackLayout, staging: string, modelsDir: string): LayoutWriter {
  const target = path.join(staging, layout.path);
  const labels = (): string[] => readCard(modelsDir, model.name).labels;
  switch (layout.kind) {
    case 'image-folders':
      return imageFolders(target, labels());
    case 'text-lines':
      return reviewLines(target, labels());
    case 'points': {
      const limits = { maxTextChars: Number.MAX_SAFE_INTEGER };
      const field = mainField(model, limits);
      if (field === null) throw new Error(`${model.name}: a points layout needs a fields model`);
      return points(target, field, (raw) => inputFromValue(model, limits, raw));
    }
  }
}

/** Every shared item of `store` into `staging`, in the layouts; the tally. */
async function exportTo(store: Store, staging: string, modelsDir: string): Promise<Tally> {
  const writers: Record<string, LayoutWriter> = Object.fromEntries(
    MODELS.flatMap((m) => (m.feedbackLayout === undefined ? [] : [[m.name, layoutWriter(m, m.feedbackLayout, staging, modelsDir)] as const])),
  );
  const tally = new Tally();
  const items = store.exportFeedback()[Symbol.asyncIterator]();
  try {
    for (;;) {
      const next = await fromDatabase(() => items.next());
      if (next.done === true) break;
      const item = next.value;
      const { model, id } = item.feedback;
      if (item.input === null) {
        tally.skip(tally.notShared, model);
        continue;
      }
      const writer = writers[model];
      try {
        if (writer === undefined) throw new Unusable(`the model "${model}" has no training layout`);
        if (!SAFE_ID.test(id)) throw new Unusable('an id that is not a file name');
        tally.add(model, await writer.add({ ...item, input: item.input }));
      } catch (err) {
        if (!(err instanceof Unusable)) throw err;
        tally.skip(tally.unusable, `${model}, ${err.message}`);
      }
    }
  } finally {
    // Stopped early (a file that cannot be written): the store's cursor is closed too.
    await items.return?.().catch(() => undefined);
    await Promise.all(Object.values(writers).map((w) => w.close()));
  }
  return tally;
}

/** Moves the staged layouts into DIR, replacing the export's own paths there (and what an export killed midway left). */
function commit(staging: string, out: string): void {
  for (const name of fs.readdirSync(out))
    if (name.startsWith(STAGING_PREFIX) && path.join(out, name) !== staging)
      fs.rmSync(path.join(out, name), { recursive: true, force: true });
  for (const own of OWN_PATHS) {
    const target = path.join(out, own);
    fs.rmSync(target, { recursive: true, force: true });
    if (fs.existsSync(path.join(staging, own))) {
      fs.mkdirSync(path.dirname(target), { recursive: true });
      fs.renameSync(path.join(staging, own), target);
    }
  }
}

export interface ExportOptions {
  out: string;
  /** DATABASE_URL's form; undefined: the default SQLite file. */
  database: string | undefined;
  /** The SQLite file `database` names, if it names one: a missing file is refused, not created empty. */
  sqliteFile: string | undefined;
  /** The model repository: the cards' labels. */
  modelsDir: string;
}

/**
 * Runs the export into `out` (the caller has checked that it is empty, or that --force was given);
 * resolves to the exit code.
 */
export async function exportCommand(options: ExportOptions, stderr: NodeJS.WritableStream): Promise<number> {
  const [{ openStore }, { projectRoot }] = await Promise.all([import('../database/open'), import('../config')]);
  const out = path.resolve(options.out);
  const file = options.sqliteFile;
  if (file !== undefined && !fs.existsSync(file)) {
    stderr.write(`ml-forms feedback export: no database at ${file} (nothing written)\n`);
    return UNREADABLE;
  }
  const existed = fs.existsSync(out);
  fs.mkdirSync(out, { recursive: true });
  const staging = fs.mkdtempSync(path.join(out, STAGING_PREFIX));
  let store: Store | undefined;
  let done = false;
  try {
    store = await fromDatabase(() => openStore(options.database, { projectRoot: projectRoot() }));
    const opened = store;
    await fromDatabase(() => opened.migrate());
    const tally = await exportTo(opened, staging, options.modelsDir);
    commit(staging, out);
    done = true;
    stderr.write(tally.report(out, opened.description));
    return EXIT.ok;
  } catch (err) {
    if (!(err instanceof Unreadable)) throw err;
    stderr.write(
      `ml-forms feedback export: cannot read ${store?.description ?? file ?? 'the database'}: ${err.message} (nothing written)\n`,
    );
    return UNREADABLE;
  } finally {
    fs.rmSync(staging, { recursive: true, force: true });
    // A folder this run made and filled with nothing is not left behind by a failed run.
    if (!done && !existed && fs.readdirSync(out).length === 0) fs.rmdirSync(out);
    await store?.close().catch(() => undefined);
  }
}

/** Whether DIR holds anything an export must not silently mix with. */
function holdsFiles(out: string): boolean {
  try {
    return fs.readdirSync(out).length > 0;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return false;
    throw err;
  }
}

/**
 * `ml-forms feedback <args>`: parses its own options (main.ts hands every argument after
 * "feedback" here). Resolves to the exit code; usage errors are written here, as main.ts writes its own.
 */
export async function feedbackMain(
  args: string[],
  env: NodeJS.ProcessEnv,
  stdout: NodeJS.WritableStream,
  stderr: NodeJS.WritableStream,
): Promise<number> {
  const usage = (message: string): number => {
    stderr.write(`ml-forms: ${message}\nRun "ml-forms feedback export --help" for usage.\n`);
    return EXIT.usage;
  };
  let parsed;
  try {
    parsed = parseArgs({
      args,
      allowPositionals: true,
      strict: true,
      options: {
        out: { type: 'string' },
        database: { type: 'string' },
        force: { type: 'boolean', default: false },
        help: { type: 'boolean', short: 'h', default: false },
      },
    });
  } catch (err) {
    return usage(err instanceof Error ? (err.message.split('\n')[0] ?? '') : String(err));
  }
  const { values, positionals } = parsed;
  if (values.help) {
    stdout.write(feedbackHelp());
    return EXIT.ok;
  }
  const [command, ...rest] = positionals;
  if (command !== 'export')
    return usage(
      command === undefined
        ? 'missing command: ml-forms feedback export --out DIR'
        : `unknown command "feedback ${command}"; the command is "feedback export"`,
    );
  if (rest.length > 0) return usage(`unexpected argument "${rest[0]}": ml-forms feedback export --out DIR`);
  if (values.out === undefined || values.out === '')
    return usage('--out DIR is needed: the folder to write the export to');
  if (values.database === '') return usage('--database needs a URL');
  if (fs.existsSync(values.out) && !fs.statSync(values.out).isDirectory())
    return usage(`--out ${values.out} is a file, not a folder`);
  if (!values.force && holdsFiles(values.out))
    return usage(
      `--out ${values.out} already holds files: give an empty folder, or --force to replace an earlier export there`,
    );
  const database = values.database ?? (env.DATABASE_URL === '' ? undefined : env.DATABASE_URL);
  const [{ parseDatabaseUrl }, { projectRoot }] = await Promise.all([import('../database/open'), import('../config')]);
  let target;
  try {
    target = parseDatabaseUrl(database, projectRoot());
  } catch (err) {
    return usage(err instanceof Error ? err.message : String(err));
  }
  const sqliteFile = target.kind === 'sqlite' && target.file !== ':memory:' ? target.file : undefined;
  const modelsDir = path.resolve(env.MODELS_DIR === undefined || env.MODELS_DIR.trim() === '' ? path.join(projectRoot(), 'models') : env.MODELS_DIR);
  return exportCommand({ out: values.out, database, sqliteFile, modelsDir }, stderr);
}
