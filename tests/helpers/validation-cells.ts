/** A sample of the malaria validation split for the drift tests (issue 26, must hold 5). */
import path from 'node:path';
import { type CellImageFile, MALARIA_LABELS, findCellImages } from '../../training/malaria-data';
import { splitKey, validationIds } from '../../training/split';

export const DATA = path.join(__dirname, '..', '..', '..', 'shared', 'data');

/**
 * 250 cells of each label from the validation split, drawn at random (ordered by a hash of their id
 * with a seed of this test's own, not the split's). Not the first by file name: those 500 differ
 * in brightness from the training split (PSI 0.27, measured; neighbouring numbers presumably come
 * from the same slides), a real drift of the kind the page should show, not a sample of the split.
 */
export function validationSample(perLabel: number): CellImageFile[] {
  const files = findCellImages(DATA);
  const held = validationIds(files);
  return MALARIA_LABELS.flatMap((label) =>
    files
      .filter((f) => f.label === label && held.has(f.id))
      .map((f) => ({ f, key: splitKey(f.id, 26) }))
      .sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0))
      .slice(0, perLabel)
      .map(({ f }) => f),
  );
}

