/**
 * What an image file is, read from its first bytes, without decoding it: the format by its magic
 * numbers, and its width and height from the header (PNG IHDR, JPEG SOF, WebP VP8/VP8L/VP8X, GIF
 * logical screen and first frame). The server uses it for the pixel-bomb guard before the one
 * decode (src/images.ts); the in-browser engine bundles it for the same checks before it decodes,
 * so it uses no Node-only API: plain Uint8Array and DataView.
 */
import { invalidInput, type AppError, inputTooLarge, unsupportedInput } from './errors';

export type ImageFormat = 'png' | 'jpeg' | 'webp' | 'gif';

export const ACCEPTED_FORMATS: readonly ImageFormat[] = ['png', 'jpeg', 'webp', 'gif'];
export const ACCEPTED_FORMATS_TEXT = 'PNG, JPEG, WebP or GIF';

export interface ImageLimits {
  /** Largest width × height accepted, checked from the header before any pixel is decoded. */
  maxPixels: number;
}

/** Decoded pixels, as both decoders give them (sharp on the server, a canvas in the browser engine): 8-bit sRGB, interleaved RGB, row-major (NHWC without the N). */
export interface RgbImage {
  pixels: Uint8Array;
  width: number;
  height: number;
}

/** A file whose header is readable but whose pixels are not: the answer of both decoders. */
export function undecodableImage(format: ImageFormat): AppError {
  return invalidInput(
    'invalid_image',
    `The ${format.toUpperCase()} file could not be decoded. It may be truncated or damaged.`,
  );
}

export interface ImageHeader {
  format: ImageFormat;
  /** As stored (before any EXIF rotation, which does not change width × height). */
  width: number;
  height: number;
}

const startsWith = (bytes: Uint8Array, signature: readonly number[], offset = 0): boolean =>
  bytes.length >= offset + signature.length && signature.every((b, i) => bytes[offset + i] === b);

const ascii = (text: string): number[] => Array.from(text, (c) => c.charCodeAt(0));

const PNG_SIGNATURE = [0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a];
const JPEG_SOI = [0xff, 0xd8, 0xff];
const GIF8 = ascii('GIF8');
const IHDR = ascii('IHDR');
const RIFF = ascii('RIFF');
const WEBP = ascii('WEBP');
const VP8_START_CODE = [0x9d, 0x01, 0x2a];

/**
 * How many JPEG marker segments, or GIF blocks and sub-blocks, a header walk reads before it gives
 * up (the header is then "cannot be read"). A real file needs a few dozen, at most some thousands
 * (255-byte GIF sub-blocks of a large application extension); a hostile file of 2-byte TEM markers
 * or empty segments would need millions of steps, a cost of milliseconds that a slower machine
 * multiplies. With the bound, any file's header is read in well under a millisecond.
 */
export const MAX_HEADER_STEPS = 65_536;

/** The most JPEG fill bytes (extra 0xFF before markers) the walk skips in all; more is "cannot be read". */
export const MAX_FILL_BYTES = 65_536;

/**
 * The format by the file's first bytes (magic numbers), never by its name or declared type.
 * Returns null for anything else, SVG and TIFF included: SVG can reference files and URLs, and we
 * do not want the decoder to parse formats we never accept.
 */
export function sniffImageFormat(bytes: Uint8Array): ImageFormat | null {
  if (startsWith(bytes, PNG_SIGNATURE)) return 'png';
  if (startsWith(bytes, JPEG_SOI)) return 'jpeg';
  if (startsWith(bytes, RIFF) && startsWith(bytes, WEBP, 8)) return 'webp';
  if (startsWith(bytes, GIF8) && (bytes[4] === 0x37 || bytes[4] === 0x39) && bytes[5] === 0x61) return 'gif';
  return null;
}

