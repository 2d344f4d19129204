/**
 * The "Wrong? Tell us the right answer" form under a result (issue 26), described once for the
 * server's template (views/partials/feedback.ejs) and the page script's drawing of it
 * (src/browser/page/feedback.ts): its wording, its choices and what the page says is kept.
 * No Node, no DOM.
 */

export const FEEDBACK_WORDS = {
  summary: 'Wrong? Tell us the right answer',
  legend: 'The right answer',
  value: 'The right value',
  note: 'Note (optional)',
  share: 'Share this input so the model can learn from it',
  submit: 'Send feedback',
  thanks: 'Thank you: your feedback was recorded.',
  shared: 'Your input is kept with it, for training.',
  notShared: 'Your input was not kept.',
  expired: 'Your input could not be kept: it is held only for a while after the prediction.',
  inBrowser: 'This answer was worked out in your browser: feedback sends the answer and what you write here, never your input.',
} as const;

/** Longest note, in characters (the API's limit: src/monitoring/feedback.ts). */
export const NOTE_MAX_CHARS = 1000;

/** What a form needs to know of its model and the server's settings. */
export interface FeedbackFormSpec {
  /** The model's name: the card the form is in. */
  model: string;
  /** A classifier's labels; empty for a value model (the form then asks for a number). */
  labels: readonly string[];
  /** KEEP_INPUTS_MINUTES (0: inputs are never held, so the share box is not offered). */
  keepMinutes: number;
  /** RETENTION_DAYS. */
  retentionDays: number;
  /**
   * The answer is the browser engine's: the server never had the input, so there is nothing to
   * share (no share box), and the page says what feedback sends instead.
   */
  inBrowser?: boolean;
}

export interface FeedbackForm {
  model: string;
  predictionId: string;
  /** Element ids start with this: the card's name (a card shows one result, so one form, at a time). */
  idPrefix: string;
  /** A classifier: one radio per label, the model's own answer unchecked and last. */
  choices: { value: string; id: string; text: string }[];
  /** A value model: a number field instead of the choices. */
  valueField: { id: string } | null;
  shareOffered: boolean;
  /** What the page says is kept, beside the form. */
  kept: string;
}

/** What is kept, in words a person reads beside the form. */
export function keptInWords(spec: Pick<FeedbackFormSpec, 'keepMinutes' | 'retentionDays'>): string {
  const log = `We keep each answer and a few numbers about its input (never the input itself) for ${spec.retentionDays} days.`;
  if (spec.keepMinutes === 0) return `${log} Inputs are not kept.`;
  return `${log} Your input is held for ${spec.keepMinutes} minutes so that you can share it here, then deleted unless you do.`;
}

/**
 * The form for one prediction. `predictedLabel`: the model's answer, offered last (a person who
 * says it was right after all may still pick it).
 */
export function feedbackForm(spec: FeedbackFormSpec, predictionId: string, predictedLabel?: string): FeedbackForm {
  const idPrefix = `${spec.model}-feedback`;
  const ordered = [...spec.labels.filter((l) => l !== predictedLabel), ...spec.labels.filter((l) => l === predictedLabel)];
  return {
    model: spec.model,
    predictionId,
    idPrefix,
    choices: ordered.map((label) => ({ value: label, id: `${idPrefix}-${label}`, text: label === predictedLabel ? `${label} (the model's answer was right)` : label })),
    valueField: spec.labels.length === 0 ? { id: `${idPrefix}-value` } : null,
    shareOffered: spec.keepMinutes > 0 && spec.inBrowser !== true,
    kept: spec.inBrowser === true ? `${FEEDBACK_WORDS.inBrowser} We keep them for ${spec.retentionDays} days.` : keptInWords(spec),
  };
}

/** What the person reads once their feedback is recorded. */
export function feedbackDone(inputShared: boolean, shareAsked: boolean): string {
  return `${FEEDBACK_WORDS.thanks} ${inputShared ? FEEDBACK_WORDS.shared : shareAsked ? FEEDBACK_WORDS.expired : FEEDBACK_WORDS.notShared}`;
}
