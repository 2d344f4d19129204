/**
 * The multi-image table's parts of the page: the malaria form, its image card and error box, and
 * the results section the server renders (views/partials/batch.ejs) with its row <template>. Also
 * adds the note that says how many images are chosen.
 */

export interface Elements {
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

/** The page's elements; null on a page without the malaria form or its batch table. */
export function elements(): Elements | null {
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
