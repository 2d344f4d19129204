/**
 * The server's limits, as the page states them: views/index.ejs writes them on the engine's
 * <script> element, so the browser applies the same numbers as the server (also offline, from the
 * cached page). And which model files the browser engine downloads (the page's URL says it).
 */
import { type Precision, precisionOf } from './download';

export type { Precision } from './download';

export interface EngineSettings {
  maxUploadBytes: number;
  maxPixels: number;
  maxReviewChars: number;
  /** The 8-bit versions (the card's `quantized` section) or the float ones the server runs. */
  precision: Precision;
}

export const ENGINE_SCRIPT_SELECTOR = 'script[data-ml-forms-engine]';

export function readSettings(doc: Document): EngineSettings {
  const data = doc.querySelector<HTMLScriptElement>(ENGINE_SCRIPT_SELECTOR)?.dataset ?? {};
  const num = (name: 'maxUploadBytes' | 'maxPixels' | 'maxReviewChars'): number => {
    const n = Number(data[name]);
    if (!(Number.isFinite(n) && n > 0)) throw new Error(`the engine's <script> has no data-${name}`);
    return n;
  };
  return {
    maxUploadBytes: num('maxUploadBytes'),
    maxPixels: num('maxPixels'),
    maxReviewChars: num('maxReviewChars'),
    precision: precisionOf(doc.location.search),
  };
}
