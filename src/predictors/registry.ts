/**
 * Loads the three models once, from models/<name>/card.json + models/<name>/1/model.onnx, into an
 * inference backend, and hands out their predictors. Until load() has finished, get() answers 503
 * (and /readyz says not ready), so the server can listen before the models are in memory.
 */
import fs from 'node:fs';
import path from 'node:path';
import { type FormName, serviceUnavailable } from '../errors';
import type { ImageLimits } from '../images';
import type { InferenceBackend, ModelSpec } from '../inference/backend';
import { MalariaPredictor } from './malaria';
import { RegressionPredictor } from './regression';
import { SentimentPredictor } from './sentiment';
import { type ModelCard, ModelCardSchema } from './types';
import { z } from 'zod';

export const MODEL_NAMES: readonly FormName[] = ['regression', 'malaria', 'sentiment'];

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
  return { name: card.name, version: card.version, path: path.join(modelsDir, card.name, card.version, 'model.onnx') };
}

export class Registry {
  private predictors: Predictors | null = null;

  constructor(
    private readonly backend: InferenceBackend,
    private readonly modelsDir: string,
    private readonly limits: ImageLimits,
  ) {}

  get ready(): boolean {
    return this.predictors !== null;
  }

  get backendDescription(): string {
    return this.backend.description;
  }

  /** Reads the cards, loads every model into the backend, then builds the predictors. */
  async load(): Promise<void> {
    const cards = MODEL_NAMES.map((name) => readCard(this.modelsDir, name));
    await this.backend.load(cards.map((card) => modelSpec(this.modelsDir, card)));
    const [regression, malaria, sentiment] = cards as [ModelCard, ModelCard, ModelCard];
    this.predictors = {
      regression: new RegressionPredictor(regression, this.backend),
      malaria: new MalariaPredictor(malaria, this.backend, this.limits),
      sentiment: new SentimentPredictor(sentiment, this.backend),
    };
  }

  get<K extends FormName>(name: K): Predictors[K] {
    if (this.predictors === null) {
      throw serviceUnavailable('models_loading', 'The models are still loading. Try again in a few seconds.', 2);
    }
    return this.predictors[name];
  }

  /** The loaded cards, in page order; empty until ready. */
  cards(): ModelCard[] {
    return this.predictors === null ? [] : MODEL_NAMES.map((n) => (this.predictors as Predictors)[n].card);
  }

  async close(): Promise<void> {
    this.predictors = null;
    await this.backend.close();
  }
}
