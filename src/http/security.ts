/**
 * Security headers. The page uses only its own origin's script and stylesheet, no inline script or
 * style attributes, so the Content-Security-Policy can be strict. `blob:` images are the
 * preview of the cell image the user picked, before it is uploaded. The page with the forms adds
 * only 'wasm-unsafe-eval' (the browser engine compiles onnxruntime-web's WebAssembly in the page);
 * every other answer (/docs, the JSON API, files) gets the policy without it.
 */
import type { RequestHandler } from 'express';
import helmet from 'helmet';

/** The Content-Security-Policy of every answer but the page with the forms, in helmet's directive names. */
export const STRICT_CSP_DIRECTIVES: Record<string, string[]> = {
  defaultSrc: ["'self'"],
  scriptSrc: ["'self'"],
  styleSrc: ["'self'"],
  imgSrc: ["'self'", 'data:', 'blob:'],
  connectSrc: ["'self'"],
  workerSrc: ["'self'"],
  fontSrc: ["'self'"],
  formAction: ["'self'"],
  frameAncestors: ["'none'"],
  objectSrc: ["'none'"],
  baseUri: ["'none'"],
};

/** The page with the forms: WebAssembly compilation for the browser engine (onnxruntime-web); eval stays forbidden. */
export const CSP_DIRECTIVES: Record<string, string[]> = { ...STRICT_CSP_DIRECTIVES, scriptSrc: ["'self'", "'wasm-unsafe-eval'"] };

/**
 * Paths that answer with the page with the forms, whose browser engine runs WebAssembly: GET /
 * and the forms' posts (/predict/<model>). Error pages elsewhere show the forms too, but the
 * engine is for the page itself: they keep the strict policy.
 */
const ENGINE_PAGE = /^\/(predict\/[^/]+\/?)?$/;

/** The page's policy as a header value, as the browser tests impose it on pages from any server. */
export function cspHeader(directives: Record<string, string[]> = CSP_DIRECTIVES): string {
  return Object.entries(directives)
    .map(([name, values]) => `${name.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`)} ${values.join(' ')}`)
    .join('; ');
}

const headers = (directives: Record<string, string[]>): RequestHandler =>
  helmet({
    contentSecurityPolicy: { useDefaults: false, directives },
    crossOriginEmbedderPolicy: false,
    referrerPolicy: { policy: 'same-origin' },
  });

export function securityHeaders(): RequestHandler {
  const page = headers(CSP_DIRECTIVES);
  const strict = headers(STRICT_CSP_DIRECTIVES);
  return (req, res, next) => (ENGINE_PAGE.test(req.path) ? page : strict)(req, res, next);
}
