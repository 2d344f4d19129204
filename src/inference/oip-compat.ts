/**
 * Compatibility of a model tier with this app: does a model the tier serves (its OIP v2 metadata)
 * take the inputs and give the outputs its card describes (names, datatypes, shapes)? The
 * RemoteBackend (./remote) asks at start and for every version the tier swaps in; a difference is
 * worded here, naming the model and what differs.
 */
import type { ModelMetadata } from '../oip/protocol';
import { signatureProblem } from '../oip/signatures';
import type { ModelSpec } from './backend';

/** What the backend knows of one model on the tier: its card, the version running, what to send. */
export interface Plan {
  spec: ModelSpec;
  /** The shape the server declares for each input (to send [N] where it wants [N, 1]). */
  inputShapes: Map<string, number[]>;
  version: string;
  /** Set when the model tier serves something the predictors cannot use. */
  problem?: string;
}

/** The newest of a model's versions (numbered versions compare as numbers). */
export function newest(versions: readonly string[] | undefined): string | undefined {
  if (versions === undefined || versions.length === 0) return undefined;
  return [...versions].sort((a, b) => (/^\d+$/.test(a) && /^\d+$/.test(b) ? Number(a) - Number(b) : a.localeCompare(b))).at(-1);
}

/**
 * What differs between the server's metadata and the card (null: nothing); records in the plan
 * the input shapes to send.
 */
export function compatibilityProblem(plan: Plan, metadata: ModelMetadata): string | null {
  const name = plan.spec.name;
  if (!Array.isArray(metadata.inputs) || !Array.isArray(metadata.outputs)) return `${name}: the model server's metadata lists no inputs and outputs`;
  const problems: string[] = [];
  for (const [kind, cards, served] of [
    ['input', plan.spec.inputs ?? [], metadata.inputs],
    ['output', plan.spec.outputs ?? [], metadata.outputs],
  ] as const) {
    for (const card of cards) {
      const s = served.find((t) => t.name === card.name);
      const problem = signatureProblem(card, s, kind);
      if (problem !== null) problems.push(`${name}: ${problem}`);
      if (kind === 'input' && s !== undefined) plan.inputShapes.set(card.name, s.shape);
    }
    if (kind === 'input') {
      for (const s of served) if (!cards.some((c) => c.name === s.name)) problems.push(`${name}: the model server wants input "${s.name}", which the card does not have`);
    }
  }
  return problems.length === 0 ? null : problems.join('\n  ');
}
