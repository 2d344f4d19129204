/**
 * Sharded batch runs (`ml-forms predict … --shard I/N`): which inputs belong to a shard, and the
 * part file a shard writes for `ml-forms merge` (merge.ts).
 *
 * Assignment: each input has an identity that does not depend on where it is in the listing — an
 * image's path relative to the folder given (the path as given for a file or a glob match), a row's
 * --id-field value when it has one, else the row's input text — plus its occurrence number (the
 * k-th input with that identity), so duplicates stay distinct. The shard is sha256(identity) mod N.
 * Why not the position: a row or file added in the middle would move every input after it to
 * another shard; with the identity, adding inputs moves none of the existing ones, and the order
 * the files are listed in does not matter.
 *
 * A part is JSON Lines: a header line (model, card version, labels, the options that change rows,
 * shard I/N), one line per input of the shard ({"at": position in the unsharded order, "row", "truth"}),
 * and an end line (rows in the part, inputs in all, a digest of every input's identity in order). It
 * is written to a temporary file in the same folder and renamed into place only when complete, so a
 * killed run leaves no part that looks whole, and a rerun (or a second copy of the same index, which
 * Kubernetes may start) replaces it whole. Written to standard output instead (no --out), the end
 * line is what tells a whole part from one cut short.
 */
import { createHash, randomBytes } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import type { InputItem } from '../batch/inputs';
import { UsageError } from '../batch/inputs';
import type { BatchRow } from '../batch/rows';

export interface ShardSpec {
  /** 0-based, like JOB_COMPLETION_INDEX. */
  index: number;
  count: number;
}

export const MAX_SHARDS = 10_000;

const whole = (text: string | undefined): number | undefined =>
  text !== undefined && /^\d{1,9}$/.test(text.trim()) ? Number(text.trim()) : undefined;

/**
 * The shard from `--shard I/N`, or from `--shards N` with the index in JOB_COMPLETION_INDEX (a
 * Kubernetes Indexed Job); undefined for an unsharded run.
 */
export function shardSpec(
  shard: string | undefined,
  shards: string | undefined,
  env: NodeJS.ProcessEnv,
): ShardSpec | undefined {
  let index: number | undefined;
  let count: number | undefined;
  if (shard !== undefined) {
    const m = /^(\d+)\/(\d+)$/.exec(shard.trim());
    if (m === null) throw new UsageError(`--shard takes I/N (this run's 0-based index of N shards), got "${shard}"`);
    index = Number(m[1]);
    count = Number(m[2]);
    if (shards !== undefined && whole(shards) !== count)
      throw new UsageError(`--shard ${shard} and --shards ${shards} disagree on the number of shards`);
  } else if (shards !== undefined) {
    count = whole(shards);
    if (count === undefined) throw new UsageError(`--shards takes a whole number, got "${shards}"`);
    index = whole(env.JOB_COMPLETION_INDEX);
    if (index === undefined)
      throw new UsageError(
        `--shards ${shards} takes this run's index from JOB_COMPLETION_INDEX (set by a Kubernetes Indexed Job), which is ` +
          `${env.JOB_COMPLETION_INDEX === undefined ? 'not set' : `"${env.JOB_COMPLETION_INDEX}"`}; or give --shard I/N`,
      );
  } else {
    return undefined;
  }
  if (count < 1 || count > MAX_SHARDS)
    throw new UsageError(`the number of shards must be 1 to ${MAX_SHARDS}, got ${count}`);
  if (index >= count)
    throw new UsageError(`shard index ${index} is not below the number of shards ${count} (indices start at 0)`);
  return { index, count };
}

export const shardName = (s: ShardSpec): string => `${s.index}/${s.count}`;

/** Where a shard's part goes for `--out FILE`: FILE without its extension, then ".part-I-of-N.jsonl", in FILE's folder. */
export function partPath(out: string, s: ShardSpec): string {
  const ext = path.extname(out);
  return `${ext === '' ? out : out.slice(0, -ext.length)}.part-${s.index}-of-${s.count}.jsonl`;
}

