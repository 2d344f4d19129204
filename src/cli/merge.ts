/**
 * `ml-forms merge PARTS… [--out FILE]`: the parts that `ml-forms predict --shard I/N` wrote
 * (shard.ts) back into the one output an unsharded run writes: exactly one row per input, in the
 * unsharded order, the same columns (CSV, or JSON Lines when FILE ends in .jsonl; with the
 * `explanation` when the shards ran with --explain), and the same known-answers report.
 *
 * Every part is read and checked before anything is written: one part per shard 0…N-1, each with
 * its end line and as many rows as that line says (a part cut short has neither), all from the same
 * model, model version, labels and options (--explain is one), and all having read the same
 * inputs. Anything else is a usage error (exit 2) that names the shards and files at fault. The
 * output is then written to a temporary file and renamed into place, so a failed merge leaves no
 * output that looks whole.
 */
import fs from 'node:fs';
import readline from 'node:readline';
import { UsageError } from '../batch/inputs';
import { KnownAnswers } from '../batch/report';
import { csvColumns, csvLine, jsonLine, rowCells } from '../batch/rows';
import { count } from '../units';
import { type Sink, streamSink } from './output';
import { PartFile, type PartEnd, type PartHeader, type PartRow } from './shard';
import type { Io } from './exit';

export interface MergeOptions {
  parts: string[];
  out?: string;
  quiet: boolean;
}

interface CheckedPart {
  file: string;
  header: PartHeader;
  end: PartEnd;
}

async function* partLines(file: string): AsyncGenerator<{ line: number; text: string }> {
  const lines = readline.createInterface({ input: fs.createReadStream(file), crlfDelay: Infinity });
  let line = 0;
  for await (const text of lines) {
    line++;
    if (text.trim() !== '') yield { line, text };
  }
}

const parse = (text: string): Record<string, unknown> | undefined => {
  try {
    const value: unknown = JSON.parse(text);
    return value !== null && typeof value === 'object' && !Array.isArray(value)
      ? (value as Record<string, unknown>)
      : undefined;
  } catch {
    return undefined;
  }
};

/** One part read through: its header and end line, or why it cannot be merged. */
async function checkPart(file: string): Promise<CheckedPart | { file: string; header?: PartHeader; problem: string }> {
  let header: PartHeader | undefined;
  let end: PartEnd | undefined;
  let rows = 0;
  let last = -1;
  try {
    for await (const { line, text } of partLines(file)) {
      const record = parse(text);
      if (header === undefined) {
        if (
          record?.part !== 'ml-forms predict' ||
          record.format !== 1 ||
          typeof record.options !== 'object' ||
          record.options === null
        )
          return { file, problem: 'is not a part written by ml-forms predict --shard' };
        header = record as unknown as PartHeader;
        continue;
      }
      if (record === undefined)
        return { file, header, problem: `is cut short or damaged (line ${line} is not whole JSON)` };
      if (end !== undefined) return { file, header, problem: `has lines after its end line (line ${line})` };
      if (record.end === true) {
        end = record as unknown as PartEnd;
        continue;
      }
      const at = record.at;
      if (typeof at !== 'number' || !(at > last) || typeof record.row !== 'object')
        return { file, header, problem: `has a row out of order or without a position (line ${line})` };
      last = at;
      rows++;
    }
  } catch (err) {
    return { file, problem: `cannot be read (${(err as NodeJS.ErrnoException).code ?? String(err)})` };
  }
  if (header === undefined) return { file, problem: 'is empty' };
  if (end === undefined)
    return {
      file,
      header,
      problem: `is incomplete: it has no end line (${count(rows)} rows, cut short or still running)`,
    };
  if (end.rows !== rows)
    return { file, header, problem: `is truncated: its end line says ${count(end.rows)} rows, it has ${count(rows)}` };
  if (last >= end.inputs)
    return { file, header, problem: `has a row at position ${last}, past its ${count(end.inputs)} inputs` };
  return { file, header, end };
}

const shardOfPart = (h: PartHeader | undefined): string =>
  h === undefined ? 'a part' : `shard ${h.shard}/${h.shards}`;

/** What must be the same in every part of one run, as text to compare. */
function runOf(p: CheckedPart): string {
  const { model, version, labels, options, shards } = p.header;
  return JSON.stringify({ model, version, labels, options, shards, inputs: p.end.inputs, digest: p.end.digest });
}

/** Whether a part's rows carry their explanations (its run had --explain). */
const explained = (h: PartHeader): boolean => h.options.explain === true;

/** How a part's run differs from the run most parts are from, in words. */
function difference(p: CheckedPart, ref: CheckedPart): string {
  const a = p.header;
  const b = ref.header;
  if (a.model !== b.model) return `is from the model ${a.model}, the other parts from ${b.model}`;
  if (a.version !== b.version)
    return `is from ${a.model} version ${a.version}, the other parts from version ${b.version}`;
  if (a.shards !== b.shards) return `is one of ${a.shards} shards, the other parts of ${b.shards}`;
  if (JSON.stringify(a.labels) !== JSON.stringify(b.labels))
    return `has the labels ${a.labels.join(', ')}, not ${b.labels.join(', ')}`;
  if (explained(a) !== explained(b))
    return `was run ${explained(a) ? 'with' : 'without'} --explain, the other parts ${explained(b) ? 'with' : 'without'}`;
  if (JSON.stringify(a.options) !== JSON.stringify(b.options))
    return `was run with other options (${JSON.stringify(a.options)}, the other parts ${JSON.stringify(b.options)})`;
  return `read other inputs (${count(p.end.inputs)} inputs, the other parts ${count(ref.end.inputs)}, or other names)`;
}

