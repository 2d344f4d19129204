/**
 * The results table of a post with several images, as views/partials/batch.ejs draws it for a
 * page without JavaScript: the rows least sure first, the summary in words, and the CSV download.
 */
import { type CellView, explanationView } from '../core/explanation';
import { type BatchSummary, leastSureFirst, needsReview, resultsCsv, reviewText, summarize, summaryText } from '../batch/table';
import type { ClassifiedImage } from './batch';

/** What views/partials/batch.ejs draws: the rows least sure first, and the summary. */
export interface BatchTable {
  /** `why`: the row's map over its thumbnail, when the post asked for explanations (`?explain=1`). */
  rows: Array<ClassifiedImage & { review: boolean; why: CellView | null }>;
  summary: BatchSummary;
  summaryText: string;
  reviewText: string;
  /** The "Download CSV" link: the rows as the batch command line writes them, as a data: URL. */
  csvHref: string;
}

export function batchTable(images: readonly ClassifiedImage[], labels: readonly string[]): BatchTable {
  const rows = images.map((image) => image.row);
  const summary = summarize(rows, labels);
  return {
    rows: leastSureFirst(rows).map((i) => {
      const image = images[i] as ClassifiedImage;
      const why = 'explanation' in image.row ? explanationView(image.row.explanation) : null;
      return { ...image, review: needsReview(image.row), why: why?.kind === 'cell' ? why : null };
    }),
    summary,
    summaryText: summaryText(summary),
    reviewText: reviewText(summary),
    // A data: URL, so the download works without JavaScript and without keeping anything on the server.
    csvHref: `data:text/csv;charset=utf-8,${encodeURIComponent(resultsCsv(rows, labels))}`,
  };
}
