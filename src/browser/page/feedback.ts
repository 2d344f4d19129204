/**
 * The "Wrong? Tell us the right answer" form (issue 26) on the page script's side:
 *  - drawn under an answer the script fetched from the server, when that answer has an id: the
 *    same markup as views/partials/feedback.ejs, from the same description (src/core/feedback.ts).
 *    The browser engine's answers are never logged, so they have no id and get no form;
 *  - every such form on the page, the server's and the script's, is sent to POST /api/feedback
 *    with fetch (one listener on the document, so forms drawn later need no wiring). Once it is
 *    recorded the disclosure is replaced by what the server's page would say (feedbackDone); an
 *    error is shown inside the form, which keeps what was typed.
 * Without the script the form posts to /feedback and the page comes back saying the same.
 * All text goes through textContent: nothing is built as HTML from an answer or from user input.
 */
import { FEEDBACK_WORDS, type FeedbackFormSpec, NOTE_MAX_CHARS, feedbackDone, feedbackForm } from '../../core/feedback';
import { NETWORK_ERROR, serverFailed } from '../../core/messages';
import type { Engine } from '../engine';
import { type Answer, byId, numberValue } from './result';

type Settings = Pick<FeedbackFormSpec, 'keepMinutes' | 'retentionDays'>;

/**
 * What the page's script tag says of the prediction log (views/index.ejs sets both attributes
 * only when the log is on); null: no log, so no form. Read when needed: `document.currentScript`
 * is null in a module, so the tag is found by its marker.
 */
function settings(): Settings | null {
  const tag = document.querySelector<HTMLScriptElement>('script[data-ml-forms-page]');
  const keep = Number(tag?.dataset.feedbackKeepMinutes ?? NaN);
  const days = Number(tag?.dataset.feedbackRetentionDays ?? NaN);
  return Number.isFinite(keep) && Number.isFinite(days) ? { keepMinutes: keep, retentionDays: days } : null;
}

function el<K extends keyof HTMLElementTagNameMap>(
  tag: K,
  attributes: Record<string, string>,
  text?: string,
): HTMLElementTagNameMap[K] {
  const e = document.createElement(tag);
  for (const [name, value] of Object.entries(attributes)) e.setAttribute(name, value);
  if (text !== undefined) e.textContent = text;
  return e;
}

/** A radio or a check box with its words after it, inside its label (`<label class="choice">`). */
function choice(
  type: 'radio' | 'checkbox',
  id: string,
  name: string,
  value: string,
  text: string,
  required: boolean,
): HTMLLabelElement {
  const label = el('label', { class: 'choice', for: id });
  const input = el('input', { type, id, name, value });
  input.required = required;
  label.append(input, ` ${text}`);
  return label;
}

/**
 * The form for the answer `name`'s card just drew (views/partials/feedback.ejs, element for
 * element), or null when there is nothing to draw it for. A classifier's labels are its scores'
 * keys in the model's order; a value answer asks for a number.
 */
export function feedbackSection(
  name: string,
  answer: Answer,
  given: Settings | null = settings(),
): HTMLDetailsElement | null {
  if (given === null || typeof answer.id !== 'string' || answer.id === '') return null;
  const labels = Object.keys(answer.scores ?? {});
  // Neither scores nor a value: not knowing what to ask for, ask nothing.
  if (labels.length === 0 && answer.value === undefined) return null;
  const form = feedbackForm({ model: name, labels, ...given }, answer.id, answer.label);
  const details = el('details', { class: 'feedback', 'data-prediction-id': form.predictionId });
  const body = el('form', { class: 'feedback-form', method: 'post', action: '/feedback', 'data-model': form.model });
  body.append(
    el('input', { type: 'hidden', name: 'model', value: form.model }),
    el('input', { type: 'hidden', name: 'prediction_id', value: form.predictionId }),
  );
  if (form.valueField !== null) {
    const field = el('input', { id: form.valueField.id, name: 'value', type: 'text', inputmode: 'decimal' });
    field.required = true;
    body.append(el('label', { for: form.valueField.id }, FEEDBACK_WORDS.value), field);
  } else {
    const set = el('fieldset', {});
    set.append(
      el('legend', {}, FEEDBACK_WORDS.legend),
      ...form.choices.map((c) => choice('radio', c.id, 'label', c.value, c.text, true)),
    );
    body.append(set);
  }
  const noteId = `${form.idPrefix}-note`;
  body.append(
    el('label', { for: noteId }, FEEDBACK_WORDS.note),
    el('textarea', { id: noteId, name: 'note', rows: '2', maxlength: String(NOTE_MAX_CHARS) }),
  );
  if (form.shareOffered)
    body.append(choice('checkbox', `${form.idPrefix}-share`, 'share_input', '1', FEEDBACK_WORDS.share, false));
  body.append(el('p', { class: 'kept' }, form.kept), el('button', { type: 'submit' }, FEEDBACK_WORDS.submit));
  details.append(el('summary', {}, FEEDBACK_WORDS.summary), body);
  return details;
}

