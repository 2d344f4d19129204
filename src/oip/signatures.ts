/**
 * Signatures: what a model card promises against what an Open Inference Protocol v2 model server
 * declares (its model metadata), checked once at start-up, and the dims to send each tensor as.
 */
import type { TensorType } from '../inference/backend';
import type { TensorSpec } from '../predictors/types';
import { DATATYPES, type TensorMetadata, datatypeOf } from './protocol';

/** A card's dtype ("float32") as the protocol's datatype ("FP32"), or the card's word if unknown. */
export const datatypeOfCard = (dtype: string): string =>
  (Object.values(DATATYPES) as string[]).includes(dtype) ? datatypeOf(dtype as TensorType) : dtype;

/** Dimensions after the batch dimension, size-1 dimensions dropped: they do not change the layout. */
const squeezed = (shape: readonly number[]): number[] => shape.slice(1).filter((d) => d !== 1);

/**
 * Whether a tensor the card describes can be sent where the server declares `served`: the same
 * datatype, and the same dimensions after the batch dimension once size-1 dimensions are dropped
 * (a card's [-1] review list is a server's [-1, 1] batch of one-element rows, as Triton's
 * `reshape` declares it); a dimension the card fixes may be free (-1) on the server, not the
 * other way round. Returns what differs, in words, or null.
 */
export function signatureProblem(card: TensorSpec, served: TensorMetadata | undefined, kind: 'input' | 'output'): string | null {
  const want = `${datatypeOfCard(card.dtype)} [${card.shape.join(', ')}]`;
  if (served === undefined) return `${kind} "${card.name}": the card has ${want}; the model server has no such ${kind}`;
  const have = `${served.datatype} [${served.shape.join(', ')}]`;
  const a = squeezed(card.shape);
  const b = squeezed(served.shape);
  const dimsAgree = a.length === b.length && a.every((d, i) => d === b[i] || b[i] === -1 || (kind === 'output' && d === -1));
  if (served.datatype !== datatypeOfCard(card.dtype) || !dimsAgree) return `${kind} "${card.name}": the card has ${want}; the model server has ${have}`;
  return null;
}

/**
 * The dims to send for a tensor of `dims` where the server declares `served`: unchanged when the
 * ranks agree, else the server's size-1 dimensions put back around the tensor's others (checked
 * compatible by signatureProblem at start-up).
 */
export function dimsFor(dims: readonly number[], served: readonly number[]): number[] {
  if (dims.length === served.length) return [...dims];
  const rest = dims.slice(1).filter((d) => d !== 1);
  const out = [dims[0] as number];
  for (const d of served.slice(1)) out.push(d === 1 ? 1 : (rest.shift() ?? 1));
  return out;
}
