/**
 * The models, in page order: the one table the routes, the page, the documents, the CLI, the model
 * tier's examples and the browser engine are derived from. Adding a model: a folder beside these
 * (src/models/<name>/index.ts, its predictor, views/partials/<name>.ejs and <name>-api.ejs), its
 * artifacts in models/<name>/, and one line here.
 */
import { malaria } from './malaria';
import type { ModelDefinition } from './model';
import { regression } from './regression';
import { sentiment } from './sentiment';

export const MODELS: readonly ModelDefinition[] = [regression, malaria, sentiment] as ModelDefinition[];

export const MODEL_NAMES: readonly string[] = MODELS.map((m) => m.name);
