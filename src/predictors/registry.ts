/**
 * Loads the three models once, from models/<name>/card.json + models/<name>/1/model.onnx, into an
 * inference backend, and hands out their predictors. Until load() has finished, get() answers 503
 * (and /readyz says not ready), so the server can listen before the models are in memory.
 */
import fs from 'node:fs';
import path from 'node:path';
import { type FormName, unavailable } from '../errors';
import type { ImageLimits } from '../image-header';
import { decodeToRgb } from '../images';
import type { InferenceBackend, ModelSpec, ServedModel } from '../inference/backend';
import { onnxPath } from '../oip/repository';
import { MalariaPredictor } from './malaria';
import { RegressionPredictor } from './regression';
import { SentimentPredictor } from './sentiment';
import { MODEL_NAMES, type ModelCard, ModelCardSchema } from './types';
import { z } from 'zod';

export { MODEL_NAMES };

export interface Predictors {
  regression: RegressionPredictor;
  malaria: MalariaPredictor;
  sentiment: SentimentPredictor;
}

export function readCard(modelsDir: string, name: string): ModelCard {
  const file = path.join(modelsDir, name, 'card.json');
  const parsed = ModelCardSchema.safeParse(JSON.parse(fs.readFileSync(file, 'utf8')));
  if (!parsed.success) throw new Error(`${file}: not a model card: ${z.prettifyError(parsed.error)}`);
  if (parsed.data.name !== name) throw new Error(`${file}: not a card for "${name}"`);
  return parsed.data;
}

export function modelSpec(modelsDir: string, card: ModelCard): ModelSpec {
  return {
    name: card.name,
    version: card.version,
    path: onnxPath(modelsDir, card.name, card.version),
    inputs: card.inputs,
    outputs: card.outputs,
  };
}

export class Registry {
  private predictors: Partial<Predictors> | null = null;
  private readonly models: readonly FormName[];
  /** What a remote model tier said it serves, by model (see `serve`). */
  private readonly servedModels = new Map<string, ServedModel>();
  /** This app's cards as load() read them: the predictors are written for their inputs and outputs. */
  private readonly localCards = new Map<string, ModelCard>();

  /** `options.models`: the models to load (default all; the batch command loads the one it runs). */
  constructor(
    private readonly backend: InferenceBackend,
    private readonly modelsDir: string,
    private readonly limits: ImageLimits,
    options: { models?: readonly FormName[] } = {},
  ) {
    this.models = MODEL_NAMES.filter((m) => options.models === undefined || options.models.includes(m));
    backend.onServed?.((name, served) => {
      this.servedModels.set(name, served);
      this.serve(name);
    });
  }

  get ready(): boolean {
    return this.predictors !== null;
  }

  get backendDescription(): string {
    return this.backend.description;
  }

  /** Reads the cards, loads every model into the backend, then builds the predictors. */
  async load(): Promise<void> {
    const cards = this.models.map((name) => readCard(this.modelsDir, name));
    for (const card of cards) this.localCards.set(card.name, card);
    await this.backend.load(cards.map((card) => modelSpec(this.modelsDir, card)));
    const predictors: Partial<Predictors> = {};
    for (const card of cards) {
      if (card.name === 'regression') predictors.regression = new RegressionPredictor(card, this.backend);
      else if (card.name === 'malaria') predictors.malaria = new MalariaPredictor(card, this.backend, (bytes) => decodeToRgb(bytes, this.limits));
      else predictors.sentiment = new SentimentPredictor(card, this.backend);
    }
    this.predictors = predictors;
    for (const name of this.servedModels.keys()) this.serve(name);
  }

  /** Whether the models can be used now: loaded, and (for a remote model tier) that tier ready. */
  async backendReady(): Promise<boolean> {
    return this.ready && ((await this.backend.ready?.()) ?? true);
  }

  /**
   * A remote model tier decides which version of a model runs. The predictor then describes that
   * version: with the card the model tier serves for it, if it serves one for this very model and
   * version with the inputs and outputs of this app's card (the predictors are written for those);
   * otherwise with this app's card, its version changed to the one that runs.
   */
  private serve(name: string): void {
    const served = this.servedModels.get(name);
    const predictor = this.predictors?.[name as FormName];
    const local = this.localCards.get(name);
    if (served === undefined || predictor === undefined || local === undefined) return;
    const remote = served.card;
    const same = (a: unknown, b: unknown): boolean => JSON.stringify(a) === JSON.stringify(b);
    const usable =
      remote !== undefined && remote.name === name && remote.version === served.version && same(remote.inputs, local.inputs) && same(remote.outputs, local.outputs);
    predictor.card = usable ? remote : { ...local, version: served.version };
  }

  get<K extends FormName>(name: K): Predictors[K] {
    if (this.predictors === null) {
      throw unavailable('models_loading', 'The models are still loading. Try again in a few seconds.', 2);
    }
    const predictor = this.predictors[name];
    if (predictor === undefined) throw new Error(`model "${name}" is not loaded`);
    return predictor;
  }

  /** The loaded cards, in page order; empty until ready. */
  cards(): ModelCard[] {
    const loaded = this.predictors;
    return loaded === null ? [] : this.models.flatMap((n) => loaded[n]?.card ?? []);
  }

  async close(): Promise<void> {
    this.predictors = null;
    await this.backend.close();
  }
}
