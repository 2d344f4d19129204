/**
 * The held-out split, defined once for the TypeScript side (image preparation and the parity
 * check). Stratified and deterministic: within each class, items are ordered by
 * sha1(`${seed}:${id}`) and the first `fraction` of them are validation. training/common.py
 * implements the same rule for the sentiment data (Python reads the reviews directly); the card
 * stores a digest of the validation ids so the parity check can prove both sides agree.
 */
import { createHash } from 'node:crypto';

export const SPLIT_SEED = 42;
export const VALIDATION_FRACTION = 0.2;

export interface Labelled {
  id: string;
  label: string;
}

export function splitKey(id: string, seed = SPLIT_SEED): string {
  return createHash('sha1').update(`${seed}:${id}`).digest('hex');
}

/** Returns the set of ids held out for validation. */
export function validationIds<T extends Labelled>(items: T[], fraction = VALIDATION_FRACTION, seed = SPLIT_SEED): Set<string> {
  const byLabel = new Map<string, T[]>();
  for (const item of items) {
    const group = byLabel.get(item.label) ?? [];
    group.push(item);
    byLabel.set(item.label, group);
  }
  const held = new Set<string>();
  for (const group of byLabel.values()) {
    const sorted = group.map((it) => ({ id: it.id, key: splitKey(it.id, seed) })).sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0));
    const n = Math.round(sorted.length * fraction);
    for (const it of sorted.slice(0, n)) held.add(it.id);
  }
  return held;
}

/** sha256 of the sorted validation ids, one per line: recorded in each card. */
export function idsDigest(ids: Iterable<string>): string {
  return createHash('sha256').update([...ids].sort().join('\n')).digest('hex');
}

/** Stops unless `held` is the validation split `card` was measured on (its `data.validation_ids_sha256`). */
export function checkValidationDigest(card: { name: string; data: { validation_ids_sha256?: unknown } }, held: Iterable<string>): void {
  const actual = idsDigest(held);
  const expected = card.data.validation_ids_sha256;
  if (expected !== actual) {
    throw new Error(`${card.name}: the validation split here (${actual.slice(0, 12)}…) is not the card's (${String(expected).slice(0, 12)}…)`);
  }
}

/** The validation ids of `items`, checked to be the split `card` was measured on: a figure on another split would not compare. */
export function cardValidationIds<T extends Labelled>(card: { name: string; data: { validation_ids_sha256?: unknown } }, items: T[]): Set<string> {
  const held = validationIds(items);
  checkValidationDigest(card, held);
  return held;
}
