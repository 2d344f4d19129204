/**
 * Known answers: when a batch's inputs carry their true label (images in folders named after the
 * labels, or a --label-field column), the predictions are scored: accuracy, recall per class and
 * the confusion matrix for a classifier; mean absolute and root-mean-square error for a model that answers a value.
 *
 * Pure: no Node APIs.
 */
import { count } from '../units';

export class KnownAnswers {
  private readonly confusion: number[][];
  private readonly index: Map<string, number>;
  private scored = 0;
  private correct = 0;
  private errors = 0;
  private readonly unknownLabels = new Map<string, number>();
  private absError = 0;
  private squaredError = 0;

  /** `labels` from the model's card; none means a model that answers a value. */
  constructor(readonly labels: readonly string[]) {
    this.confusion = labels.map(() => labels.map(() => 0));
    this.index = new Map(labels.map((l, i) => [l.toLowerCase(), i]));
  }

  get isValueModel(): boolean {
    return this.labels.length === 0;
  }

  /** Inputs that had a known answer so far (scored or not). */
  get seen(): number {
    return this.scored + this.errors + [...this.unknownLabels.values()].reduce((a, b) => a + b, 0);
  }

  /** The true label (or value, for a value model) given for an input, and what it got. */
  add(truth: string, outcome: { label?: string; value?: number } | null): void {
    if (this.isValueModel) {
      const expected = Number(truth);
      if (truth.trim() === '' || !Number.isFinite(expected)) {
        this.unknownLabels.set(truth, (this.unknownLabels.get(truth) ?? 0) + 1);
      } else if (outcome?.value === undefined) {
        this.errors++;
      } else {
        this.scored++;
        this.absError += Math.abs(outcome.value - expected);
        this.squaredError += (outcome.value - expected) ** 2;
      }
      return;
    }
    const t = this.index.get(truth.trim().toLowerCase());
    if (t === undefined) {
      this.unknownLabels.set(truth, (this.unknownLabels.get(truth) ?? 0) + 1);
      return;
    }
    const p = outcome?.label === undefined ? undefined : this.index.get(outcome.label.toLowerCase());
    if (p === undefined) {
      this.errors++;
      return;
    }
    this.scored++;
    if (p === t) this.correct++;
    (this.confusion[t] as number[])[p] = ((this.confusion[t] as number[])[p] as number) + 1;
  }

  /** Accuracy over the inputs with a known label and a prediction; NaN when there are none. */
  get accuracy(): number {
    return this.correct / this.scored;
  }

  /** The report a person reads at the end of a run (several lines, no trailing line break). */
  format(): string {
    const pct = (n: number, d: number): string => (d === 0 ? '–' : `${((100 * n) / d).toFixed(2)} %`);
    const lines = [`Known answers: ${count(this.seen)} inputs`];
    if (this.errors > 0) lines.push(`  ${count(this.errors)} got an error instead of a prediction and are left out`);
    for (const [label, n] of this.unknownLabels) {
      const what = this.isValueModel
        ? 'is not a number'
        : `is not one of the model's labels (${this.labels.join(', ')})`;
      lines.push(`  ${count(n)} left out: the given ${this.isValueModel ? 'value' : 'label'} "${label}" ${what}`);
    }
    if (this.isValueModel) {
      if (this.scored > 0) {
        lines.push(
          `mean absolute error ${(this.absError / this.scored).toPrecision(4)}, ` +
            `root-mean-square error ${Math.sqrt(this.squaredError / this.scored).toPrecision(4)} over ${count(this.scored)}`,
        );
      }
      return lines.join('\n');
    }
    lines.push(`accuracy ${pct(this.correct, this.scored)} (${count(this.correct)} of ${count(this.scored)})`);
    const recall = this.labels.map((l, i) => {
      const row = this.confusion[i] as number[];
      const total = row.reduce((a, b) => a + b, 0);
      return `${l} ${pct(row[i] as number, total)} (${count(row[i] as number)} of ${count(total)})`;
    });
    lines.push(`recall   ${recall.join('   ')}`);
    lines.push('confusion matrix (rows: true label, columns: predicted)');
    const width =
      Math.max(...this.labels.map((l) => l.length), ...this.confusion.flat().map((n) => count(n).length)) + 2;
    lines.push(' '.repeat(width + 2) + this.labels.map((l) => l.padStart(width)).join(''));
    this.labels.forEach((l, i) => {
      lines.push(
        `  ${l.padEnd(width)}${(this.confusion[i] as number[]).map((n) => count(n).padStart(width)).join('')}`,
      );
    });
    return lines.join('\n');
  }
}
