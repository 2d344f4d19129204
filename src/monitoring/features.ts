/**
 * The numbers the prediction log keeps of each input (issue 26), on the server: each model's own
 * `monitoring.describe` (src/models/<name>/monitoring.ts), given what it needs from the served
 * version's folder, loaded once here. This runs on every prediction, so everything a describer
 * reads is in memory before the first one (a vocabulary is a Set: one lookup per word).
 */
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import type { ModelDefinition, MonitoredFeature, MonitoringResources } from '../models/model';
import type { ModelCard } from '../predictors/types';

export interface Describer {
  /**
   * The numbers describing one input of `model`, by feature name: for an image model the decoded
   * RgbImage, for a fields model the predictor's input. {} for a model whose inputs are not
   * described; an error for a model this describer does not know.
   */
  describe(model: string, input: unknown): Record<string, number>;
  /** The model's features, in the order the page shows them; [] for one whose inputs are not described. */
  features(model: string): readonly MonitoredFeature[];
}

/** A file of words one a line (a vocabulary): as a Set. */
export async function readVocabulary(file: string): Promise<Set<string>> {
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (err) {
    // A version trained since the file was written: the model's monitoring.ts says what writes it.
    throw new Error(`${file}: cannot read the model's vocabulary (extracted from its graph by a training script)`, {
      cause: err,
    });
  }
  const words = new Set(text.split('\n').filter((w) => w !== ''));
  if (words.size === 0) throw new Error(`${file}: no words`);
  return words;
}

/**
 * A describer for `definitions`, each with the resources of its served version (`cards`: one per
 * model that has monitoring, by name; its `version` picks the folder models/<name>/<version>/).
 * Fails when a model's monitoring needs a file its version does not have: the message names it.
 */
export async function loadDescriber(
  definitions: readonly ModelDefinition[],
  modelsDir: string,
  cards: readonly Pick<ModelCard, 'name' | 'version'>[],
): Promise<Describer> {
  const entries = await Promise.all(
    definitions.map(async (definition) => {
      const monitoring = definition.monitoring;
      const resources: MonitoringResources = {};
      if (monitoring?.vocabularyFile !== undefined) {
        const card = cards.find((c) => c.name === definition.name);
        if (card === undefined)
          throw new Error(`no card for "${definition.name}": its monitoring reads a file of the served version`);
        const file = path.join(modelsDir, definition.name, card.version, monitoring.vocabularyFile);
        resources.vocabulary = await readVocabulary(file);
      }
      return [definition.name, { monitoring, resources }] as const;
    }),
  );
  const byModel = new Map(entries);
  const entry = (model: string) => {
    const found = byModel.get(model);
    if (found === undefined) throw new Error(`no model "${model}" to describe`);
    return found;
  };
  return {
    describe(model, input) {
      const { monitoring, resources } = entry(model);
      return monitoring === undefined ? {} : monitoring.describe(input, resources);
    },
    features: (model) => entry(model).monitoring?.features ?? [],
  };
}
