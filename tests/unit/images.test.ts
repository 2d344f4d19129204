/** The one image decoder (serving and training data preparation): formats, conversions, limits. */
import sharp from 'sharp';
import { decodeToRgb, readImageHeader, sniffImageFormat } from '../../src/images';
import { cellImage } from '../helpers/app';

const LIMITS = { maxPixels: 25_000_000 };
const S = 8;

/** The RGB of pixel (x, y) of a decoded S×S image. */
const at = (px: Uint8Array, x: number, y: number): number[] => Array.from(px.subarray((y * S + x) * 3, (y * S + x) * 3 + 3));

describe('sniffImageFormat', () => {
  it.each(['png', 'jpeg', 'webp', 'gif'] as const)('recognises %s by its bytes', async (format) => {
    expect(sniffImageFormat(await cellImage(format, { size: 16 }))).toBe(format);
  });

  it.each([
    ['text', Buffer.from('hello world, this is text')],
    ['SVG', Buffer.from('<svg xmlns="http://www.w3.org/2000/svg"/>')],
    ['TIFF', Buffer.from([0x49, 0x49, 0x2a, 0x00, 0, 0, 0, 0])],
    ['BMP', Buffer.from('BM\0\0\0\0\0\0')],
    ['empty', Buffer.alloc(0)],
    ['a RIFF that is not WebP', Buffer.from('RIFF\0\0\0\0WAVEfmt ')],
  ])('returns null for %s', (_name, bytes) => {
    expect(sniffImageFormat(bytes)).toBeNull();
  });
});

describe('decodeToRgb', () => {
  it('gives S×S×3 bytes for every accepted format', async () => {
    for (const format of ['png', 'jpeg', 'webp', 'gif'] as const) {
      const img = await decodeToRgb(await cellImage(format, { size: 40 }), S, LIMITS);
      expect(img.pixels).toHaveLength(S * S * 3);
      expect(img.width).toBe(40);
    }
  });

  it('converts a grey image to RGB', async () => {
    const grey = await sharp({ create: { width: 4, height: 4, channels: 3, background: '#808080' } }).toColourspace('b-w').png().toBuffer();
    expect((await sharp(grey).metadata()).channels).toBe(1);
    const { pixels } = await decodeToRgb(grey, S, LIMITS);
    expect(at(pixels, 4, 4)).toEqual([128, 128, 128]);
  });

  it('flattens transparency onto black, like the dataset background', async () => {
    const rgba = await sharp({ create: { width: 4, height: 4, channels: 4, background: { r: 255, g: 0, b: 0, alpha: 0 } } }).png().toBuffer();
    const { pixels } = await decodeToRgb(rgba, S, LIMITS);
    expect(at(pixels, 4, 4)).toEqual([0, 0, 0]);
  });

  it('reduces a 16-bit PNG to 8 bits', async () => {
    const png16 = await sharp({ create: { width: 4, height: 4, channels: 3, background: '#ff0000' } }).png({ compressionLevel: 0 }).toColourspace('rgb16').toBuffer();
    expect((await sharp(png16).metadata()).depth).toBe('ushort');
    const { pixels } = await decodeToRgb(png16, S, LIMITS);
    expect(at(pixels, 4, 4)).toEqual([255, 0, 0]);
  });

  it('decodes a palette PNG', async () => {
    const palette = await sharp({ create: { width: 4, height: 4, channels: 3, background: '#00ff00' } }).png({ palette: true }).toBuffer();
    const { pixels } = await decodeToRgb(palette, S, LIMITS);
    expect(at(pixels, 4, 4)).toEqual([0, 255, 0]);
  });

  it('keeps the aspect ratio, padding with black', async () => {
    const wide = await sharp({ create: { width: 16, height: 4, channels: 3, background: '#ffffff' } }).png().toBuffer();
    const { pixels } = await decodeToRgb(wide, S, LIMITS);
    expect(at(pixels, 4, 0)).toEqual([0, 0, 0]); // padding above
    expect(at(pixels, 4, 4)).toEqual([255, 255, 255]); // the image in the middle
  });

  it('applies EXIF orientation', async () => {
    // A 16×4 white bar stored with orientation 6 (rotate 90° clockwise) displays as 4×16: tall.
    const bar = await sharp({ create: { width: 16, height: 4, channels: 3, background: '#ffffff' } }).withMetadata({ orientation: 6 }).jpeg().toBuffer();
    const { pixels } = await decodeToRgb(bar, S, LIMITS);
    expect(at(pixels, 4, 0)[0]).toBeGreaterThan(200); // tall: white reaches the top edge
    expect(at(pixels, 0, 4)[0]).toBeLessThan(30); // and black padding left and right
  });

  it('takes the first frame of an animated GIF', async () => {
    const frame = (colour: string) => sharp({ create: { width: 4, height: 4, channels: 3, background: colour } }).png().toBuffer();
    const gif = await sharp([await frame('#ff0000'), await frame('#0000ff')], { join: { animated: true } }).gif().toBuffer();
    expect((await sharp(gif).metadata()).pages).toBe(2);
    const { pixels, height } = await decodeToRgb(gif, S, LIMITS);
    expect(height).toBe(4); // one frame, not the 4×8 strip
    expect(at(pixels, 4, 4)).toEqual([255, 0, 0]);
  });
});

describe('limits', () => {
  it('refuses an image over the megapixel limit from its header alone', async () => {
    await expect(readImageHeader(await cellImage('png', { size: 200 }), { maxPixels: 100 * 100 })).rejects.toMatchObject({
      status: 413,
      code: 'image_too_large',
    });
  });

  it('refuses a damaged file of an accepted format with 400', async () => {
    const png = await cellImage('png', { size: 64 });
    await expect(decodeToRgb(png.subarray(0, 100), S, LIMITS)).rejects.toMatchObject({ status: 400, code: 'invalid_image' });
  });

  it('refuses an empty file with 400', async () => {
    await expect(decodeToRgb(Buffer.alloc(0), S, LIMITS)).rejects.toMatchObject({ status: 400, code: 'empty_file' });
  });
});
