/**
 * The "Wrong? Tell us the right answer" form (issue 26) on the page script's side:
 *  - drawn under an answer the script fetched from the server, when that answer has an id: the
 *    same markup as views/partials/feedback.ejs, from the same description (src/core/feedback.ts);
 *  - and under an answer of the browser engine, which the server never saw: without a share box,
 *    and with the answer itself in the form (data-report). Only when the person sends the form is
 *    that answer logged (POST /api/browser-predictions, nothing of the input), and its id is then
 *    what the feedback names;
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
  engine: Engine = 'server',
): HTMLDetailsElement | null {
  if (given === null) return null;
  const report = engine === 'browser' ? browserReport(name, answer) : null;
  if (report === null && (typeof answer.id !== 'string' || answer.id === '')) return null;
  const labels = Object.keys(answer.scores ?? {});
  // Neither scores nor a value: not knowing what to ask for, ask nothing.
  if (labels.length === 0 && answer.value === undefined) return null;
  const form = feedbackForm({ model: name, labels, ...given, inBrowser: report !== null }, report === null ? (answer.id ?? '') : '', answer.label);
  const details = el('details', { class: 'feedback', ...(report === null ? { 'data-prediction-id': form.predictionId } : { 'data-engine': 'browser' }) });
  const body = el('form', { class: 'feedback-form', method: 'post', action: '/feedback', 'data-model': form.model });
  if (report !== null) body.dataset.report = JSON.stringify(report);
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

/** What POST /api/browser-predictions logs of a browser engine's answer; null without a version to name. */
function browserReport(name: string, answer: Answer): Record<string, unknown> | null {
  if (typeof answer.version !== 'string' || answer.version === '') return null;
  const latency = answer.latencyMs;
  const timed = typeof latency === 'number' && Number.isFinite(latency) && latency >= 0 ? { latency_ms: Math.min(latency, 3_600_000) } : {};
  if (answer.value !== undefined) return { model: name, version: answer.version, value: answer.value, ...timed };
  if (typeof answer.label !== 'string') return null;
  const confidence = answer.confidence;
  return {
    model: name,
    version: answer.version,
    label: answer.label,
    ...(typeof confidence === 'number' && confidence >= 0 && confidence <= 1 ? { confidence } : {}),
    ...timed,
  };
}

/** Puts the form under the answer `name`'s card shows: the server's (with its id) or the browser engine's. */
export function drawFeedback(name: string, answer: Answer, engine: Engine): void {
  const section = feedbackSection(name, answer, settings(), engine);
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

/**
 * A browser engine's answer is logged first, once (its id is kept in the form, so sending again
 * after an error does not log it twice); false when that failed (the error is then shown).
 */
async function logBrowserAnswer(form: HTMLFormElement): Promise<boolean> {
  const idField = form.querySelector<HTMLInputElement>('input[name="prediction_id"]');
  const report = form.dataset.report;
  if (report === undefined || idField === null || idField.value !== '') return true;
  const res = await fetch('/api/browser-predictions', {
    method: 'POST',
    headers: { Accept: 'application/json', 'Content-Type': 'application/json' },
    body: report,
  });
  const data: unknown = await res.json().catch(() => null);
  const id = (data as { id?: unknown } | null)?.id;
  if (res.ok && typeof id === 'string' && id !== '') {
    idField.value = id;
    return true;
  }
  showError(form, errorMessage(data, res.status), false);
  return false;
}

async function send(form: HTMLFormElement): Promise<void> {
  if (!(await logBrowserAnswer(form))) return;
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
