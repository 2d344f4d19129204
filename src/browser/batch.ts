/**
 * Many cell images at once, with JavaScript: several files picked, dropped (a folder too) or
 * pasted on the image card go to POST /api/predict/malaria/batch, and each answer becomes a row of
 * the results table as it streams in, with a progress bar, while the form stays usable (sending
 * again replaces the run). One file is left to the page script (src/browser/page.ts), as before.
 *
 * The table is the server's (views/partials/batch.ejs): rows are clones of its <template>, filled
 * by the rules the server draws its own table with (src/batch/table.ts); the CSV is the batch
 * command line's (src/batch/rows.ts). Bundled by esbuild into public/batch.js.
 *
 * The page script listens on the form, the input and the card; this module listens on the document in the
 * capture phase, so it sees each event first and keeps the several-files ones for itself.
 */
import { batchTooLarge, tooManyFiles } from '../batch/limits';
import {
  type ImageResult,
  type OrderKey,
  REVIEW_BELOW,
  compareLeastSure,
  needsReview,
  resultsCsv,
  reviewText,
  summarize,
  summaryText,
} from '../batch/table';
import { formatPercent, sizeText } from '../core/format';
import { COMPUTED, NETWORK_ERROR, NO_DATA_TRANSFER, serverFailed } from '../core/messages';
import type { MlForms } from './engine';

/** What a folder may hold that is worth sending; anything else in a dropped folder is left out. */
const IMAGE_NAME = /\.(png|jpe?g|webp|gif)$/i;

interface Chosen {
  file: File;
  /** The name sent: a dropped folder's files keep their path inside it. */
  name: string;
}

interface Elements {
  form: HTMLFormElement;
  input: HTMLInputElement;
  card: HTMLElement;
  section: HTMLElement;
  template: HTMLTemplateElement;
  rows: HTMLTableSectionElement;
  summary: HTMLElement;
  review: HTMLElement;
  progressBox: HTMLElement;
  progress: HTMLProgressElement;
  progressText: HTMLElement;
  csv: HTMLAnchorElement;
  order: HTMLElement;
  error: HTMLElement;
  chosenNote: HTMLElement;
}

function elements(): Elements | null {
  const get = <T extends Element>(selector: string): T | null => document.querySelector<T>(selector);
  const form = get<HTMLFormElement>('form[data-model="malaria"]');
  const section = get<HTMLElement>('#malaria-batch');
  const template = get<HTMLTemplateElement>('#malaria-batch-row');
  if (form === null || section === null || template === null) return null;
  const chosenNote = document.createElement('p');
  chosenNote.className = 'batch-chosen';
  chosenNote.id = 'image-chosen';
  chosenNote.hidden = true;
  get('#image-drop')?.append(chosenNote);
  return {
    form,
    input: get<HTMLInputElement>('#image') as HTMLInputElement,
    card: get<HTMLElement>('#malaria') as HTMLElement,
    section,
    template,
    rows: get<HTMLTableSectionElement>('#malaria-batch-rows') as HTMLTableSectionElement,
    summary: get<HTMLElement>('#malaria-batch-summary') as HTMLElement,
    review: get<HTMLElement>('#malaria-batch-review') as HTMLElement,
    progressBox: section.querySelector<HTMLElement>('.batch-progress') as HTMLElement,
    progress: get<HTMLProgressElement>('#malaria-batch-progress') as HTMLProgressElement,
    progressText: section.querySelector<HTMLElement>('.batch-progress-text') as HTMLElement,
    csv: section.querySelector<HTMLAnchorElement>('a.csv') as HTMLAnchorElement,
    order: section.querySelector<HTMLElement>('.batch-order') as HTMLElement,
    error: get<HTMLElement>('#malaria-error') as HTMLElement,
    chosenNote,
  };
}

