/**
 * What the parts of `npm run bench:browser` (bench/browser.ts) share: where the data are, the
 * models, the page's globals as the in-page functions use them, typical inputs, and one
 * prediction in the page timed there.
 */
import fs from 'node:fs';
import path from 'node:path';
import type { Page } from 'playwright-core';
import { projectRoot } from '../src/config';
import type { Prediction } from '../src/predictors/types';
import { cellImage } from '../tests/helpers/app';
import { arg } from '../training/args';
import { readReviews } from '../training/imdb-data';
import { findCellImages } from '../training/malaria-data';
import { validationIds } from '../training/split';

export const ROOT = projectRoot();
export const DATA = path.join(ROOT, '..', 'shared', 'data');
export const MODELS = ['regression', 'malaria', 'sentiment'] as const;
export type Model = (typeof MODELS)[number];

export const RUNS = Number(arg('runs') ?? 50);

/**
 * The page's globals, as the in-page functions use them (no DOM types in this project): each file
 * with in-page functions declares `window` with this type (a declaration, so that the functions
 * sent to the page name the page's own `window`, not an import).
 */
export interface BenchWindow {
  mlForms: {
    predict(model: string, input: unknown, options: { engine: string }): Promise<Prediction>;
    ready(): Promise<void>;
  };
  bench(runs: number, threads: number, inputs: unknown): Promise<Record<string, number[]>>;
}
declare const window: BenchWindow;
declare const performance: { now(): number };

export const kb = (bytes: number): string => `${(bytes / 1024).toFixed(bytes < 10 * 1024 ? 1 : 0)} KB`;
export const ms = (v: number): string => (v < 10 ? v.toFixed(2) : v.toFixed(0));

/** Typical inputs: a real held-out cell and a review of median length when the data are here. */
export async function inputs(): Promise<{ x: number; image: Buffer; review: string; note: string }> {
  if (!fs.existsSync(path.join(DATA, 'malaria')) || !fs.existsSync(path.join(DATA, 'imdb'))) {
    return {
      x: 7.5,
      image: await cellImage('png', { size: 130, parasite: true }),
      review: 'A warm, funny and beautifully acted film. '.repeat(25),
      note: 'a synthetic 130×130 PNG cell; a made-up review of 1,050 characters',
    };
  }
  const files = findCellImages(DATA);
  const held = validationIds(files);
  const file = (files.find((f) => held.has(f.id)) as { file: string }).file;
  const texts = readReviews(DATA).map((r) => r.text);
  const review = [...texts].sort((a, b) => a.length - b.length)[Math.floor(texts.length / 2)] as string;
  return {
    x: 7.5,
    image: fs.readFileSync(file),
    review,
    note: `the held-out cell ${path.basename(file)}; a training review of median length (${review.length} characters)`,
  };
}

/** mlForms.predict in the page, timed there; `image` as base64 becomes a Blob first. */
export async function timedPredict(
  page: Page,
  model: Model,
  input: unknown,
  engine: string,
): Promise<{ at: number; took: number }> {
  return page.evaluate(
    async ([m, i, e]) => {
      const value = m === 'malaria' ? new Blob([Uint8Array.from(atob(i as string), (c) => c.charCodeAt(0))]) : i;
      const start = performance.now();
      await window.mlForms.predict(m, value, { engine: e });
      const at = performance.now();
      return { at, took: at - start };
    },
    [model, input, engine] as const,
  );
}
