/**
 * Finds the malaria cell images in either layout:
 *   ../shared/data/malaria/{parasitized,uninfected}/*.webp   (the project's sample)
 *   cell_images/{Parasitized,Uninfected}/*.png                (the public NIH download)
 * The id of an image is `<label>/<file name>`, stable across both layouts' casing.
 */
import fs from 'node:fs';
import path from 'node:path';
import { validationIds } from './split';

export const MALARIA_LABELS = ['parasitized', 'uninfected'] as const;
export type MalariaLabel = (typeof MALARIA_LABELS)[number];

export interface CellImageFile {
  id: string;
  label: MalariaLabel;
  file: string;
}

const IMAGE_EXT = /\.(png|webp|jpe?g|gif)$/i;

export function findCellImages(root: string): CellImageFile[] {
  const candidates = [root, path.join(root, 'malaria'), path.join(root, 'cell_images')];
  for (const base of candidates) {
    const dirs = MALARIA_LABELS.map((label) => {
      const hit = fs.existsSync(base)
        ? fs.readdirSync(base).find((d) => d.toLowerCase() === label && fs.statSync(path.join(base, d)).isDirectory())
        : undefined;
      return hit === undefined ? null : { label, dir: path.join(base, hit) };
    });
    if (dirs.every((d) => d !== null)) {
      const files: CellImageFile[] = [];
      for (const d of dirs) {
        if (d === null) continue;
        for (const name of fs.readdirSync(d.dir).sort()) {
          if (IMAGE_EXT.test(name)) files.push({ id: `${d.label}/${name}`, label: d.label, file: path.join(d.dir, name) });
        }
      }
      return files;
    }
  }
  throw new Error(
    `No cell images under ${root}: expected malaria/{parasitized,uninfected}/ or cell_images/{Parasitized,Uninfected}/`,
  );
}

/**
 * The first `perClass` held-out (validation) images of each label, parasitized first: the fixed
 * sample of real cells the batch check and the benchmarks send.
 */
export function heldOutCells(root: string, perClass: number): CellImageFile[] {
  const files = findCellImages(root);
  const held = validationIds(files);
  return MALARIA_LABELS.flatMap((label) => files.filter((f) => f.label === label && held.has(f.id)).slice(0, perClass));
}

/** Copies `cells` into `folder`/<label>/<file name>: labelled folders as a user has them. */
export function copyIntoLabelFolders(cells: CellImageFile[], folder: string): void {
  for (const label of MALARIA_LABELS) fs.mkdirSync(path.join(folder, label), { recursive: true });
  for (const f of cells) fs.copyFileSync(f.file, path.join(folder, f.label, path.basename(f.file)));
}