/** An input's identity (see the top of this file), before its occurrence number. */
export function identity(item: InputItem): string {
  if (item.key !== undefined) return item.key;
  if (item.value !== undefined)
    return `text:${typeof item.value === 'string' ? item.value : JSON.stringify(item.value)}`;
  return `row:${item.id}`; // a row that could not be read (invalid JSON): only its place names it
}

/**
 * Counts every input of the run (in the unsharded order) and says which are this shard's: each
 * shard reads all inputs, predicts only its own, and knows the position of each in the whole run.
 */
export class ShardTally {
  private readonly seen = new Map<string, number>();
  private readonly digest = createHash('sha256');
  /** Inputs so far, all shards. */
  inputs = 0;

  constructor(readonly spec: ShardSpec) {}

  /** The input's position in the unsharded order if it is this shard's, else undefined. */
  take(item: InputItem): number | undefined {
    const base = createHash('sha256').update(identity(item)).digest('base64');
    const occurrence = this.seen.get(base) ?? 0;
    this.seen.set(base, occurrence + 1);
    this.digest.update(`${base}#${occurrence}\n`);
    const at = this.inputs++;
    return shardOf(`${base}#${occurrence}`, this.spec.count) === this.spec.index ? at : undefined;
  }

  /** The digest of every input's identity in order: parts of one run have the same. */
  finish(): string {
    return this.digest.digest('hex');
  }
}

/** The shard of an identity: the first 48 bits of its sha256, mod N. */
export function shardOf(id: string, count: number): number {
  return createHash('sha256').update(id).digest().readUIntBE(0, 6) % count;
}

/** An input with its position in the unsharded order. */
export type Placed = InputItem & { at?: number };

/** This shard's inputs of `items`, each with its position; every input is counted in `tally`. */
export async function* shardItems(items: AsyncIterable<InputItem>, tally: ShardTally): AsyncGenerator<Placed> {
  for await (const item of items) {
    const at = tally.take(item);
    if (at !== undefined) yield { ...item, at };
  }
}

/** What a part's header says: what must be the same in every part of one merge. */
export interface PartHeader {
  part: 'ml-forms predict';
  format: 1;
  model: string;
  /** The card's version (in process), or the version the remote API's /api/models named. */
  version: string;
  labels: string[];
  /** The options and settings that change the rows: inputs as given, fields, limits, `explain: true` with --explain. */
  options: Record<string, unknown>;
  shard: number;
  shards: number;
}

export interface PartRow {
  at: number;
  row: BatchRow;
  truth?: string;
}

export interface PartEnd {
  end: true;
  /** Rows in this part. */
  rows: number;
  /** Inputs in the whole run, all shards. */
  inputs: number;
  digest: string;
}

/** The header of a part of this run: the options here are those that change the rows. */
export function partHeader(
  spec: ShardSpec,
  model: { model: string; version: string; labels: string[] },
  options: Record<string, unknown>,
): PartHeader {
  return { part: 'ml-forms predict', format: 1, ...model, options, shard: spec.index, shards: spec.count };
}

export const partLine = (value: PartHeader | PartRow | PartEnd): string => JSON.stringify(value) + '\n';

/**
 * The part's file while it is written: a temporary name next to it, made whole by `commit()` (flushed
 * to disk, then renamed over any earlier part), or removed by `discard()`.
 */
export class PartFile {
  readonly temp: string;
  readonly stream: fs.WriteStream;

  constructor(readonly file: string) {
    this.temp = `${file}.tmp-${process.pid}-${randomBytes(4).toString('hex')}`;
    let fd: number;
    try {
      fd = fs.openSync(this.temp, 'wx');
    } catch (err) {
      throw new UsageError(
        `cannot write ${file}: ${(err as NodeJS.ErrnoException).code === 'ENOENT' ? `no folder ${path.dirname(file)}` : String(err)}`,
      );
    }
    this.stream = fs.createWriteStream(this.temp, { fd });
  }

  /** After the stream has ended: the part in place. */
  commit(): void {
    const fd = fs.openSync(this.temp, 'r');
    try {
      fs.fsyncSync(fd);
    } finally {
      fs.closeSync(fd);
    }
    fs.renameSync(this.temp, this.file);
  }

  discard(): void {
    fs.rmSync(this.temp, { force: true });
  }
}
