/**
 * The page script: progressive enhancement of the server-rendered page (bundled by
 * src/build/browser.ts to /engine/page-<hash>.js, a module the page loads; the CSP allows only
 * the site's own scripts). Without it every form still works as a plain post that re-renders the
 * page. With it:
 *  - a form submits with fetch to the JSON API (or, when the page chose the browser engine, to
 *    window.mlForms, src/browser/engine.ts) and its card is updated in place: the result, the
 *    error beside the form, the chart (src/browser/page/result.ts, chart.ts), and why the model
 *    answered so, for a form marked data-explain (src/browser/page/explanation.ts, issue 25);
 *  - under a server answer with an id (the prediction log is on), the "Wrong?" feedback form, and
 *    every such form on the page sends with fetch (src/browser/page/feedback.ts, issue 26);
 *  - the image card gets drag-and-drop, paste and a preview (src/browser/page/image.ts);
 *  - "Try" buttons fill examples; commands get a Copy button.
 * Formatting, chart geometry and messages come from the isomorphic core (src/core/), the code the
 * server renders the page with, so the two cannot disagree. It knows no model by name: each form
 * says what it sends (its field, a file input, inputmode="decimal").
 */
import { NETWORK_ERROR, serverFailed } from '../core/messages';
import type { FormName } from '../errors';
import type { Engine, MlForms } from './engine';
import { drawChart } from './page/chart';
import { drawFeedback, enhanceFeedback } from './page/feedback';
import { enhanceImage } from './page/image';
import {
  type Answer,
  type Sent,
  byId,
  clearError,
  fieldOf,
  markActive,
  numberValue,
  setBusy,
  showError,
  showResult,
} from './page/result';

/** What came back: the answer, or the API's error (`data` null when the body was not JSON). */
interface Reply {
  ok: boolean;
  data: unknown;
  status?: number;
}

const isDecimalField = (field: Element | null): field is HTMLInputElement =>
  field instanceof HTMLInputElement && field.inputMode === 'decimal';

/** The JSON API's request for a form: its multipart body as it is, or its field as JSON. */
function requestFor(form: HTMLFormElement): RequestInit {
  if (form.enctype === 'multipart/form-data') {
    return { method: 'POST', headers: { Accept: 'application/json' }, body: new FormData(form) };
  }
  const field = fieldOf(form);
  const body = field === null ? {} : { [field.name]: isDecimalField(field) ? numberValue(field.value) : field.value };
  return {
    method: 'POST',
    headers: { Accept: 'application/json', 'Content-Type': 'application/json' },
    body: JSON.stringify(body),
  };
}

/** A form whose model explains its answers says so (data-explain): a single result then shows why. */
const explains = (form: HTMLFormElement): boolean => form.dataset.explain !== undefined;

async function askServer(name: string, form: HTMLFormElement): Promise<Reply> {
  const query = explains(form) ? '?explain=1' : '';
  const res = await fetch(`/api/predict/${encodeURIComponent(name)}${query}`, requestFor(form));
  try {
    return { ok: res.ok, data: await res.json() };
  } catch {
    return { ok: false, data: null, status: res.status };
  }
}

/** The same answer from the browser engine, when the page chose it. */
async function askHere(mlForms: MlForms, name: string, form: HTMLFormElement): Promise<Reply> {
  const field = fieldOf(form);
  const input = field instanceof HTMLInputElement && field.type === 'file' ? field.files?.[0] : field?.value;
  try {
    const started = performance.now();
    const answer = await mlForms.predict(name as FormName, input, { engine: 'browser', explain: explains(form) });
    // Kept for the "Wrong?" form, which logs the answer only if the person flags it (./page/feedback.ts).
    return { ok: true, data: { ...answer, latencyMs: performance.now() - started } };
  } catch (err) {
    // mlForms rejects with the API's error: code and message.
    const { code, message } = err as { code?: string; message?: string };
    return { ok: false, data: { error: { code, message } } };
  }
}

const isAnswer = (data: unknown): data is Answer =>
  typeof data === 'object' && data !== null && typeof (data as { statement?: unknown }).statement === 'string';

function errorMessage(reply: Reply): string {
  const message = (reply.data as { error?: { message?: unknown } } | null)?.error?.message;
  return typeof message === 'string' && message !== '' ? message : serverFailed(reply.status ?? 0);
}