/** Every file under a dropped folder, with its path inside the drop. */
async function filesIn(entry: FileSystemEntry): Promise<Chosen[]> {
  if (entry.isFile) {
    const file = await new Promise<File>((resolve, reject) => (entry as FileSystemFileEntry).file(resolve, reject));
    return [{ file, name: entry.fullPath.replace(/^\/+/, '') || file.name }];
  }
  if (!entry.isDirectory) return [];
  const reader = (entry as FileSystemDirectoryEntry).createReader();
  const children: FileSystemEntry[] = [];
  // readEntries answers in pieces (100 at a time in Chromium) until it answers none.
  for (;;) {
    const batch = await new Promise<FileSystemEntry[]>((resolve, reject) => reader.readEntries(resolve, reject));
    if (batch.length === 0) break;
    children.push(...batch);
  }
  children.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  const nested = await Promise.all(children.map(filesIn));
  return nested.flat().filter((c) => IMAGE_NAME.test(c.name));
}

/** The drop's files, folders opened; null when it is one plain file (the page script's case). */
function droppedEntries(data: DataTransfer): FileSystemEntry[] | null {
  const entries = Array.from(data.items)
    .filter((item) => item.kind === 'file')
    .map((item) => item.webkitGetAsEntry?.() ?? null);
  const plainFiles = data.files.length;
  if (entries.some((e) => e === null)) return plainFiles > 1 ? [] : null;
  if (plainFiles <= 1 && !entries.some((e) => e?.isDirectory)) return null;
  return entries as FileSystemEntry[];
}

class BatchView {
  private chosen: Chosen[] = [];
  private run: XMLHttpRequest | null = null;
  /** Which run in this browser is current: sending again stops the one before. */
  private localRun = 0;
  private urls: string[] = [];
  private results: Array<ImageResult | undefined> = [];
  private uploadOrder = false;
  private readonly labels: string[];
  private readonly maxFiles: number;
  private readonly maxBytes: number;
  private readonly sortButton: HTMLButtonElement;

