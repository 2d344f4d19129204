/**
 * The browser engine's server path: the page's forms say what each model takes, and a prediction
 * is the JSON API's answer to the request any program would send. Also how mlForms.predict
 * rejects (PredictError), whichever engine ran.
 */
import type { FormName } from '../errors';
import type { Prediction } from '../predictors/types';
import { NETWORK_ERROR, serverFailed } from './messages';

/**
 * How mlForms.predict rejects: the server's error as it was sent (status, code, message), the
 * shared checks' error in browser mode with the status the API gives its code, or the page's own
 * when no answer came (`network_error`) or the browser cannot run the models (`engine_unavailable`).
 */
export class PredictError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
  ) {
    super(message);
    this.name = 'PredictError';
  }
}

/**
 * The model's form on this page: it says what the model takes (a file input in a multipart form,
 * or its one field), as the page script reads it (src/browser/page.ts). Read from the page rather
 * than the table (src/models/index.ts): the table, with its predictors and zod, is the runtime
 * chunk's, which the server mode never downloads.
 */
export function formOf(model: FormName): HTMLFormElement | null {
  if (typeof model !== 'string') return null;
  return document.querySelector<HTMLFormElement>(`form.model-form[data-model="${CSS.escape(model)}"]`);
}

/** Turns a fetch answer into the prediction or the API's error. */
async function serverAnswer(res: Response): Promise<Prediction> {
  let data: unknown = null;
  try {
    data = await res.json();
  } catch {
    // not JSON: a proxy's error page, or a cut connection
  }
  const body = data as { error?: { code?: unknown; message?: unknown }; statement?: unknown } | null;
  if (res.ok && typeof body?.statement === 'string') return data as Prediction;
  const code = typeof body?.error?.code === 'string' ? body.error.code : 'server_error';
  const message = typeof body?.error?.message === 'string' ? body.error.message : serverFailed(res.status);
  throw new PredictError(res.ok ? 502 : res.status, code, message);
}

/**
 * The JSON API, as any program would call it: an image model's file as the multipart field its
 * form sends ("image"), a fields model's value as JSON under its form's field ({"x": 5}).
 */
export async function predictOnServer(
  model: FormName,
  form: HTMLFormElement,
  input: unknown,
  options: { explain?: boolean } = {},
): Promise<Prediction> {
  let init: RequestInit;
  if (form.enctype === 'multipart/form-data') {
    const field = form.querySelector<HTMLInputElement>('input[type="file"][name]')?.name ?? 'image';
    const body = new FormData();
    if (input instanceof Blob) body.append(field, input, input instanceof File ? input.name : field);
    init = { method: 'POST', body };
  } else {
    const field = form.querySelector<HTMLInputElement | HTMLTextAreaElement>('input[name], textarea[name]')?.name;
    const body = field === undefined ? {} : { [field]: input };
    init = { method: 'POST', headers: { 'Content-Type': 'application/json' }, body: JSON.stringify(body) };
  }
  let res: Response;
  try {
    res = await fetch(`/api/predict/${encodeURIComponent(model)}${options.explain === true ? '?explain=1' : ''}`, {
      ...init,
      headers: { ...init.headers, Accept: 'application/json' },
    });
  } catch {
    throw new PredictError(503, 'network_error', NETWORK_ERROR);
  }
  return serverAnswer(res);
}

