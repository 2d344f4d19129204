/**
 * The multi-image table's parts of the page, for each image model's form that has one: the form
 * (form.model-form[data-model="<name>"]), its card, file input and error box, and the results
 * section the server renders (views/partials/batch.ejs, ids built from the model's name:
 * <name>-batch, <name>-batch-rows, …) with its row <template>. Also adds the note that says how
 * many images are chosen.
 */

export interface Elements {
  /** The model's name: the form's data-model, the ids' prefix, /api/predict/<name>/batch. */
  name: string;
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

/** One form's elements; null when it has no file input or no batch table. */
function formElements(form: HTMLFormElement): Elements | null {
  const name = form.dataset.model;
  if (name === undefined) return null;
  const byId = <T extends HTMLElement>(suffix: string): T | null =>
    document.getElementById(`${name}${suffix}`) as T | null;
  const input = form.querySelector<HTMLInputElement>('input[type="file"]');
  const card = form.closest<HTMLElement>('.card');
  const section = byId<HTMLElement>('-batch');
  const template = byId<HTMLTemplateElement>('-batch-row');
  if (input === null || card === null || section === null || template === null) return null;
  const chosenNote = document.createElement('p');
  chosenNote.className = 'batch-chosen';
  chosenNote.id = `${input.id}-chosen`;
  chosenNote.hidden = true;
  form.querySelector('.dropzone')?.append(chosenNote);
  return {
    name,
    form,
    input,
    card,
    section,
    template,
    rows: byId<HTMLTableSectionElement>('-batch-rows') as HTMLTableSectionElement,
    summary: byId<HTMLElement>('-batch-summary') as HTMLElement,
    review: byId<HTMLElement>('-batch-review') as HTMLElement,
    progressBox: section.querySelector<HTMLElement>('.batch-progress') as HTMLElement,
    progress: byId<HTMLProgressElement>('-batch-progress') as HTMLProgressElement,
    progressText: section.querySelector<HTMLElement>('.batch-progress-text') as HTMLElement,
    csv: section.querySelector<HTMLAnchorElement>('a.csv') as HTMLAnchorElement,
    order: section.querySelector<HTMLElement>('.batch-order') as HTMLElement,
    error: byId<HTMLElement>('-error') as HTMLElement,
    chosenNote,
  };
}

/** The elements of each image model's form with a batch table (none on a page without one). */
export function elements(): Elements[] {
  return Array.from(document.querySelectorAll<HTMLFormElement>('form.model-form[data-model]'))
    .map(formElements)
    .filter((el): el is Elements => el !== null);
}