/** Width and height from the header of an image already known to be `format`; null if the header is missing or damaged. */
export function imageDimensions(bytes: Uint8Array, format: ImageFormat): { width: number; height: number } | null {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const size = (width: number, height: number): { width: number; height: number } | null =>
    width > 0 && height > 0 ? { width, height } : null;
  switch (format) {
    case 'png':
      // Signature, then the IHDR chunk: length (4), "IHDR", width (4, big-endian), height (4).
      if (bytes.length < 24 || !startsWith(bytes, IHDR, 12)) return null;
      return size(view.getUint32(16), view.getUint32(20));
    case 'jpeg':
      return jpegDimensions(bytes, view);
    case 'webp':
      return webpDimensions(bytes, view);
    case 'gif':
      return gifDimensions(bytes, view);
  }
}

/**
 * JPEG: walk the marker segments after SOI until a start-of-frame (SOF0–SOF15 but DHT, JPG and
 * DAC), which holds precision (1), height (2), width (2). EXIF and ICC segments before it may be
 * long, so this reads as far as the frame header is, but over at most MAX_HEADER_STEPS segments.
 */
function jpegDimensions(bytes: Uint8Array, view: DataView): { width: number; height: number } | null {
  let i = 2;
  let steps = 0;
  let fillLeft = MAX_FILL_BYTES;
  while (i + 4 <= bytes.length) {
    // Stray bytes between segments are skipped, as libjpeg does ("extraneous bytes before marker"):
    // to the next 0xFF at once (a native scan). Runs of 0xFF fill bytes are skipped to their last
    // byte, but MAX_FILL_BYTES of them at most in all: a byte loop over a 5 MB run costs 2 ms
    // optimised and about 100 ms when V8 runs it unoptimised (as once in CI), and no encoder
    // writes such runs.
    if (bytes[i] !== 0xff) {
      const next = bytes.indexOf(0xff, i + 1);
      if (next < 0) return null;
      i = next;
      continue;
    }
    if (bytes[i + 1] === 0xff) {
      // bytes[i] is a fill byte: on to the run's last 0xFF, which the marker code follows.
      const start = i;
      const end = Math.min(bytes.length - 1, i + fillLeft);
      while (i < end && bytes[i + 1] === 0xff) i++;
      if (bytes[i + 1] === 0xff) return null; // more fill than MAX_FILL_BYTES: not read
      fillLeft -= i - start;
      continue;
    }
    if (++steps > MAX_HEADER_STEPS) return null;
    const marker = bytes[i + 1] as number;
    // Markers without a length: TEM, RST0–7, SOI.
    if (marker === 0x01 || (marker >= 0xd0 && marker <= 0xd8)) {
      i += 2;
      continue;
    }
    if (marker === 0xd9 || marker === 0xda) return null; // end of image or start of scan before any frame
    const length = view.getUint16(i + 2);
    if (length < 2) return null;
    const isFrame = marker >= 0xc0 && marker <= 0xcf && marker !== 0xc4 && marker !== 0xc8 && marker !== 0xcc;
    if (isFrame) {
      if (i + 9 > bytes.length || length < 7) return null;
      const height = view.getUint16(i + 5);
      const width = view.getUint16(i + 7);
      // A height of 0 means "given later by a DNL marker", which decoders rarely support.
      return width > 0 && height > 0 ? { width, height } : null;
    }
    i += 2 + length;
  }
  return null;
}

