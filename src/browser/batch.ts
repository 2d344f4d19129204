/**
 * Many images at once, with JavaScript: several files picked, dropped (a folder too) or pasted on
 * an image model's card go to POST /api/predict/<name>/batch, and each answer becomes a row of
 * the results table as it streams in, with a progress bar, while the form stays usable (sending
 * again replaces the run). One file is left to the page script (src/browser/page.ts), as before.
 *
 * The table is the server's (views/partials/batch.ejs): rows are clones of its <template>, filled
 * by the rules the server draws its own table with (src/batch/table.ts); the CSV is the batch
 * command line's (src/batch/rows.ts). Bundled by esbuild into public/batch.js. This module picks
 * the files and starts runs; src/browser/batch/ holds the files (files.ts), the runs (runs.ts)
 * and the table (table.ts, rows.ts).
 *
 * The page script listens on the form, the input and the card; this module listens on the document in the
 * capture phase, so it sees each event first and keeps the several-files ones for itself.
 */
import { batchTooLarge, tooManyFiles } from '../batch/limits';
import { sizeText } from '../core/format';
import { NO_DATA_TRANSFER } from '../core/messages';
import { type Elements, elements } from './batch/elements';
import { type Chosen, droppedEntries, filesIn } from './batch/files';
import { classifyInBrowser, type Model, postBatch } from './batch/runs';
import { BatchTable } from './batch/table';

class BatchView {
  private chosen: Chosen[] = [];
  /** Stops the current run: sending again stops the one before. */
  private stop: (() => void) | null = null;
  private readonly maxFiles: number;
  private readonly maxBytes: number;

  /** `takesPaste`: several images pasted anywhere on the page are this form's (the first image model's). */
  constructor(
    private readonly el: Elements,
    private readonly table: BatchTable,
    private readonly takesPaste: boolean,
  ) {
    this.maxFiles = Number(el.form.dataset.maxFiles) || Infinity;
    this.maxBytes = Number(el.form.dataset.maxBatchBytes) || Infinity;
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
          () => this.table.showError('The dropped folder could not be read. Choose the images with the file picker.'),
        );
      },
      true,
    );
    document.addEventListener(
      'paste',
      (event) => {
        if (!this.takesPaste) return;
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
        // "Classify and explain each cell" (data-explain="1"): every row with its map.
        this.send((event as SubmitEvent).submitter?.dataset.explain === '1');
      },
      true,
    );
  }

  /** Files from a drop or paste: they become the input's files too, so the form's own checks see them. */
  private take(chosen: Chosen[]): void {
    if (chosen.length === 0) {
      this.table.showError('No PNG, JPEG, WebP or GIF images were found in what was dropped.');
      return;
    }
    try {
      const dt = new DataTransfer();
      for (const c of chosen) dt.items.add(c.file);
      this.el.input.files = dt.files;
    } catch {
      this.table.showError(NO_DATA_TRANSFER);
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
    const preview = this.el.form.querySelector<HTMLElement>('figure.preview');
    if (preview !== null) preview.hidden = true;
    this.table.clearError();
    const bytes = chosen.reduce((sum, c) => sum + c.file.size, 0);
    note.textContent = `${chosen.length} images chosen (${sizeText(bytes)}): ready to classify.`;
    note.hidden = false;
  }

  private model(): Model {
    return { name: this.el.name, field: this.el.input.name || 'image' };
  }

  /** Checks the limits the server checks, then replaces the run: posted, or classified here. */
  private send(explain: boolean): void {
    const chosen = this.chosen;
    if (chosen.length > this.maxFiles) return this.table.showError(tooManyFiles(this.maxFiles).message);
    if (chosen.reduce((sum, c) => sum + c.file.size, 0) > this.maxBytes) {
      return this.table.showError(batchTooLarge(this.maxBytes).message);
    }
    this.stop?.();
    this.stop = null;
    // In browser mode (src/browser/engine.ts) the images are classified here, not sent.
    const mlForms = window.mlForms;
    const engine = mlForms?.engine ?? 'server';
    this.el.section.dataset.engine = engine;
    this.table.clearError();
    this.table.start(chosen.length);
    if (mlForms !== undefined && engine === 'browser') {
      this.table.classifyingHere();
      this.stop = classifyInBrowser(this.model(), chosen, mlForms, this.table, explain);
      return;
    }
    this.stop = postBatch(this.model(), chosen, this.table, explain);
  }
}

function init(): void {
  elements().forEach((el, i) => new BatchView(el, new BatchTable(el), i === 0).listen());
}

if (document.readyState === 'loading') document.addEventListener('DOMContentLoaded', init);
else init();
