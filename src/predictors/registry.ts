/**
 * Loads the table's models once, from models/<name>/card.json + models/<name>/1/model.onnx, into an
 * inference backend, and hands out their predictors. Until load() has finished, get() answers 503
 * (and /readyz says not ready), so the server can listen before the models are in memory.
 */
import fs from 'node:fs';
import path from 'node:path';
import { unavailable } from '../errors';
import type { ImageLimits } from '../image-header';
import { decodeToRgb } from '../images';
import type { InferenceBackend, ModelSpec, ServedModel } from '../inference/backend';
import { MODELS } from '../models';
import { type ImagePredictor, type ModelDefinition, type PredictorEnv, byName } from '../models/model';
import { onnxPath } from '../oip/repository';
import { type ModelCard, ModelCardSchema, type Predictor } from './types';
import { z } from 'zod';

export { MODEL_NAMES } from '../models';

export function readCard(modelsDir: string, name: string): ModelCard {
  const file = path.join(modelsDir, name, 'card.json');
  const parsed = ModelCardSchema.safeParse(JSON.parse(fs.readFileSync(file, 'utf8')));
  if (!parsed.success) throw new Error(`${file}: not a model card: ${z.prettifyError(parsed.error)}`);
  if (parsed.data.name !== name) throw new Error(`${file}: not a card for "${name}"`);
  return parsed.data;
}

export function modelSpec(modelsDir: string, card: ModelCard, definition?: Pick<ModelDefinition, 'runsPerTurn'>): ModelSpec {
  return {
    name: card.name,
    version: card.version,
    path: onnxPath(modelsDir, card.name, card.version),
    inputs: card.inputs,
    outputs: card.outputs,
    ...(definition?.runsPerTurn === undefined ? {} : { runsPerTurn: definition.runsPerTurn }),
  };
}

export class Registry {
  private predictors: Map<string, Predictor<unknown>> | null = null;
  /** The table this app serves (src/models/index.ts, or a test's with a model of its own), in page order. */
  readonly definitions: readonly ModelDefinition[];
  /** What a remote model tier said it serves, by model (see `serve`). */
  private readonly servedModels = new Map<string, ServedModel>();
  /** This app's cards as load() read them: the predictors are written for their inputs and outputs. */
  private readonly localCards = new Map<string, ModelCard>();

  /**
   * `options.table`: the models (default MODELS); `options.models`: the names of those to load
   * (default all; the batch command loads the one it runs).
   */
  constructor(
    private readonly backend: InferenceBackend,
    private readonly modelsDir: string,
    private readonly limits: ImageLimits,
    options: { models?: readonly string[]; table?: readonly ModelDefinition[] } = {},
  ) {
    this.definitions = (options.table ?? MODELS).filter((m) => options.models === undefined || options.models.includes(m.name));
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
    const cards = this.definitions.map((m) => readCard(this.modelsDir, m.name));
    for (const card of cards) this.localCards.set(card.name, card);
    await this.backend.load(cards.map((card, i) => modelSpec(this.modelsDir, card, this.definitions[i])));
    const env: PredictorEnv = { decodeImage: (bytes) => decodeToRgb(bytes, this.limits) };
    this.predictors = new Map(this.definitions.map((m, i) => [m.name, m.createPredictor(cards[i] as ModelCard, this.backend, env)]));
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
    const predictor = this.predictors?.get(name) as { card: ModelCard } | undefined;
    const local = this.localCards.get(name);
    if (served === undefined || predictor === undefined || local === undefined) return;
    const remote = served.card;
    const same = (a: unknown, b: unknown): boolean => JSON.stringify(a) === JSON.stringify(b);
    const usable =
      remote !== undefined && remote.name === name && remote.version === served.version && same(remote.inputs, local.inputs) && same(remote.outputs, local.outputs);
    predictor.card = usable ? remote : { ...local, version: served.version };
  }

  get(name: string): Predictor<unknown> {
    if (this.predictors === null) {
      throw unavailable('models_loading', 'The models are still loading. Try again in a few seconds.', 2);
    }
    const predictor = this.predictors.get(name);
    if (predictor === undefined) throw new Error(`model "${name}" is not loaded`);
    return predictor;
  }

  /** The predictor of an image model (its input kind is "image"). */
  image(name: string): ImagePredictor {
    if (byName(this.definitions, name)?.input.kind !== 'image') throw new Error(`model "${name}" does not take images`);
    return this.get(name) as ImagePredictor;
  }

  /** The definition of a model of this table. */
  definition(name: string): ModelDefinition | undefined {
    return byName(this.definitions, name);
  }

  /** The loaded cards, in page order; empty until ready. */
  cards(): ModelCard[] {
    const loaded = this.predictors;
    return loaded === null ? [] : this.definitions.flatMap((m) => loaded.get(m.name)?.card ?? []);
  }

  async close(): Promise<void> {
    this.predictors = null;
    await this.backend.close();
  }
}
