/**
 * What the page's scripts say to a person: when the server gives no usable answer, where a result
 * was computed, and why a chosen file is refused before it is sent. One wording for the page
 * script, the browser engine and the multi-image table (src/browser/). No Node, no DOM.
 */
import { megabytes } from './format';

export const NETWORK_ERROR = 'Could not reach the server. Check your connection and try again.';

/** An answer that is not the API's JSON (a proxy's error page, say). */
export const serverFailed = (status: number): string =>
  `The server could not answer (status ${status}). Try again in a moment.`;

export const COMPUTED = {
  server: 'Computed on the server.',
  browser: 'Computed in this browser; nothing was sent.',
} as const;

/** The image types the server decodes; a file of another type is refused before it is sent. */
export const ACCEPTED_IMAGE_TYPES: readonly string[] = ['image/png', 'image/jpeg', 'image/webp', 'image/gif'];

export const NOT_AN_IMAGE = 'That file is not a PNG, JPEG, WebP or GIF image. Choose a picture of a cell.';

export const fileTooLarge = (maxBytes: number): string =>
  `The file is larger than ${megabytes(maxBytes)} MB. Choose a smaller image.`;

export const NO_DATA_TRANSFER = 'This browser cannot take dropped or pasted files here. Use the file picker.';
