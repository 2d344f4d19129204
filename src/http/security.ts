/**
 * Security headers. The page uses only its own origin's script and stylesheet, no inline script or
 * style attributes, so the Content-Security-Policy can be strict. `blob:` images are the
 * preview of the cell image the user picked, before it is uploaded. The browser engine adds only
 * 'wasm-unsafe-eval' (compiling onnxruntime-web's WebAssembly) and its own service worker.
 */
import type { RequestHandler } from 'express';
import helmet from 'helmet';

export function securityHeaders(): RequestHandler {
  return helmet({
    contentSecurityPolicy: {
      useDefaults: false,
      directives: {
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
      },
    },
    crossOriginEmbedderPolicy: false,
    referrerPolicy: { policy: 'same-origin' },
  });
}