/** Each card's picture under its map: an object URL of the file sent, revoked once another answer replaces it. */
const pictures = new Map<string, string>();

/** What the explanation is drawn over: the review as sent, or the image sent (a new object URL). */
function sentOf(form: HTMLFormElement): Sent {
  const field = fieldOf(form);
  if (!explains(form) || field === null) return {};
  if (field instanceof HTMLInputElement && field.type === 'file') {
    const file = field.files?.[0];
    return file === undefined ? {} : { picture: URL.createObjectURL(file) };
  }
  return { text: field.value };
}

/** The card now shows `sent`'s picture (or none): the one it showed before is let go. */
function keepPicture(name: string, sent: Sent, shown: boolean): void {
  const picture = sent.picture ?? undefined;
  if (!shown) {
    if (picture !== undefined) URL.revokeObjectURL(picture);
    return;
  }
  const old = pictures.get(name);
  if (old !== undefined) URL.revokeObjectURL(old);
  if (picture === undefined) pictures.delete(name);
  else pictures.set(name, picture);
}

function enhanceForm(form: HTMLFormElement): void {
  const name = form.dataset.model;
  if (name === undefined) return;
  form.addEventListener('submit', (event) => {
    event.preventDefault();
    if (form.getAttribute('aria-busy') === 'true') return;
    const field = fieldOf(form);
    // The chart's point is the x that was sent, not what the field holds when the answer comes.
    const sentX = isDecimalField(field) ? Number(field.value.trim()) : NaN;
    const mlForms = window.mlForms;
    const engine: Engine = mlForms?.engine ?? 'server';
    // Taken now: the field may change while the answer is on its way.
    const sent = sentOf(form);
    let shown = false;
    setBusy(form, true);
    (mlForms !== undefined && engine === 'browser' ? askHere(mlForms, name, form) : askServer(name, form))
      .then((reply) => {
        if (!reply.ok || !isAnswer(reply.data)) {
          showError(form, errorMessage(reply));
          return;
        }
        const answer = reply.data;
        clearError(form);
        showResult(name, answer, engine, sent);
        drawFeedback(name, answer, engine);
        shown = true;
        const card = form.closest('.card');
        const chart = card?.querySelector<HTMLElement>('figure.chart');
        if (chart != null && answer.value !== undefined) drawChart(chart, sentX, answer.value);
        markActive(card ?? null);
      })
      .catch(() => showError(form, NETWORK_ERROR))
      .finally(() => {
        keepPicture(name, sent, shown);
        setBusy(form, false);
      });
  });
}

function enhanceExamples(): void {
  document.querySelectorAll<HTMLElement>('.examples').forEach((box) => {
    box.hidden = false;
  });
  document.querySelectorAll<HTMLButtonElement>('button.example').forEach((button) => {
    button.addEventListener('click', () => {
      const field = byId<HTMLInputElement | HTMLTextAreaElement>(button.dataset.fill ?? '');
      if (field === null) return;
      field.value = button.dataset.value ?? '';
      field.dispatchEvent(new Event('input', { bubbles: true }));
      field.focus();
    });
  });
}

function enhanceCopy(): void {
  if (!('clipboard' in navigator) || !window.isSecureContext) return;
  document.querySelectorAll<HTMLPreElement>('pre.cmd').forEach((pre) => {
    const wrap = document.createElement('div');
    wrap.className = 'copy-wrap';
    pre.before(wrap);
    wrap.append(pre);
    const button = document.createElement('button');
    button.className = 'copy';
    button.type = 'button';
    button.textContent = 'Copy';
    button.setAttribute('aria-label', 'Copy command');
    button.addEventListener('click', () => {
      navigator.clipboard.writeText((pre.textContent ?? '').trim()).then(
        () => {
          button.textContent = 'Copied';
          setTimeout(() => (button.textContent = 'Copy'), 1500);
        },
        () => {
          button.textContent = 'Select and copy';
        },
      );
    });
    wrap.append(button);
  });
}

function init(): void {
  document.querySelectorAll<HTMLFormElement>('form.model-form').forEach((form) => {
    enhanceForm(form);
    enhanceImage(form);
  });
  enhanceFeedback();
  enhanceExamples();
  enhanceCopy();
}

if (document.readyState === 'loading') document.addEventListener('DOMContentLoaded', init);
else init();
