/**
 * Security headers. The page uses only its own origin's script and stylesheet, no inline script or
 * style attributes, so the Content-Security-Policy can be strict. `blob:` images are the
 * preview of the cell image the user picked, before it is uploaded. The browser engine adds only
 * 'wasm-unsafe-eval' (compiling onnxruntime-web's WebAssembly) and its own service worker.
 */
import type { RequestHandler } from 'express';
import helmet from 'helmet';

/** The Content-Security-Policy, in helmet's directive names. */
export const CSP_DIRECTIVES: Record<string, string[]> = {
  defaultSrc: ["'self'"],
  // WebAssembly compilation for the browser engine (onnxruntime-web); eval stays forbidden.
  scriptSrc: ["'self'", "'wasm-unsafe-eval'"],
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

/** The policy as a header value, as the browser tests impose it on pages from any server. */
export function cspHeader(): string {
  return Object.entries(CSP_DIRECTIVES)
    .map(([name, values]) => `${name.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`)} ${values.join(' ')}`)
    .join('; ');
}

export function securityHeaders(): RequestHandler {
  return helmet({
    contentSecurityPolicy: { useDefaults: false, directives: CSP_DIRECTIVES },
    crossOriginEmbedderPolicy: false,
    referrerPolicy: { policy: 'same-origin' },
  });
}
