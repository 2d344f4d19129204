/**
 * Image decoding: the ONE implementation used by serving (the malaria predictor) and by
 * training-data preparation (training/prepare-malaria.ts). It only decodes, at the image's own
 * size; the resize to the model's input size is a node of the malaria ONNX graph, so the server,
 * the browser and training share one resize, not three. The parity check (training/parity.ts)
 * proves train/serve agreement end to end.
 *
 * Output: width × height 8-bit sRGB pixels, interleaved RGB, row-major (NHWC without the N).
 */
import sharp, { type Metadata } from 'sharp';
import { badRequest, payloadTooLarge, unsupportedMediaType } from './errors';
import { type RgbImage, undecodableImage } from './image-header';

export type ImageFormat = 'png' | 'jpeg' | 'webp' | 'gif';

export const ACCEPTED_FORMATS: readonly ImageFormat[] = ['png', 'jpeg', 'webp', 'gif'];
export const ACCEPTED_FORMATS_TEXT = 'PNG, JPEG, WebP or GIF';

export interface ImageLimits {
  /** Largest width × height accepted, checked from the header before any pixel is decoded. */
  maxPixels: number;
}

export type { RgbImage } from './image-header';

/**
 * The format by the file's first bytes (magic numbers), never by its name or declared type.
 * Returns null for anything else, SVG and TIFF included: SVG can reference files and URLs, and we
 * do not want libvips to parse formats we never accept.
 */
export function sniffImageFormat(bytes: Uint8Array): ImageFormat | null {
  const startsWith = (sig: number[], offset = 0): boolean =>
    bytes.length >= offset + sig.length && sig.every((b, i) => bytes[offset + i] === b);
  if (startsWith([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a])) return 'png';
  if (startsWith([0xff, 0xd8, 0xff])) return 'jpeg';
  if (startsWith([0x52, 0x49, 0x46, 0x46]) && startsWith([0x57, 0x45, 0x42, 0x50], 8)) return 'webp';
  if (startsWith([0x47, 0x49, 0x46, 0x38]) && (bytes[4] === 0x37 || bytes[4] === 0x39) && bytes[5] === 0x61) {
    return 'gif';
  }
  return null;
}

/** Reads only the header: format check and the pixel-bomb guard happen before decoding. */
export async function readImageHeader(
  bytes: Uint8Array,
  limits: ImageLimits,
): Promise<{ format: ImageFormat; width: number; height: number }> {
  if (bytes.length === 0) throw badRequest('empty_file', 'The uploaded file is empty. Choose a cell image.');
  const format = sniffImageFormat(bytes);
  if (format === null) {
    throw unsupportedMediaType(
      'unsupported_image_type',
      `The file is not a ${ACCEPTED_FORMATS_TEXT} image. Upload a cell image in one of those formats.`,
    );
  }
  let meta: Metadata;
  try {
    meta = await sharp(bytes, { pages: 1, limitInputPixels: false }).metadata();
  } catch {
    throw badRequest('invalid_image', `The file looks like a ${format.toUpperCase()} image but cannot be read. It may be damaged.`);
  }
  // For animated images sharp reports the whole strip's height unless asked for one page.
  const width = meta.width ?? 0;
  const height = meta.pageHeight ?? meta.height ?? 0;
  if (width <= 0 || height <= 0) {
    throw badRequest('invalid_image', 'The image has no pixels. Upload a cell image.');
  }
  if (width * height > limits.maxPixels) {
    const mp = (limits.maxPixels / 1e6).toFixed(0);
    throw payloadTooLarge(
      'image_too_large',
      `The image is ${width}×${height} pixels; images may have at most ${mp} megapixels. Resize it and try again.`,
    );
  }
  return { format, width, height };
}

/**
 * Decode any accepted image to RGB at its own size: EXIF orientation applied (width and height
 * are the displayed ones), first frame of a GIF, transparency flattened onto black (the dataset's
 * background is black), grey/palette/CMYK/16-bit converted to 8-bit sRGB.
 */
export async function decodeToRgb(bytes: Uint8Array, limits: ImageLimits): Promise<RgbImage> {
  const header = await readImageHeader(bytes, limits);
  try {
    const { data, info } = await sharp(bytes, { pages: 1, limitInputPixels: limits.maxPixels, failOn: 'error' })
      .rotate()
      .flatten({ background: '#000000' })
      .toColourspace('srgb')
      .removeAlpha()
      .raw({ depth: 'uchar' })
      .toBuffer({ resolveWithObject: true });
    if (info.channels !== 3 || data.length !== info.width * info.height * 3) {
      throw new Error(`unexpected decode result: ${info.width}x${info.height}x${info.channels}`);
    }
    return { pixels: new Uint8Array(data.buffer, data.byteOffset, data.length), width: info.width, height: info.height };
  } catch {
    throw undecodableImage(header.format);
  }
}

/**
 * A small JPEG preview of an accepted image, for the page's results table when it is drawn on the
 * server (without JavaScript the browser cannot show the files it sent): oriented and flattened on
 * black like decodeToRgb, and padded to a centred square on black as the model's graph pads it, in
 * `size`×`size`. Call it only for a file that decodeToRgb accepted.
 */
export async function thumbnail(bytes: Uint8Array, size: number, limits: ImageLimits): Promise<Buffer> {
  return sharp(bytes, { pages: 1, limitInputPixels: limits.maxPixels })
    .rotate()
    .flatten({ background: '#000000' })
    .toColourspace('srgb')
    .resize(size, size, { fit: 'contain', background: '#000000' })
    .jpeg({ quality: 70 })
    .toBuffer();
}