/** WebP: the first chunk after "RIFF size WEBP" is VP8 (lossy), VP8L (lossless) or VP8X (extended). */
function webpDimensions(bytes: Uint8Array, view: DataView): { width: number; height: number } | null {
  if (bytes.length < 30) return null;
  const chunk = String.fromCharCode(...bytes.subarray(12, 16));
  let width = 0;
  let height = 0;
  if (chunk === 'VP8 ') {
    // Frame tag (3 bytes), start code 9d 01 2a, then 14-bit width and height (2 bits of scale above).
    if (!startsWith(bytes, VP8_START_CODE, 23)) return null;
    width = view.getUint16(26, true) & 0x3fff;
    height = view.getUint16(28, true) & 0x3fff;
  } else if (chunk === 'VP8L') {
    // Signature 0x2f, then width − 1 and height − 1 in 14 bits each, little-endian bit order.
    if (bytes[20] !== 0x2f) return null;
    const bits = view.getUint32(21, true);
    width = (bits & 0x3fff) + 1;
    height = ((bits >>> 14) & 0x3fff) + 1;
  } else if (chunk === 'VP8X') {
    // Flags (1) and reserved (3), then canvas width − 1 and height − 1 in 24 bits each.
    width = (view.getUint16(24, true) | ((bytes[26] as number) << 16)) + 1;
    height = (view.getUint16(27, true) | ((bytes[29] as number) << 16)) + 1;
  } else {
    return null;
  }
  return width > 0 && height > 0 ? { width, height } : null;
}

/**
 * GIF: the logical screen (bytes 6–9), grown to cover the first frame where that frame reaches
 * past it (a damaged or hostile file may say so; some decoders then enlarge the canvas). Only the
 * first frame is decoded, so later frames do not count. The walk to that frame reads at most
 * MAX_HEADER_STEPS blocks and sub-blocks.
 */
function gifDimensions(bytes: Uint8Array, view: DataView): { width: number; height: number } | null {
  if (bytes.length < 13) return null;
  let width = view.getUint16(6, true);
  let height = view.getUint16(8, true);
  const packed = bytes[10] as number;
  let i = 13 + (packed & 0x80 ? 3 * 2 ** ((packed & 0x07) + 1) : 0);
  let steps = 0;
  while (i < bytes.length) {
    if (++steps > MAX_HEADER_STEPS) return null;
    const block = bytes[i];
    if (block === 0x2c) {
      // Image descriptor: left, top, width, height (2 bytes each, little-endian).
      if (i + 9 >= bytes.length) break;
      width = Math.max(width, view.getUint16(i + 1, true) + view.getUint16(i + 5, true));
      height = Math.max(height, view.getUint16(i + 3, true) + view.getUint16(i + 7, true));
      break;
    }
    if (block !== 0x21 || i + 2 >= bytes.length) break; // trailer, or not a GIF block
    // Extension: introducer, label, then data sub-blocks (length byte, data) up to a zero length.
    i += 2;
    while (i < bytes.length && bytes[i] !== 0) {
      if (++steps > MAX_HEADER_STEPS) return null;
      i += 1 + (bytes[i] as number);
    }
    i++;
  }
  return width > 0 && height > 0 ? { width, height } : null;
}

/**
 * The checks made before decoding, with the answers a person sees: not empty (400), one of the
 * accepted formats by its bytes (415), a readable header (400), at most `limits.maxPixels`
 * pixels (413).
 */
export function readImageHeader(bytes: Uint8Array, limits: ImageLimits): ImageHeader {
  if (bytes.length === 0) throw invalidInput('empty_file', 'The uploaded file is empty. Choose a cell image.');
  const format = sniffImageFormat(bytes);
  if (format === null) {
    throw unsupportedInput(
      'unsupported_image_type',
      `The file is not a ${ACCEPTED_FORMATS_TEXT} image. Upload a cell image in one of those formats.`,
    );
  }
  const dims = imageDimensions(bytes, format);
  if (dims === null) {
    throw invalidInput(
      'invalid_image',
      `The file looks like a ${format.toUpperCase()} image but cannot be read. It may be damaged.`,
    );
  }
  const { width, height } = dims;
  if (width * height > limits.maxPixels) {
    // Said with the reason: the limit is many cells wide, so an image over it is not one cell crop.
    const mp = Math.round(limits.maxPixels / 1e4) / 100;
    throw inputTooLarge(
      'image_too_large',
      `The image is ${width}×${height} pixels; images may have at most ${mp} megapixels, ` +
        'far more than one cell needs (a cell crop is about 150 × 150 pixels). Crop it to one cell, or resize it, and try again.',
    );
  }
  return { format, width, height };
}