/** Checks every part; the parts in shard order, or a UsageError naming every shard at fault. */
export async function checkParts(files: readonly string[]): Promise<CheckedPart[]> {
  if (files.length === 0) throw new UsageError('give the parts to merge: the .part-I-of-N.jsonl files of every shard');
  const problems: string[] = [];
  const good: CheckedPart[] = [];
  for (const file of files) {
    const checked = await checkPart(file);
    if ('problem' in checked) problems.push(`${shardOfPart(checked.header)}: ${checked.file} ${checked.problem}`);
    else good.push(checked);
  }
  // The run most whole parts are from is the one to merge; the others are named.
  const runs = new Map<string, CheckedPart[]>();
  for (const p of good) runs.set(runOf(p), [...(runs.get(runOf(p)) ?? []), p]);
  const main = [...runs.values()].sort((a, b) => b.length - a.length)[0] ?? [];
  const ref = main[0];
  for (const p of good)
    if (ref !== undefined && !main.includes(p))
      problems.push(`${shardOfPart(p.header)}: ${p.file} ${difference(p, ref)}`);
  const byShard = new Map<number, CheckedPart>();
  for (const p of main) {
    const twin = byShard.get(p.header.shard);
    if (twin !== undefined)
      problems.push(`shard ${p.header.shard}/${p.header.shards}: given twice (${twin.file} and ${p.file}); give one`);
    byShard.set(p.header.shard, p);
  }
  // Every shard's part is needed; shards named by a part that is at fault are already reported.
  const shards = ref?.header.shards ?? 0;
  const named = new Set(
    problems
      .map((p) => /^shard (\d+)\//.exec(p)?.[1])
      .filter((s) => s !== undefined)
      .map(Number),
  );
  for (let i = 0; i < shards; i++)
    if (!byShard.has(i) && !named.has(i))
      problems.push(`shard ${i}/${shards}: missing (no part for it among the ${files.length} given)`);
  if (problems.length > 0) throw new UsageError(`cannot merge:\n  ${problems.join('\n  ')}`);
  return [...byShard.values()].sort((a, b) => a.header.shard - b.header.shard);
}

/** The rows of a checked part, in its order. */
async function* partRows(file: string): AsyncGenerator<PartRow> {
  let first = true;
  for await (const { text } of partLines(file)) {
    if (first) {
      first = false;
      continue;
    }
    const record = JSON.parse(text) as PartRow | PartEnd;
    if ('end' in record) return;
    yield record;
  }
}

/** Runs the merge; resolves to the exit code (0; 1 when some rows have an error, as the unsharded run). */
export async function mergeCommand(options: MergeOptions, io: Io): Promise<number> {
  const parts = await checkParts(options.parts);
  const { header } = parts[0] as CheckedPart;
  const { model, version, labels } = header;
  const rowOptions = { explain: explained(header) };
  const inputs = (parts[0] as CheckedPart).end.inputs;
  const format = options.out?.toLowerCase().endsWith('.jsonl') ? 'jsonl' : 'csv';
  const file = options.out === undefined ? undefined : new PartFile(options.out);
  const sink: Sink = streamSink(file?.stream ?? io.stdout, file !== undefined, () => undefined);
  const known = new KnownAnswers(labels);
  let written = 0;
  let errors = 0;
  let done = false;
  try {
    if (format === 'csv') await sink.write(csvLine(csvColumns(labels, rowOptions)));
    // Each part is in position order: take the smallest head each time (N heads: a scan is enough).
    const heads = await Promise.all(
      parts.map(async (p) => {
        const it = partRows(p.file);
        return { it, next: (await it.next()).value as PartRow | undefined, part: p };
      }),
    );
    for (;;) {
      let min: (typeof heads)[number] | undefined;
      for (const h of heads) if (h.next !== undefined && (min?.next === undefined || h.next.at < min.next.at)) min = h;
      if (min?.next === undefined) break;
      const { at, row, truth } = min.next;
      if (at !== written)
        throw new UsageError(
          `cannot merge: position ${written} of ${count(inputs)} is in no part (shard ${min.part.header.shard}/${min.part.header.shards} has ${at} next); the parts do not cover the inputs`,
        );
      await sink.write(format === 'csv' ? csvLine(rowCells(row, labels, rowOptions)) : jsonLine(row, rowOptions));
      written++;
      if (row.error !== undefined) errors++;
      if (truth !== undefined) known.add(truth, row.prediction ?? null);
      min.next = (await min.it.next()).value as PartRow | undefined;
    }
    if (written !== inputs)
      throw new UsageError(`cannot merge: the parts hold ${count(written)} rows for ${count(inputs)} inputs`);
    done = true;
  } finally {
    await sink.close();
    if (done) file?.commit();
    else file?.discard();
  }
  if (!options.quiet) {
    io.stderr.write(
      `ml-forms merge ${model} version ${version}: ${count(parts.length)} parts, ${count(written)} rows in ${options.out ?? 'standard output'}` +
        `${errors > 0 ? `, ${count(errors)} with an error` : ''}\n`,
    );
  }
  if (known.seen > 0) io.stderr.write(known.format() + '\n');
  return errors > 0 ? 1 : 0;
}
