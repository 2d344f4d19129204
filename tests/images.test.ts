/**
 * The one image decoder (serving and training data preparation): formats, conversions, limits.
 * It decodes at the image's own size; the resize is in the malaria graph. The header checks it makes
 * first are src/image-header.ts's (tests/image-header.test.ts).
 */
import sharp from 'sharp';
import { decodeToRgb, type RgbImage } from '../src/images';
import { gifBomb, pngBomb } from './helpers/bombs';
import { cellImage } from './helpers/app';

const LIMITS = { maxPixels: 25_000_000 };

/** The RGB of pixel (x, y) of a decoded image. */
const at = (img: RgbImage, x: number, y: number): number[] => {
  const i = (y * img.width + x) * 3;
  return Array.from(img.pixels.subarray(i, i + 3));
};

describe('decodeToRgb', () => {
  it('gives width × height × 3 bytes at the image\'s own size for every accepted format', async () => {
    for (const format of ['png', 'jpeg', 'webp', 'gif'] as const) {
      const img = await decodeToRgb(await cellImage(format, { size: 40 }), LIMITS);
      expect([img.width, img.height]).toEqual([40, 40]);
      expect(img.pixels).toHaveLength(40 * 40 * 3);
    }
  });

  it('keeps a non-square image as it is: no resize, no padding', async () => {
    const wide = await sharp({ create: { width: 16, height: 4, channels: 3, background: '#ffffff' } }).png().toBuffer();
    const img = await decodeToRgb(wide, LIMITS);
    expect([img.width, img.height]).toEqual([16, 4]);
    expect(at(img, 0, 0)).toEqual([255, 255, 255]);
    expect(at(img, 15, 3)).toEqual([255, 255, 255]);
  });

  it('converts a grey image to RGB', async () => {
    const grey = await sharp({ create: { width: 4, height: 4, channels: 3, background: '#808080' } }).toColourspace('b-w').png().toBuffer();
    expect((await sharp(grey).metadata()).channels).toBe(1);
    expect(at(await decodeToRgb(grey, LIMITS), 2, 2)).toEqual([128, 128, 128]);
  });

  it('flattens transparency onto black, like the dataset background', async () => {
    const rgba = await sharp({ create: { width: 4, height: 4, channels: 4, background: { r: 255, g: 0, b: 0, alpha: 0 } } }).png().toBuffer();
    const img = await decodeToRgb(rgba, LIMITS);
    expect(img.pixels).toHaveLength(4 * 4 * 3);
    expect(at(img, 2, 2)).toEqual([0, 0, 0]);
  });

  it('reduces a 16-bit PNG to 8 bits', async () => {
    const png16 = await sharp({ create: { width: 4, height: 4, channels: 3, background: '#ff0000' } }).png({ compressionLevel: 0 }).toColourspace('rgb16').toBuffer();
    expect((await sharp(png16).metadata()).depth).toBe('ushort');
    expect(at(await decodeToRgb(png16, LIMITS), 2, 2)).toEqual([255, 0, 0]);
  });

  it('decodes a palette PNG', async () => {
    const palette = await sharp({ create: { width: 4, height: 4, channels: 3, background: '#00ff00' } }).png({ palette: true }).toBuffer();
    expect(at(await decodeToRgb(palette, LIMITS), 2, 2)).toEqual([0, 255, 0]);
  });

  it('applies EXIF orientation: width and height are the displayed ones', async () => {
    // A 16×4 bar, white on its left half, stored with orientation 6 (rotate 90° clockwise):
    // it displays as 4×16 with the white half on top.
    const left = await sharp({ create: { width: 8, height: 4, channels: 3, background: '#ffffff' } }).png().toBuffer();
    const bar = await sharp({ create: { width: 16, height: 4, channels: 3, background: '#000000' } })
      .composite([{ input: left, left: 0, top: 0 }])
      .withMetadata({ orientation: 6 })
      .jpeg({ quality: 100 })
      .toBuffer();
    const img = await decodeToRgb(bar, LIMITS);
    expect([img.width, img.height]).toEqual([4, 16]);
    expect(at(img, 2, 2)[0]).toBeGreaterThan(200);
    expect(at(img, 2, 13)[0]).toBeLessThan(50);
  });

  it('takes the first frame of an animated GIF', async () => {
    const frame = (colour: string) => sharp({ create: { width: 4, height: 4, channels: 3, background: colour } }).png().toBuffer();
    const gif = await sharp([await frame('#ff0000'), await frame('#0000ff')], { join: { animated: true } }).gif().toBuffer();
    expect((await sharp(gif).metadata()).pages).toBe(2);
    const img = await decodeToRgb(gif, LIMITS);
    expect([img.width, img.height]).toEqual([4, 4]); // one frame, not the 4×8 strip
    expect(at(img, 2, 2)).toEqual([255, 0, 0]);
  });
});

describe('limits', () => {
  it('refuses an image over the megapixel limit from its header alone', async () => {
    await expect(decodeToRgb(await cellImage('png', { size: 200 }), { maxPixels: 100 * 100 })).rejects.toMatchObject({
      kind: 'too_large',
      code: 'image_too_large',
    });
  });

  it.each([
    ['PNG', () => pngBomb(30000, 30000)],
    ['GIF', () => gifBomb(60000, 60000)],
  ])('refuses a %s pixel bomb in milliseconds, before libvips allocates its pixels', async (_name, bomb) => {
    const started = performance.now();
    await expect(decodeToRgb(bomb(), LIMITS)).rejects.toMatchObject({ kind: 'too_large', code: 'image_too_large' });
    // Decoding would take seconds and gigabytes; refusing from the header is a few milliseconds,
    // bounded loosely so that a loaded machine's pause cannot fail it.
    expect(performance.now() - started).toBeLessThan(500);
  });

  it('refuses a file whose header lies about its size as damaged, not with a crash', async () => {
    // A 4×4 PNG whose IHDR says 400×400: within the limit, but its data runs out.
    const png = Buffer.from(await sharp({ create: { width: 4, height: 4, channels: 3, background: '#fff' } }).png().toBuffer());
    png.writeUInt32BE(400, 16);
    png.writeUInt32BE(400, 20);
    await expect(decodeToRgb(png, LIMITS)).rejects.toMatchObject({ kind: 'invalid', code: 'invalid_image' });
  });

  it('refuses a damaged file of an accepted format with 400', async () => {
    const png = await cellImage('png', { size: 64 });
    await expect(decodeToRgb(png.subarray(0, 100), LIMITS)).rejects.toMatchObject({ kind: 'invalid', code: 'invalid_image' });
  });

  it('refuses an empty file with 400', async () => {
    await expect(decodeToRgb(Buffer.alloc(0), LIMITS)).rejects.toMatchObject({ kind: 'invalid', code: 'empty_file' });
  });
});
