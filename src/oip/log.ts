/**
 * The model tier's part of the prediction log (issue 26). What clients of the protocol ask the tier
 * themselves (Triton's and KServe's clients, a script) is logged item by item with source
 * `model-tier`, as the web app logs its answers: the label and its confidence, or the value; the
 * latency; and the numbers describing the input, worked out by each model's monitoring from the
 * tensors sent (`inputsOf`, then `describe` with the resources of the version that ran).
 *
 * The web tier's own calls say `x-ml-forms-source: web-tier` (src/inference/remote.ts sends it
 * while the web tier's log is on): that tier logs them itself, knowing where they came from (the
 * page, the API, a batch), so they are not logged twice here. Inputs are not held: the tier has
 * no feedback form to share them from.
 */
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import type { Request } from 'express';
import type { Config } from '../config';
import { SOURCE_HEADER, type Store, WEB_TIER_SOURCE } from '../database/types';
import { type NamedTensors, output, usualOutputs } from '../inference/backend';
import type { Logger } from '../log';
import type { Metrics } from '../metrics';
import { type ModelDefinition, byName } from '../models/model';
import { type Describer, loadDescriber } from '../monitoring/features';
import type { Answer, InputDescriber, PredictionRecorder } from '../monitoring/recorder';
import { type PredictionLog, openPredictionLog } from '../monitoring/setup';
import { classifyRows } from '../predictors/classification';
import type { ModelCard } from '../predictors/types';
import type { ServedEntry } from './store';

/** The answers of a run, one per item: a classifier's label and confidence, or a value model's first usual output. */
function answersOf(definition: ModelDefinition, card: ModelCard, outputs: NamedTensors): Answer[] {
  const base = { model: card.name, version: card.version };
  if (definition.output.kind === 'classification') {
    return classifyRows(outputs, card.labels).map((c) => ({ ...base, label: c.label, confidence: c.confidence }));
  }
  const name = usualOutputs(card)?.[0];
  if (name === undefined) return [];
  const { data, dims } = output(outputs, name, 'float32');
  const n = dims[0] ?? 0;
  const per = n === 0 ? 0 : data.length / n;
  return Array.from({ length: n }, (_, i) => ({ ...base, value: data[i * per] as number }));
}

/** The model tier's log: what it records of each run its own clients ask for. */
export class TierLog {
  /** Each served version's describer (its vocabulary read once) as it loads, by name@version. */
  private readonly loading = new Map<string, Promise<void>>();
  /** The loaded ones; null: it could not be loaded (its lines are logged without the input's numbers). */
  private readonly describers = new Map<string, Describer | null>();
  /**
   * The card each version's answers are read with: its own, or for a version without one (an 8-bit
   * copy of a version) the model's card.json, whose labels and outputs it shares.
   */
  private readonly cards = new Map<string, ModelCard | null>();
  private readonly warned = new Set<string>();

  constructor(
    private readonly recorder: PredictionRecorder,
    private readonly table: readonly ModelDefinition[],
    private readonly modelsDir: string,
    private readonly log: Pick<Logger, 'warn'>,
  ) {}

  /** Whether this request's runs are logged here: not the web tier's, which it logs itself. */
  logs(req: Request): boolean {
    return req.get(SOURCE_HEADER) !== WEB_TIER_SOURCE;
  }

  /**
   * The describer of `entry`'s version, loaded now if it is the first run on it: `record`, which
   * runs while the answer is written, then finds it ready.
   */
  async prepare(entry: ServedEntry): Promise<void> {
    const key = `${entry.name}@${entry.version}`;
    let loading = this.loading.get(key);
    if (loading === undefined) {
      const definition = byName(this.table, entry.name);
      const describer =
        definition === undefined
          ? Promise.resolve(null)
          : loadDescriber([definition], this.modelsDir, [{ name: entry.name, version: entry.version }]).catch((err: unknown) => {
              this.log.warn({ err, model: key }, 'prediction log: the inputs of this version are logged without their numbers');
              return null;
            });
      const card: Promise<ModelCard | null> =
        entry.card !== undefined
          ? Promise.resolve(entry.card)
          : readFile(path.join(this.modelsDir, entry.name, 'card.json'), 'utf8').then(
              (text) => JSON.parse(text) as ModelCard,
              () => null,
            );
      loading = Promise.all([describer, card]).then(([d, c]) => {
        this.describers.set(key, d);
        this.cards.set(key, c === null ? null : { ...c, name: entry.name, version: entry.version });
      });
      this.loading.set(key, loading);
    }
    await loading;
  }

  /**
   * Logs each item of a run. Never throws: a model whose outputs or inputs it cannot read (not in
   * the table, no card) costs the log its lines, never the answer; it says so once.
   */
  record(entry: ServedEntry, inputs: NamedTensors, outputs: NamedTensors, started: number): void {
    const key = `${entry.name}@${entry.version}`;
    try {
      const definition = byName(this.table, entry.name);
      const card = this.cards.get(key);
      if (definition === undefined || card === undefined || card === null) throw new Error('a model without a definition or a card');
      const answers = answersOf(definition, card, outputs);
      const describer = this.describers.get(key) ?? null;
      const described =
        describer === null || definition.monitoring === undefined
          ? []
          : definition.monitoring.inputsOf(inputs).map((item) => describer.describe(entry.name, item));
      answers.forEach((answer, i) => this.recorder.record(answer, { source: 'model-tier', started, features: described[i] ?? {} }));
    } catch (err) {
      if (this.warned.has(key)) return;
      this.warned.add(key);
      this.log.warn({ err, model: key }, 'prediction log: the runs of this model are not logged');
    }
  }
}

/** The tier's lines come with their input's numbers, worked out from the tensors by TierLog: none are left for the writer. */
const DESCRIBED_BEFORE: InputDescriber = { describe: () => ({}) };

/**
 * The model tier's log: the database DATABASE_URL names (or `store`), as the web role opens it,
 * and the TierLog the infer endpoint records with; null with PREDICTION_LOG=0.
 */
export async function openTierLog(
  config: Config,
  options: { log: Logger; metrics?: Metrics; store?: Store; table: readonly ModelDefinition[] },
): Promise<{ tierLog: TierLog; predictionLog: PredictionLog } | null> {
  if (!config.predictionLog) return null;
  const { table, ...rest } = options;
  const predictionLog = await openPredictionLog(config, { ...rest, describer: DESCRIBED_BEFORE });
  return { tierLog: new TierLog(predictionLog.recorder, table, config.modelsDir, options.log), predictionLog };
}
