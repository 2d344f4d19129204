/**
 * The browser's image decoder: file bytes → RGB pixels, with the server's checks before decoding
 * (src/image-header.ts: format by its bytes, a readable header, the pixel limit from the header)
 * and the server's decoding rules (src/images.ts): EXIF orientation
 * applied, first frame of a GIF, transparency flattened onto black, 8-bit sRGB.
 *
 * Decoding is the browser's own (createImageBitmap); for lossless formats (PNG, GIF, lossless
 * WebP: the whole NIH dataset) it yields the very pixels libvips yields. The canvas the bitmap is
 * drawn on is opaque, so it starts black and alpha is composited onto black, as sharp's
 * flatten({ background: black }) does; reading an opaque canvas back is exact (no
 * premultiplication round trip).
 */
import { type ImageLimits, readImageHeader, type RgbImage, undecodableImage } from '../image-header';
import type { ImageDecoder } from '../models/model';

/** `bitmap` drawn at its own size into an opaque canvas; RGB out. */
function drawRgb(bitmap: ImageBitmap): RgbImage {
  const { width, height } = bitmap;
  const canvas = new OffscreenCanvas(width, height);
  const ctx = canvas.getContext('2d', { alpha: false, willReadFrequently: true, colorSpace: 'srgb' });
  if (ctx === null) throw new Error('no 2D canvas');
  ctx.fillStyle = '#000';
  ctx.fillRect(0, 0, width, height);
  ctx.drawImage(bitmap, 0, 0);
  const rgba = ctx.getImageData(0, 0, width, height, { colorSpace: 'srgb' }).data;
  const pixels = new Uint8Array(width * height * 3);
  for (let i = 0, j = 0; i < rgba.length; i += 4, j += 3) {
    pixels[j] = rgba[i] as number;
    pixels[j + 1] = rgba[i + 1] as number;
    pixels[j + 2] = rgba[i + 2] as number;
  }
  return { pixels, width, height };
}

/**
 * The decoder the browser engine gives an image model's predictor (PredictorEnv). No resizing
 * here: the model's graph resizes, so the server, the browser and training share one resize
 * (canvas resampling is the browser's own: fitting cells into 32×32 with a canvas agreed with the
 * server's libvips Lanczos on only 99.38 % of the validation images, measured with version 1 of
 * the cell image model).
 */
export function browserDecoder(limits: ImageLimits): ImageDecoder {
  return async (bytes) => {
    const { format } = readImageHeader(bytes, limits);
    let bitmap: ImageBitmap;
    try {
      bitmap = await createImageBitmap(new Blob([bytes as Uint8Array<ArrayBuffer>]), {
        imageOrientation: 'from-image',
        colorSpaceConversion: 'default',
      });
    } catch {
      throw undecodableImage(format);
    }
    try {
      return drawRgb(bitmap);
    } finally {
      bitmap.close();
    }
  };
}
