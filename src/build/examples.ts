/**
 * The page's example images (issue 25): cells of the NIH data set's validation split, named by a
 * model's `page.examples` (`source`: the file under the data folder). Data files are not committed,
 * so the build copies them to public/<value> from ../shared/data when it is there; a build without
 * the data (a Heroku slug) has none, and the page then offers no example images
 * (src/http/examples.ts).
 */
import fs from 'node:fs';
import path from 'node:path';
import { MODELS } from '../models';

/** Where the build looks for the data set: beside the project, as training/args.ts does. */
export const dataDirOf = (root: string): string => path.join(root, '..', 'shared', 'data');

/** Copies every example image whose source is in `dataDir` to public/; the files copied. */
export function copyExampleImages(root: string, dataDir = dataDirOf(root), log: (line: string) => void = () => undefined): string[] {
  const copied: string[] = [];
  for (const model of MODELS) {
    for (const example of model.page.examples ?? []) {
      if (example.source === undefined) continue;
      const from = path.join(dataDir, example.source);
      if (!fs.existsSync(from)) {
        log(`example images: ${from} not found; the page offers no "${example.name}"`);
        continue;
      }
      const to = path.join(root, 'public', example.value);
      fs.mkdirSync(path.dirname(to), { recursive: true });
      fs.copyFileSync(from, to);
      fs.chmodSync(to, 0o644);
      copied.push(example.value);
    }
  }
  if (copied.length > 0) log(`example images: ${copied.length} copied from ${dataDir}`);
  return copied;
}
