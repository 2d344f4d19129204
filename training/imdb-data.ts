/**
 * Reads the labelled IMDB training reviews in either layout:
 *   ../shared/data/imdb/train.jsonl.gz        (the project's copy: {"id","text","label",...} a line)
 *   aclImdb/train/{pos,neg}/<id>_<rating>.txt  (the public download)
 * The id of a review is `train/<pos|neg>/<file name without .txt>` in both.
 */
import fs from 'node:fs';
import path from 'node:path';
import zlib from 'node:zlib';

export interface Review {
  id: string;
  text: string;
  label: string;
}

export function readReviews(dataRoot: string): Review[] {
  const jsonl = [path.join(dataRoot, 'imdb', 'train.jsonl.gz'), path.join(dataRoot, 'train.jsonl.gz')].find((p) =>
    fs.existsSync(p),
  );
  if (jsonl !== undefined) {
    return zlib
      .gunzipSync(fs.readFileSync(jsonl))
      .toString('utf8')
      .split('\n')
      .filter((line) => line.trim() !== '')
      .map((line) => JSON.parse(line) as Review);
  }
  const base = [path.join(dataRoot, 'aclImdb'), dataRoot].find((p) => fs.existsSync(path.join(p, 'train', 'pos')));
  if (base === undefined) throw new Error(`no IMDB reviews under ${dataRoot}`);
  const reviews: Review[] = [];
  for (const [dir, label] of [
    ['pos', 'positive'],
    ['neg', 'negative'],
  ] as const) {
    for (const name of fs.readdirSync(path.join(base, 'train', dir))) {
      if (!name.endsWith('.txt')) continue;
      reviews.push({
        id: `train/${dir}/${name.slice(0, -4)}`,
        label,
        text: fs.readFileSync(path.join(base, 'train', dir, name), 'utf8'),
      });
    }
  }
  return reviews;
}