  constructor(private readonly el: Elements) {
    this.labels = (el.section.dataset.labels ?? '').split(',').filter((l) => l !== '');
    this.maxFiles = Number(el.form.dataset.maxFiles) || Infinity;
    this.maxBytes = Number(el.form.dataset.maxBatchBytes) || Infinity;
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

  listen(): void {
    const { input, form, card } = this.el;
    document.addEventListener(
      'change',
      (event) => {
        if (event.target !== input) return;
        const files = Array.from(input.files ?? []);
        if (files.length <= 1) {
          this.choose([]);
          return;
        }
        event.stopPropagation();
        this.choose(files.map((file) => ({ file, name: file.name })));
      },
      true,
    );
    document.addEventListener(
      'drop',
      (event) => {
        if (!(event.target instanceof Node) || !card.contains(event.target) || event.dataTransfer === null) return;
        const entries = droppedEntries(event.dataTransfer);
        if (entries === null) return;
        event.preventDefault();
        event.stopPropagation();
        card.classList.remove('dragover');
        const direct = Array.from(event.dataTransfer.files);
        const found =
          entries.length === 0
            ? Promise.resolve(direct.map((file) => ({ file, name: file.name })))
            : Promise.all(entries.map(filesIn)).then((lists) => lists.flat());
        void found.then(
          (chosen) => this.take(chosen),
          () => this.showError('The dropped folder could not be read. Choose the images with the file picker.'),
        );
      },
      true,
    );
    document.addEventListener(
      'paste',
      (event) => {
        const files = Array.from(event.clipboardData?.files ?? []);
        if (files.length <= 1) return;
        event.preventDefault();
        event.stopPropagation();
        this.take(files.map((file, i) => ({ file, name: file.name || `pasted ${i + 1}.png` })));
      },
      true,
    );
    document.addEventListener(
      'submit',
      (event) => {
        if (event.target !== form || this.chosen.length <= 1) return;
        event.preventDefault();
        event.stopPropagation();
        this.send();
      },
      true,
    );
  }

  /** Files from a drop or paste: they become the input's files too, so the form's own checks see them. */
  private take(chosen: Chosen[]): void {
    if (chosen.length === 0) {
      this.showError('No PNG, JPEG, WebP or GIF images were found in what was dropped.');
      return;
    }
    try {
      const dt = new DataTransfer();
      for (const c of chosen) dt.items.add(c.file);
      this.el.input.files = dt.files;
    } catch {
      this.showError(NO_DATA_TRANSFER);
      return;
    }
    this.choose(chosen);
    if (chosen.length === 1) this.el.input.dispatchEvent(new Event('change', { bubbles: true }));
  }

  private choose(chosen: Chosen[]): void {
    this.chosen = chosen;
    const note = this.el.chosenNote;
    if (chosen.length <= 1) {
      note.hidden = true;
      return;
    }
    // The page script's one-image preview no longer describes what will be sent.
    const preview = document.getElementById('image-preview');
    if (preview !== null) preview.hidden = true;
    this.clearError();
    const bytes = chosen.reduce((sum, c) => sum + c.file.size, 0);
    note.textContent = `${chosen.length} images chosen (${sizeText(bytes)}): ready to classify.`;
    note.hidden = false;
  }

  /**
   * Sends the batch with XMLHttpRequest, not fetch: it reports the upload's progress (on a real
   * network the upload takes longest, and the server answers only once it has the whole post) and
   * hands over the answer as it arrives, one element per line (src/http/routes.ts).
   */
  private send(): void {
    const chosen = this.chosen;
    if (chosen.length > this.maxFiles) return this.showError(tooManyFiles(this.maxFiles).message);
    if (chosen.reduce((sum, c) => sum + c.file.size, 0) > this.maxBytes) {
      return this.showError(batchTooLarge(this.maxBytes).message);
    }
    this.run?.abort();
    this.run = null;
    this.localRun++;
    // In browser mode (src/browser/engine.ts) the images are classified here, not sent.
    const mlForms = window.mlForms;
    const engine = mlForms?.engine ?? 'server';
    this.el.section.dataset.engine = engine;
    if (mlForms !== undefined && engine === 'browser') {
      void this.classifyHere(chosen, mlForms);
      return;
    }
    const xhr = new XMLHttpRequest();
    this.run = xhr;
    this.clearError();
    this.start(chosen);
    const body = new FormData();
    for (const c of chosen) body.append('image', c.file, c.name);

    let read = 0; // characters of the answer already turned into rows
    let index = 0;
    let closed = false;
    const consume = (complete: boolean): void => {
      const text = xhr.responseText;
      const end = complete ? text.length : text.lastIndexOf('\n') + 1;
      if (end <= read) return;
      for (const raw of text.slice(read, end).split('\n')) {
        const line = raw.trim().replace(/,$/, '');
        if (line === '' || line === '{"predictions":[') continue;
        if (line === ']}') closed = true;
        else this.add(JSON.parse(line) as ImageResult, index, chosen[index++]?.file);
      }
      read = end;
    };
    xhr.upload.addEventListener('progress', (e) => {
      if (e.lengthComputable && this.run === xhr) this.uploading(e.loaded / e.total);
    });
    xhr.upload.addEventListener('load', () => {
      if (this.run === xhr) this.uploading(1);
    });
    xhr.addEventListener('progress', () => {
      if (this.run === xhr && xhr.status === 200) consume(false);
    });
    xhr.addEventListener('load', () => {
      if (this.run !== xhr) return;
      if (xhr.status !== 200) {
        let message: string | undefined;
        try {
          message = (JSON.parse(xhr.responseText) as { error?: { message?: string } }).error?.message;
        } catch {
          // not our JSON (a proxy's page): say so below
        }
        this.fail(message ?? serverFailed(xhr.status));
        return;
      }
      consume(true);
      if (closed && index === chosen.length) this.finish();
      else this.lost(index, chosen.length);
    });
    xhr.addEventListener('error', () => {
      if (this.run !== xhr) return;
      if (index === 0) this.fail(NETWORK_ERROR);
      else this.lost(index, chosen.length);
    });
    xhr.open('POST', '/api/predict/malaria/batch');
    xhr.setRequestHeader('Accept', 'application/json');
    xhr.send(body);
  }

  /** The same rows from the browser engine, one image at a time, as the batch API would answer. */
  private async classifyHere(chosen: Chosen[], mlForms: MlForms): Promise<void> {
    const run = this.localRun;
    this.clearError();
    this.start(chosen);
    this.el.progressText.textContent = 'Classifying in this browser…';
    for (const [index, c] of chosen.entries()) {
      let result: ImageResult;
      try {
        result = { file: c.name, ...(await mlForms.predict('malaria', c.file, { engine: 'browser' })) };
      } catch (err) {
        const { code, message } = err as { code: string; message: string }; // mlForms rejects with the API's error
        result = { file: c.name, error: { code, message } };
      }
      if (run !== this.localRun) return; // sent again meanwhile
      this.add(result, index, c.file);
    }
    this.finish();
  }

  private lost(done: number, total: number): void {
    this.fail(`The connection was lost after ${done} of ${total} images. Send the rest again.`, true);
  }

  private start(chosen: Chosen[]): void {
    const el = this.el;
    for (const url of this.urls) URL.revokeObjectURL(url);
    this.urls = [];
    this.results = new Array<ImageResult | undefined>(chosen.length);
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

  /** The first part of the bar: the upload, in bytes (the server classifies as the images arrive). */
  private uploading(fraction: number): void {
    const el = this.el;
    el.progress.max = 1;
    el.progress.value = fraction;
    el.progressText.textContent = fraction < 1 ? `Sending: ${Math.floor(fraction * 100)} %` : 'Sent; classifying…';
  }

  private add(result: ImageResult, index: number, file: File | undefined): void {
    this.results[index] = result;
    const row = (this.el.template.content.firstElementChild as HTMLTableRowElement).cloneNode(
      true,
    ) as HTMLTableRowElement;
    this.fill(row, result, index, file);
    this.place(row);
    const done = this.results.filter((r) => r !== undefined).length;
    this.el.progress.max = this.results.length;
    this.el.progress.value = done;
    this.el.progressText.textContent = `${done} of ${this.results.length} classified`;
  }

  /** The cells views/partials/batch-row.ejs fills on the server, filled the same way. */
  private fill(row: HTMLTableRowElement, result: ImageResult, index: number, file: File | undefined): void {
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
    const confidence = result.confidence ?? 0;
    row.dataset.label = result.label ?? '';
    row.dataset.confidence = String(confidence);
    if (file !== undefined) {
      const url = URL.createObjectURL(file);
      this.urls.push(url);
      img.src = url;
    } else {
      img.remove();
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
  private static key(row: HTMLTableRowElement): OrderKey {
    return {
      index: Number(row.dataset.index),
      confidence: row.dataset.error !== undefined ? null : Number(row.dataset.confidence),
    };
  }

  /** Inserts a row where the current order puts it: least sure first (compareLeastSure), or post order. */
  private place(row: HTMLTableRowElement): void {
    const k = BatchView.key(row);
    const before = Array.from(this.el.rows.rows).find((other) => {
      const o = BatchView.key(other);
      return (this.uploadOrder ? o.index - k.index : compareLeastSure(o, k)) > 0;
    });
    this.el.rows.insertBefore(row, before ?? null);
  }

  private reorder(): void {
    const rows = Array.from(this.el.rows.rows);
    this.el.rows.replaceChildren();
    for (const row of rows) this.place(row);
    this.sortButton.textContent = this.uploadOrder ? 'Show least sure first' : 'Show in upload order';
    this.el.order.textContent = this.uploadOrder
      ? 'In upload order.'
      : 'Unreadable files first, then the least confident predictions.';
  }

  private finish(): void {
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

  private fail(message: string, keepRows = false): void {
    this.el.section.removeAttribute('aria-busy');
    this.el.progressBox.hidden = true;
    if (!keepRows) this.el.section.hidden = true;
    this.showError(message);
  }

  /** The same error box and marking as the page script uses for this form. */
  private showError(message: string): void {
    this.el.error.textContent = message;
    this.el.error.hidden = false;
    this.el.input.setAttribute('aria-invalid', 'true');
  }

  private clearError(): void {
    this.el.error.textContent = '';
    this.el.error.hidden = true;
    this.el.input.removeAttribute('aria-invalid');
  }
}

function init(): void {
  const el = elements();
  if (el === null) return;
  new BatchView(el).listen();
}

if (document.readyState === 'loading') document.addEventListener('DOMContentLoaded', init);
else init();
