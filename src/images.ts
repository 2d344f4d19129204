/**
 * Image decoding: the ONE implementation used by serving (the image models' predictors) and by
 * training-data preparation (training/). It only decodes, at the image's own size; the resize to
 * the model's input size is a node of the image model's ONNX graph, so the server,
 * the browser and training share one resize, not three. The parity check (training/parity.ts)
 * proves train/serve agreement end to end.
 *
 * Output: width × height 8-bit sRGB pixels, interleaved RGB, row-major (NHWC without the N).
 */
import sharp from 'sharp';
import type { Config } from './config';
import { inputTooLarge } from './errors';
import { type ImageLimits, type RgbImage, readImageHeader, undecodableImage } from './image-header';
import { ByteBudget } from './memory-budget';
import type { DecodedImage } from './models/model';

export type { RgbImage } from './image-header';

/** The header checks, and the server's decode budget (none for the batch command and training). */
export interface DecodeLimits extends ImageLimits {
  budget?: ByteBudget;
}

/** The server's limits for one process: the pixel limit, and one decode budget for all its requests. */
export function decodeLimits(config: Config): DecodeLimits {
  return {
    maxPixels: config.maxImagePixels,
    budget: new ByteBudget(config.decodeBudgetBytes, { maxWaiting: config.queueLimit, maxWaitMs: config.decodeWaitMs }),
  };
}

const megapixels = (pixels: number): string => String(Math.round(pixels / 1e4) / 100);

/**
 * libvips as the server and the batch command run it: `threads` per operation (SHARP_CONCURRENCY;
 * images are small and already decoded in parallel, one per request or batch slot), and no operation
 * cache (it keeps decoded images for a reuse that never comes: every upload differs).
 */
export function configureSharp(threads: number): void {
  sharp.concurrency(threads);
  sharp.cache(false);
}

/**
 * Decode any accepted image to RGB at its own size: EXIF orientation applied (width and height
 * are the displayed ones), first frame of a GIF, transparency flattened onto black (the dataset's
 * background is black), grey/palette/CMYK/16-bit converted to 8-bit sRGB.
 *
 * With a budget, width × height × 3 bytes are reserved from the header before decoding (waiting
 * briefly, or 503 overloaded when the process already holds its budget's worth of pixels); the
 * caller gives them back with `release()` once it is done with the pixels.
 */
export async function decodeToRgb(bytes: Uint8Array, limits: DecodeLimits): Promise<DecodedImage> {
  // Format and the pixel-bomb guard from the header's bytes (src/image-header.ts), so the file is
  // decoded once: a metadata() pass first was a second libvips pipeline, ~0.15 ms of CPU per image.
  // limitInputPixels makes libvips check the same limit from the header it reads itself.
  const header = readImageHeader(bytes, limits);
  const release = limits.budget === undefined ? undefined : await reserve(limits.budget, header.width, header.height);
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
    return { pixels: new Uint8Array(data.buffer, data.byteOffset, data.length), width: info.width, height: info.height, release };
  } catch {
    release?.();
    throw undecodableImage(header.format);
  }
}

/** Room in `budget` for one decoded image, or 413 for an image that could never have it. */
async function reserve(budget: ByteBudget, width: number, height: number): Promise<() => void> {
  const bytes = width * height * 3;
  if (!budget.fits(bytes)) {
    throw inputTooLarge(
      'image_too_large',
      `The image is ${width}×${height} pixels; this server decodes at most ${megapixels(budget.capacity / 3)} megapixels at a time. ` +
        'A cell crop is about 150 × 150 pixels: crop the image to one cell and try again.',
    );
  }
  return budget.reserve(bytes);
}

/**
 * A small JPEG preview of a decoded image, for the page's results table when it is drawn on the
 * server (without JavaScript the browser cannot show the files it sent): made from the pixels
 * decodeToRgb gave the model (so oriented and flattened on black, and the file is not decoded a
 * second time), scaled to fit in `size`×`size`. The page shows it in a square box with
 * `object-fit: contain`, as it shows the files themselves when the browser draws the table
 * (padding it to a square here cost libvips ~0.8 ms of the ~2 ms per thumbnail, measured).
 */
export async function thumbnail(image: RgbImage, size: number): Promise<Buffer> {
  return sharp(image.pixels, { raw: { width: image.width, height: image.height, channels: 3 } })
    .resize(size, size, { fit: 'inside' })
    .jpeg({ quality: 70 })
    .toBuffer();
}