/** Puts the form under the answer `name`'s card shows, when the server answered it (the only answers with an id). */
export function drawFeedback(name: string, answer: Answer, engine: Engine): void {
  if (engine !== 'server') return;
  const section = feedbackSection(name, answer);
  if (section !== null) byId(`${name}-result`)?.append(section);
}

/** The API's body for a form: a value as a number when it is one (otherwise as typed, for the server's message), no blank note. */
export function feedbackBody(form: HTMLFormElement): Record<string, unknown> {
  const data = new FormData(form);
  const text = (key: string): string | undefined => {
    const v = data.get(key);
    return typeof v === 'string' ? v : undefined;
  };
  const label = text('label');
  const value = text('value');
  const note = text('note');
  const shareOffered = form.querySelector('input[name="share_input"]') !== null;
  return {
    prediction_id: text('prediction_id') ?? '',
    ...(label === undefined ? {} : { label }),
    ...(value === undefined ? {} : { value: numberValue(value) }),
    ...(note === undefined || note.trim() === '' ? {} : { note }),
    ...(shareOffered ? { share_input: data.has('share_input') } : {}),
  };
}

/** The form's alert box (made the first time it is needed: the server's form has none). */
function alertOf(form: HTMLFormElement, create: boolean): HTMLElement | null {
  const found = form.querySelector<HTMLElement>('.feedback-error');
  if (found !== null || !create) return found;
  const box = el('p', { class: 'error feedback-error', role: 'alert' });
  form.querySelector('button[type="submit"]')?.before(box);
  return box;
}

function showError(form: HTMLFormElement, message: string, invalid: boolean): void {
  const box = alertOf(form, true);
  if (box === null) return;
  box.textContent = message;
  box.hidden = false;
  // A refused number is the field's fault: say so on it (a label comes from the choices offered).
  if (invalid) form.querySelector('input[name="value"]')?.setAttribute('aria-invalid', 'true');
}

function clearError(form: HTMLFormElement): void {
  const box = alertOf(form, false);
  if (box !== null) {
    box.textContent = '';
    box.hidden = true;
  }
  form.querySelector('input[name="value"]')?.removeAttribute('aria-invalid');
}

/** Busy while the feedback is on its way: the button waits, and gets focus back if it had it. */
function setBusy(form: HTMLFormElement, busy: boolean): void {
  const button = form.querySelector<HTMLButtonElement>('button[type="submit"]');
  const hadFocus = button !== null && document.activeElement === button;
  if (busy) form.setAttribute('aria-busy', 'true');
  else form.removeAttribute('aria-busy');
  if (button === null) return;
  button.disabled = busy;
  // A disabled button drops focus to <body>; give it back so keyboard users stay in place.
  if (!busy && (hadFocus || document.activeElement === document.body)) button.focus();
}

/** Where the form was: what the server's page says once it is recorded (views/partials/feedback-done.ejs), focused so it is read. */
function showDone(form: HTMLFormElement, inputShared: boolean, shareAsked: boolean): void {
  const done = el(
    'p',
    { class: 'feedback-done', role: 'status', tabindex: '-1' },
    feedbackDone(inputShared, shareAsked),
  );
  (form.closest('details.feedback') ?? form).replaceWith(done);
  done.focus();
}

/** The API's error message, or a sentence for an answer that is not its JSON. */
function errorMessage(data: unknown, status: number): string {
  const message = (data as { error?: { message?: unknown } } | null)?.error?.message;
  return typeof message === 'string' && message !== '' ? message : serverFailed(status);
}

async function send(form: HTMLFormElement): Promise<void> {
  const body = feedbackBody(form);
  const res = await fetch('/api/feedback', {
    method: 'POST',
    headers: { Accept: 'application/json', 'Content-Type': 'application/json' },
    body: JSON.stringify(body),
  });
  const data: unknown = await res.json().catch(() => null);
  const shared = (data as { input_shared?: unknown } | null)?.input_shared;
  if (res.ok && typeof shared === 'boolean') {
    showDone(form, shared, body.share_input === true);
    return;
  }
  showError(form, errorMessage(data, res.status), res.status === 400);
}

function onSubmit(event: SubmitEvent): void {
  const form = event.target;
  if (!(form instanceof HTMLFormElement) || !form.matches('form.feedback-form')) return;
  event.preventDefault();
  if (form.getAttribute('aria-busy') === 'true') return;
  clearError(form);
  setBusy(form, true);
  send(form)
    .catch(() => showError(form, NETWORK_ERROR, false))
    .finally(() => {
      // Gone once recorded; otherwise ready to be sent again, with what was typed.
      if (form.isConnected) setBusy(form, false);
    });
}

/** Every feedback form on the page, now and drawn later, sends with fetch. */
export function enhanceFeedback(): void {
  document.addEventListener('submit', onSubmit);
}
