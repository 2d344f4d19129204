/**
 * What the page's scripts say when the server gives no usable answer, and where a result was
 * computed: one wording for the browser engine (engine.ts) and the multi-image table (batch.ts).
 * public/app.js, a plain script outside the bundles, states the same sentences.
 */
export const NETWORK_ERROR = 'Could not reach the server. Check your connection and try again.';

/** An answer that is not the API's JSON (a proxy's error page, say). */
export const serverFailed = (status: number): string =>
  `The server could not answer (status ${status}). Try again in a moment.`;

export const COMPUTED = {
  server: 'Computed on the server.',
  browser: 'Computed in this browser; nothing was sent.',
} as const;
