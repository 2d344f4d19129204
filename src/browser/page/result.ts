/**
 * The page script's drawing of a card after an answer: the result (the same markup as
 * views/partials/result.ejs, from the same rows, src/core/result.ts, with its explanation drawn
 * by ./explanation.ts), the error beside the form
 * (views/partials/error.ejs), the busy state and the active card. All text goes through
 * textContent: nothing is built as HTML from an answer or from user input.
 */
import { COMPUTED } from '../../core/messages';
import { scoreRows } from '../../core/result';
import type { Engine } from '../engine';
import { explanationSection } from './explanation';

/** What the page shows from an answer: the API's JSON, or the browser engine's equal answer. */
export interface Answer {
  /** The server's answers, with the prediction log on: what feedback names it by (./feedback.ts). */
  id?: string;
  /** The version that answered (the browser engine's: the 8-bit one by default). */
  version?: string;
  confidence?: number;
  /** The browser engine's answers: how long it took, in ms (the page measures it). */
  latencyMs?: number;
  statement: string;
  label?: string;
  value?: number;
  scores?: Record<string, number>;
  /** Why the model answered so, when asked (src/core/explanation.ts draws it). */
  explanation?: unknown;
}

/** What was sent, for drawing the answer's explanation: the review its offsets point into, the image's URL. */
export interface Sent {
  text?: string;
  picture?: string | null;
}

export const byId = <T extends HTMLElement = HTMLElement>(id: string): T | null =>
  document.getElementById(id) as T | null;

function el<K extends keyof HTMLElementTagNameMap>(tag: K, cls: string, text?: string): HTMLElementTagNameMap[K] {
  const e = document.createElement(tag);
  if (cls !== '') e.className = cls;
  if (text !== undefined) e.textContent = text;
  return e;
}

export function showResult(name: string, answer: Answer, engine: Engine, sent: Sent = {}): void {
  const box = byId(`${name}-result`);
  if (box === null) return;
  box.dataset.engine = engine;
  // The answer's id in the prediction log (server answers, with the log on), as the server's page has it.
  if (answer.id === undefined) delete box.dataset.predictionId;
  else box.dataset.predictionId = answer.id;
  const parts: HTMLElement[] = [el('p', 'prediction', answer.statement)];
  const rows = scoreRows(answer);
  if (rows.length > 0) {
    const list = el('ul', 'scores');
    for (const row of rows) {
      const id = `${name}-score-${row.label}`;
      const item = el('li', row.top ? 'score top' : 'score');
      const label = el('label', '', row.label);
      label.htmlFor = id;
      const meter = el('meter', '', row.percent);
      meter.id = id;
      meter.min = 0;
      meter.max = 1;
      meter.value = row.value;
      item.append(label, meter, el('span', 'pct', row.percent));
      list.append(item);
    }
    parts.push(list);
  }
  const why = answer.explanation === undefined ? null : explanationSection(name, answer.explanation, sent);
  if (why !== null) parts.push(why);
  parts.push(el('p', 'computed', COMPUTED[engine]));
  box.replaceChildren(...parts);
}

/** The form's one input (a number, a review, an image). */
export function fieldOf(form: HTMLFormElement): HTMLInputElement | HTMLTextAreaElement | null {
  return form.querySelector<HTMLInputElement | HTMLTextAreaElement>('input[name], textarea[name]');
}


export { numberValue } from '../../core/format';

export function showError(form: HTMLFormElement, message: string): void {
  const box = byId(`${form.dataset.model ?? ''}-error`);
  if (box !== null) {
    box.textContent = message;
    box.hidden = false;
  }
  fieldOf(form)?.setAttribute('aria-invalid', 'true');
}

export function clearError(form: HTMLFormElement): void {
  const box = byId(`${form.dataset.model ?? ''}-error`);
  if (box !== null) {
    box.textContent = '';
    box.hidden = true;
  }
  fieldOf(form)?.removeAttribute('aria-invalid');
}

export function setBusy(form: HTMLFormElement, busy: boolean): void {
  // The image form has two (Classify; Classify and explain each cell): both wait for the answer.
  const buttons = Array.from(form.querySelectorAll<HTMLButtonElement>('button[type="submit"]'));
  const [button] = buttons;
  const result = byId(`${form.dataset.model ?? ''}-result`);
  const hadFocus = button !== undefined && buttons.includes(document.activeElement as HTMLButtonElement);
  for (const e of [form, result]) {
    if (busy) e?.setAttribute('aria-busy', 'true');
    else e?.removeAttribute('aria-busy');
  }
  if (button === undefined) return;
  for (const b of buttons) b.disabled = busy;
  // A disabled button drops focus to <body>; give it back so keyboard users stay in place.
  if (!busy && (hadFocus || document.activeElement === document.body)) button.focus();
}

export function markActive(card: Element | null): void {
  document.querySelectorAll('.card.active').forEach((c) => c.classList.remove('active'));
  card?.classList.add('active');
}
