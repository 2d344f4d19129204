/**
 * A model's examples that the page can offer: a fields model's all; an image model's those whose
 * file the build put under public/ (src/build/examples.ts copies them from the data set, which is
 * not committed). Looked up once per process: the files change only with a build.
 */
import fs from 'node:fs';
import path from 'node:path';
import { projectRoot } from '../config';
import type { ModelDefinition } from '../models/model';

type Example = NonNullable<ModelDefinition['page']['examples']>[number];

const offered = new Map<string, readonly Example[]>();

export function offeredExamples(model: ModelDefinition): readonly Example[] {
  let list = offered.get(model.name);
  if (list === undefined) {
    const all = model.page.examples ?? [];
    list = model.input.kind === 'image' ? all.filter((e) => fs.existsSync(path.join(projectRoot(), 'public', e.value))) : all;
    offered.set(model.name, list);
  }
  return list;
}
