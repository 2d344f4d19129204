/**
 * The multi-image results table on the page while a run goes on: the progress bar (the upload,
 * then the rows), the rows as answers arrive, the order button, and once done the summary, the
 * review line and the CSV (the batch command line's, src/batch/rows.ts, by src/batch/table.ts).
 * It also owns the form's error box, marked the same way as the page script marks it.
 */
import { type ImageResult, resultsCsv, reviewText, summarize, summaryText } from '../../batch/table';
import { COMPUTED } from '../../core/messages';
import type { Elements } from './elements';
import { fillRow, placeRow } from './rows';
import type { PostSink } from './runs';

export class BatchTable implements PostSink {
  private urls: string[] = [];
  private results: Array<ImageResult | undefined> = [];
  private uploadOrder = false;
  private readonly labels: string[];
  private readonly sortButton: HTMLButtonElement;

  constructor(private readonly el: Elements) {
    this.labels = (el.section.dataset.labels ?? '').split(',').filter((l) => l !== '');
    this.sortButton = document.createElement('button');
    this.sortButton.type = 'button';
    this.sortButton.className = 'batch-sort';
    this.sortButton.addEventListener('click', () => {
      this.uploadOrder = !this.uploadOrder;
      this.reorder();
    });
    el.csv.before(this.sortButton);
    this.reorder();
  }

  /** An empty table for `count` images, shown busy, its progress bar at zero. */
  start(count: number): void {
    const el = this.el;
    for (const url of this.urls) URL.revokeObjectURL(url);
    this.urls = [];
    this.results = new Array<ImageResult | undefined>(count);
    el.rows.replaceChildren();
    el.section.hidden = false;
    el.section.setAttribute('aria-busy', 'true');
    el.summary.textContent = '';
    el.review.textContent = '';
    el.csv.removeAttribute('href');
    el.csv.hidden = true;
    this.uploading(0);
    el.progressBox.hidden = false;
  }

  /** In browser mode nothing is uploaded: the bar counts rows only. */
  classifyingHere(): void {
    this.el.progressText.textContent = 'Classifying in this browser…';
  }

  /** The first part of the bar: the upload, in bytes (the server classifies as the images arrive). */
  uploading(fraction: number): void {
    const el = this.el;
    el.progress.max = 1;
    el.progress.value = fraction;
    el.progressText.textContent = fraction < 1 ? `Sending: ${Math.floor(fraction * 100)} %` : 'Sent; classifying…';
  }

  add(result: ImageResult, index: number, file: File | undefined): void {
    this.results[index] = result;
    const row = (this.el.template.content.firstElementChild as HTMLTableRowElement).cloneNode(
      true,
    ) as HTMLTableRowElement;
    fillRow(row, result, index, file, this.urls);
    placeRow(this.el.rows, row, this.uploadOrder);
    const done = this.results.filter((r) => r !== undefined).length;
    this.el.progress.max = this.results.length;
    this.el.progress.value = done;
    this.el.progressText.textContent = `${done} of ${this.results.length} classified`;
  }

  private reorder(): void {
    const rows = Array.from(this.el.rows.rows);
    this.el.rows.replaceChildren();
    for (const row of rows) placeRow(this.el.rows, row, this.uploadOrder);
    this.sortButton.textContent = this.uploadOrder ? 'Show least sure first' : 'Show in upload order';
    this.el.order.textContent = this.uploadOrder
      ? 'In upload order.'
      : 'Unreadable files first, then the least confident predictions.';
  }

  finish(): void {
    const el = this.el;
    const results = this.results.filter((r): r is ImageResult => r !== undefined);
    const summary = summarize(results, this.labels);
    el.section.removeAttribute('aria-busy');
    el.progressBox.hidden = true;
    el.summary.dataset.total = String(summary.total);
    el.summary.dataset.unreadable = String(summary.unreadable);
    el.summary.dataset.review = String(summary.review);
    el.summary.textContent = summaryText(summary);
    el.review.textContent = reviewText(summary);
    const url = URL.createObjectURL(new Blob([resultsCsv(results, this.labels)], { type: 'text/csv' }));
    this.urls.push(url);
    el.csv.href = url;
    el.csv.hidden = false;
    let computed = el.section.querySelector<HTMLElement>('.computed');
    if (computed === null) {
      computed = document.createElement('p');
      computed.className = 'computed';
      el.review.after(computed);
    }
    computed.textContent = COMPUTED[el.section.dataset.engine === 'browser' ? 'browser' : 'server'];
  }

  lost(done: number, total: number): void {
    this.fail(`The connection was lost after ${done} of ${total} images. Send the rest again.`, true);
  }

  fail(message: string, keepRows = false): void {
    this.el.section.removeAttribute('aria-busy');
    this.el.progressBox.hidden = true;
    if (!keepRows) this.el.section.hidden = true;
    this.showError(message);
  }

  /** The same error box and marking as the page script uses for this form. */
  showError(message: string): void {
    this.el.error.textContent = message;
    this.el.error.hidden = false;
    this.el.input.setAttribute('aria-invalid', 'true');
  }

  clearError(): void {
    this.el.error.textContent = '';
    this.el.error.hidden = true;
    this.el.input.removeAttribute('aria-invalid');
  }
}
