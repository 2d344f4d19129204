/**
 * One row of the multi-image table: a clone of the server's <template> filled the way
 * views/partials/batch-row.ejs fills it (by the rules of src/batch/table.ts), and its place in the
 * reading order. All text goes through textContent: nothing is built as HTML from an answer.
 */
import { type ImageResult, type OrderKey, REVIEW_BELOW, compareLeastSure, needsReview } from '../../batch/table';
import { cellView, isCellExplanation } from '../../core/explanation';
import { formatPercent } from '../../core/format';
import { cellMap } from '../page/explanation';

/**
 * The cells views/partials/batch-row.ejs fills on the server, filled the same way. The image's
 * object URL, if one is made, is pushed to `urls` for the caller to revoke.
 */
export function fillRow(
  row: HTMLTableRowElement,
  result: ImageResult,
  index: number,
  file: File | undefined,
  urls: string[],
): void {
  const part = <T extends Element>(selector: string): T => row.querySelector(selector) as T;
  row.dataset.index = String(index);
  row.dataset.file = result.file;
  part<HTMLElement>('.num').textContent = String(index + 1);
  part<HTMLElement>('.file').textContent = result.file;
  const img = part<HTMLImageElement>('.thumb img');
  const flag = part<HTMLElement>('.flag');
  if ('error' in result) {
    row.classList.add('unreadable');
    row.dataset.error = result.error.code;
    img.remove();
    part('.label').remove();
    part('.confidence').remove();
    flag.textContent = 'Unreadable';
    part<HTMLElement>('.row-error').textContent = result.error.message;
    return;
  }
  // Its id in the prediction log (issue 26), as the server's row carries it: what feedback names it by.
  if (result.id !== undefined) row.dataset.predictionId = result.id;
  const confidence = result.confidence ?? 0;
  row.dataset.label = result.label ?? '';
  row.dataset.confidence = String(confidence);
  if (file !== undefined) {
    const url = URL.createObjectURL(file);
    urls.push(url);
    img.src = url;
  } else {
    img.remove();
  }
  // Asked for ("Classify and explain each cell"): the map over the thumbnail, as the server draws it.
  const explanation = (result as { explanation?: unknown }).explanation;
  if (isCellExplanation(explanation)) {
    const why = cellView(explanation);
    const hidden = document.createElement('span');
    hidden.className = 'visually-hidden';
    hidden.textContent = why.summary;
    part<HTMLElement>('.thumb').replaceChildren(cellMap(why, file === undefined ? null : img.src, ''), hidden);
  }
  part<HTMLElement>('.label').textContent = result.label ?? '';
  if (needsReview(result)) {
    row.classList.add('review');
    flag.textContent = 'Review';
  } else {
    flag.remove();
  }
  const meter = document.createElement('meter');
  meter.min = 0;
  meter.max = 1;
  meter.high = REVIEW_BELOW;
  meter.optimum = 1;
  meter.value = confidence;
  meter.setAttribute('aria-label', 'Confidence');
  meter.textContent = formatPercent(confidence);
  const pct = document.createElement('span');
  pct.className = 'pct';
  pct.textContent = formatPercent(confidence);
  part<HTMLElement>('.confidence').append(meter, ' ', pct);
  part('.row-error').remove();
}

/** A row's place in the reading order, from its data attributes (the server's rows have them too). */
function rowKey(row: HTMLTableRowElement): OrderKey {
  return {
    index: Number(row.dataset.index),
    confidence: row.dataset.error !== undefined ? null : Number(row.dataset.confidence),
  };
}

/** Inserts a row where the order puts it: least sure first (compareLeastSure), or post order. */
export function placeRow(rows: HTMLTableSectionElement, row: HTMLTableRowElement, uploadOrder: boolean): void {
  const k = rowKey(row);
  const before = Array.from(rows.rows).find((other) => {
    const o = rowKey(other);
    return (uploadOrder ? o.index - k.index : compareLeastSure(o, k)) > 0;
  });
  rows.insertBefore(row, before ?? null);
}
