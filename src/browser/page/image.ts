/**
 * The image card with JavaScript: the file picker, drag-and-drop and paste, and a preview of the
 * chosen image before anything is sent. A file is checked for type and size first (the server
 * checks again, by the bytes, not the name). Several files at once are the multi-image table's
 * (src/browser/batch.ts), which sees each event first.
 */
import { sizeText } from '../../core/format';
import { ACCEPTED_IMAGE_TYPES, NOT_AN_IMAGE, NO_DATA_TRANSFER, fileTooLarge } from '../../core/messages';
import { clearError, showError } from './result';

const hasFiles = (event: DragEvent): boolean => Array.from(event.dataTransfer?.types ?? []).includes('Files');

/** Enhances the form whose field is a file input, inside its card; does nothing on a page without one. */
export function enhanceImage(form: HTMLFormElement): void {
  const input = form.querySelector<HTMLInputElement>('input[type="file"]');
  const card = form.closest<HTMLElement>('.card');
  const preview = form.querySelector<HTMLElement>('figure.preview');
  const img = preview?.querySelector('img');
  const caption = preview?.querySelector('figcaption');
  if (input === null || card === null || preview == null || img == null || caption == null) return;
  const maxBytes = Number(form.dataset.maxBytes) || Infinity;
  let url: string | null = null;
  const hint = card.querySelector<HTMLElement>('.drop-hint');
  if (hint !== null) hint.hidden = false;

  const clearPreview = (): void => {
    if (url !== null) URL.revokeObjectURL(url);
    url = null;
    img.removeAttribute('src');
    preview.hidden = true;
  };

  const showPreview = (file: File): void => {
    if (url !== null) URL.revokeObjectURL(url);
    url = URL.createObjectURL(file);
    img.src = url;
    caption.textContent = `${file.name || 'Pasted image'} · ${sizeText(file.size)} · ready to classify`;
    preview.hidden = false;
  };

  const problemWith = (file: File): string | null => {
    if (!ACCEPTED_IMAGE_TYPES.includes(file.type)) return NOT_AN_IMAGE;
    if (file.size > maxBytes) return fileTooLarge(maxBytes);
    return null;
  };

  const take = (file: File, setInput: boolean): void => {
    const problem = problemWith(file);
    if (problem !== null) {
      input.value = '';
      clearPreview();
      showError(form, problem);
      return;
    }
    if (setInput) {
      try {
        const dt = new DataTransfer();
        dt.items.add(file);
        input.files = dt.files;
      } catch {
        showError(form, NO_DATA_TRANSFER);
        return;
      }
    }
    clearError(form);
    showPreview(file);
  };

  input.addEventListener('change', () => {
    const file = input.files?.[0];
    if (file !== undefined) take(file, false);
    else clearPreview();
  });

  let depth = 0;
  card.addEventListener('dragenter', (event) => {
    if (!hasFiles(event)) return;
    event.preventDefault();
    depth++;
    card.classList.add('dragover');
  });
  card.addEventListener('dragover', (event) => {
    if (!hasFiles(event) || event.dataTransfer === null) return;
    event.preventDefault();
    event.dataTransfer.dropEffect = 'copy';
  });
  card.addEventListener('dragleave', () => {
    depth = Math.max(0, depth - 1);
    if (depth === 0) card.classList.remove('dragover');
  });
  card.addEventListener('drop', (event) => {
    if (!hasFiles(event)) return;
    event.preventDefault();
    depth = 0;
    card.classList.remove('dragover');
    const file = event.dataTransfer?.files[0];
    if (file !== undefined) take(file, true);
  });
  // A file dropped beside the card would make the browser navigate to it and lose the page.
  for (const type of ['dragover', 'drop'] as const) {
    document.addEventListener(type, (event) => {
      if (hasFiles(event) && !card.contains(event.target as Node | null)) event.preventDefault();
    });
  }

  // Paste an image anywhere on the page (a screenshot, a copied image): it goes to this card.
  document.addEventListener('paste', (event) => {
    const file = event.clipboardData?.files[0];
    if (file === undefined || !file.type.startsWith('image/')) return;
    event.preventDefault();
    take(file, true);
    card.scrollIntoView({ block: 'nearest' });
  });
}
