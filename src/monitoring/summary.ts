/**
 * How the models do after deployment (issue 26), per model, over a window of the prediction log:
 * predictions per hour, the label mix, the confidence histogram beside the validation split's,
 * the drift of each input number against the training split's distribution (PSI, flagged above
 * DRIFT_THRESHOLD), and the feedback. /monitor draws it, /api/monitor answers it, /metrics
 * exports its gauges. Counts are over the whole window; the histogram and drift over its latest
 * RECENT_LIMIT predictions (a day of a busy server would be millions of rows to read).
 */
import { type Reference, type SplitReference, DRIFT_THRESHOLD, cardMonitoring, confidenceHistogram, drift, proportions } from '../core/drift';
import type { ModelCounts, Store } from '../database/types';
import type { ModelDefinition, MonitoredFeature } from '../models/model';
import type { Registry } from '../predictors/registry';
import type { ModelCard } from '../predictors/types';

/** Predictions read for the histogram and drift: the latest of the window. */
export const RECENT_LIMIT = 5000;
/**
 * Fewer recent values than this are not flagged, whatever their PSI: a handful of inputs always
 * look unlike ten bins of training data (one value alone scores about 8).
 */
export const MIN_FLAGGED_SAMPLE = 100;
/** The default window, in hours. */
export const DEFAULT_HOURS = 24;

type CardReference = SplitReference;

export interface FeatureDrift extends MonitoredFeature {
  /** PSI of the recent values against the training split's; null without recent values or a reference. */
  psi: number | null;
  flagged: boolean;
  reference: CardReference | null;
  /** The recent values' shares over the reference's bins. */
  recent: Reference | null;
}

export interface ModelSummary {
  version: string;
  predictions: number;
  feedback: number;
  /** Feedback that says the model was right after all. */
  feedback_agreeing: number;
  /** Of the predictions people gave feedback on, the share the model had right; null without feedback. */
  accuracy_on_feedback: number | null;
  per_hour: ModelCounts['perHour'];
  labels: Record<string, number>;
  sources: ModelCounts['sources'];
  /** Predictions the histogram and drift were computed over (the window's latest, at most RECENT_LIMIT). */
  recent: number;
  /** A classifier's confidence: the recent predictions' histogram and the validation split's. */
  confidence: { recent: Reference; reference: CardReference | null } | null;
  /** PSI by input number (the contract's `drift`: checks outside the repo read it). */
  drift: Record<string, number | null>;
  features: FeatureDrift[];
}

export interface Summary {
  hours: number;
  since: number;
  generated_at: number;
  drift_threshold: number;
  models: Record<string, ModelSummary>;
}

const round4 = (x: number): number => Math.round(x * 1e4) / 1e4;

/** One model's figures since `since`. */
async function summarizeModel(store: Store, definition: ModelDefinition, card: ModelCard, since: number): Promise<ModelSummary> {
  const [counts, recent] = await Promise.all([store.counts(definition.name, since), store.recent(definition.name, since, RECENT_LIMIT)]);
  const monitoring = cardMonitoring(card) ?? { features: {} };
  const features: FeatureDrift[] = (definition.monitoring?.features ?? []).map((feature) => {
    const ref = monitoring.features[feature.name] ?? null;
    const values = recent.map((p) => p.features[feature.name]).filter((v): v is number => typeof v === 'number' && Number.isFinite(v));
    if (ref === null || values.length === 0) return { ...feature, psi: null, flagged: false, reference: ref, recent: null };
    const value = round4(drift(ref, values));
    const recentShares: Reference = { edges: ref.edges, proportions: proportions(values, ref.edges).map(round4), n: values.length };
    return { ...feature, psi: value, flagged: value > DRIFT_THRESHOLD && values.length >= MIN_FLAGGED_SAMPLE, reference: ref, recent: recentShares };
  });
  const classifier = definition.output.kind === 'classification';
  const confidences = recent.map((p) => p.confidence).filter((c): c is number => c !== null);
  return {
    version: card.version,
    predictions: counts.predictions,
    feedback: counts.feedback,
    feedback_agreeing: counts.feedbackAgreeing,
    accuracy_on_feedback: counts.feedback === 0 ? null : round4(counts.feedbackAgreeing / counts.feedback),
    per_hour: counts.perHour,
    labels: counts.labels,
    sources: counts.sources,
    recent: recent.length,
    confidence: classifier ? { recent: confidenceHistogram(confidences, Math.max(2, card.labels.length)), reference: monitoring.confidence ?? null } : null,
    drift: Object.fromEntries(features.map((f) => [f.name, f.psi])),
    features,
  };
}

/** The models a registry serves now, each with its definition and the card of its served version. */
export function servedModels(registry: Pick<Registry, 'cards' | 'definition'>): { definition: ModelDefinition; card: ModelCard }[] {
  return registry.cards().flatMap((card) => {
    const definition = registry.definition(card.name);
    return definition === undefined ? [] : [{ definition, card }];
  });
}

/** Every model's figures over the last `hours`. */
export async function summarize(store: Store, models: readonly { definition: ModelDefinition; card: ModelCard }[], hours: number, now = Date.now()): Promise<Summary> {
  const since = now - hours * 3_600_000;
  const entries = await Promise.all(models.map(async (m) => [m.definition.name, await summarizeModel(store, m.definition, m.card, since)] as const));
  return { hours, since, generated_at: now, drift_threshold: DRIFT_THRESHOLD, models: Object.fromEntries(entries) };
}
