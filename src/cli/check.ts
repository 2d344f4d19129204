/**
 * The checks of `ml-forms predict`'s command line that need no file and no model: the model is in
 * the table, there are inputs, and the options go together. A failure is a UsageError (exit 2),
 * before any work.
 */
import { UsageError } from '../batch/inputs';
import { type ModelDefinition, byName } from '../models/model';
import type { ShardSpec } from './shard';

/** `ml-forms predict`'s options, as main.ts parsed them. */
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
  /** Add each prediction's `explanation` (issue 25): a column in CSV, a field in JSON Lines. */
  explain?: boolean;
  /** Predict only this shard's inputs and write its part (shard.ts). */
  shard?: ShardSpec;
}

export function checkPredict(options: PredictOptions, table: readonly ModelDefinition[]): ModelDefinition {
  const model = byName(table, options.model);
  if (model === undefined)
    throw new UsageError(`unknown model "${options.model}"; choose ${table.map((m) => m.name).join(', ')}`);
  const images = model.input.kind === 'image';
  if (options.inputs.length === 0)
    throw new UsageError(
      `give at least one input: ${images ? 'image files, folders or glob patterns' : '.csv, .jsonl or .txt files, or - for standard input'}`,
    );
  if (options.resume && options.out === undefined)
    throw new UsageError('--resume needs --out FILE: the file to complete');
  if (options.resume && options.shard !== undefined)
    throw new UsageError('--resume does not apply to --shard: rerun the shard, its part is replaced whole');
  if (images && (options.field ?? options.idField ?? options.labelField) !== undefined) {
    throw new UsageError(
      '--field, --id-field and --label-field apply to .csv and .jsonl inputs, not to images (their folders give the labels)',
    );
  }
  if (options.explain === true && model.explainer === undefined) {
    const explaining = table.filter((m) => m.explainer !== undefined).map((m) => m.name);
    throw new UsageError(
      `--explain: the model ${model.name} does not explain its answers (the models that do: ${explaining.join(', ') || 'none'})`,
    );
  }
  if (options.url !== undefined && !/^https?:\/\/[^/]/.test(options.url))
    throw new UsageError(`--url must be an http:// or https:// address, got "${options.url}"`);
  return model;
}
