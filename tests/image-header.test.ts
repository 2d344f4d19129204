/** The header reader: format and dimensions from the first bytes, checked against libvips' own reading. */
import fc from 'fast-check';
import sharp from 'sharp';
import { AppError } from '../src/errors';
import { imageDimensions, MAX_FILL_BYTES, MAX_HEADER_STEPS, readImageHeader, sniffImageFormat } from '../src/image-header';
import { gifBomb, pngBomb } from './helpers/bombs';
import { cellImage } from './helpers/app';

const LIMITS = { maxPixels: 25_000_000 };

const blank = (width: number, height: number, channels: 3 | 4 = 3) =>
  sharp({ create: { width, height, channels, background: { r: 200, g: 120, b: 140, alpha: 0.5 } } });

/** What libvips says, for the first page (sharp reports an animation's whole strip as height otherwise). */
async function sharpSays(bytes: Buffer): Promise<{ width: number; height: number }> {
  const meta = await sharp(bytes, { pages: 1 }).metadata();
  return { width: meta.width ?? 0, height: meta.pageHeight ?? meta.height ?? 0 };
}

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
    ['GIF87 without the a', Buffer.from('GIF87b')],
  ])('returns null for %s', (_name, bytes) => {
    expect(sniffImageFormat(bytes)).toBeNull();
  });
});

describe('imageDimensions agrees with libvips', () => {
  const cases: [string, () => Promise<Buffer>][] = [
    ['PNG', () => blank(130, 97).png().toBuffer()],
    ['PNG, 16-bit grey', () => blank(31, 7).toColourspace('grey16').png().toBuffer()],
    ['PNG, palette', () => blank(64, 3).png({ palette: true }).toBuffer()],
    ['PNG, interlaced', () => blank(40, 41).png({ progressive: true }).toBuffer()],
    ['JPEG, baseline', () => blank(301, 17).jpeg().toBuffer()],
    ['JPEG, progressive', () => blank(17, 301).jpeg({ progressive: true }).toBuffer()],
    [
      'JPEG with EXIF and an ICC profile before the frame',
      () => blank(50, 20).withMetadata({ orientation: 6 }).withIccProfile('p3').jpeg().toBuffer(),
    ],
    ['JPEG, CMYK', () => blank(33, 44).toColourspace('cmyk').jpeg().toBuffer()],
    ['JPEG, grey', () => blank(12, 34).toColourspace('b-w').jpeg().toBuffer()],
    ['WebP, lossy (VP8)', () => blank(123, 45).webp().toBuffer()],
    ['WebP, lossless (VP8L)', () => blank(16383, 2).webp({ lossless: true }).toBuffer()],
    ['WebP, lossy with alpha (VP8X)', () => blank(77, 66, 4).webp().toBuffer()],
    ['WebP with EXIF (VP8X)', () => blank(20, 30).withMetadata({ orientation: 3 }).webp().toBuffer()],
    ['GIF', () => blank(200, 3).gif().toBuffer()],
    ['GIF with a 2-colour palette', () => blank(9, 8).gif({ colours: 2 }).toBuffer()],
  ];

  it.each(cases)('%s', async (_name, make) => {
    const bytes = await make();
    const format = sniffImageFormat(bytes);
    expect(format).not.toBeNull();
    expect(imageDimensions(bytes, format!)).toEqual(await sharpSays(bytes));
  });

  it('reads an animated GIF by its first frame', async () => {
    const frames = await Promise.all(
      ['#f00', '#0f0', '#00f'].map((c) =>
        sharp({ create: { width: 10, height: 6, channels: 3, background: c } })
          .png()
          .toBuffer(),
      ),
    );
    const strip = await sharp(frames, { join: { animated: true } })
      .gif()
      .toBuffer();
    expect(imageDimensions(strip, 'gif')).toEqual({ width: 10, height: 6 });
    expect(await sharpSays(strip)).toEqual({ width: 10, height: 6 });
  });

  it('reads an animated WebP by its canvas', async () => {
    const frames = await Promise.all(
      ['#f00', '#0f0'].map((c) =>
        sharp({ create: { width: 21, height: 13, channels: 3, background: c } })
          .png()
          .toBuffer(),
      ),
    );
    const anim = await sharp(frames, { join: { animated: true } })
      .webp()
      .toBuffer();
    expect(imageDimensions(anim, 'webp')).toEqual({ width: 21, height: 13 });
  });
});

describe('imageDimensions on damaged headers', () => {
  it.each(['png', 'jpeg', 'webp', 'gif'] as const)('gives null for a %s cut off inside its header', async (format) => {
    const bytes = await cellImage(format, { size: 40 });
    const cut = format === 'jpeg' ? bytes.subarray(0, 6) : bytes.subarray(0, 12);
    expect(imageDimensions(cut, format)).toBeNull();
  });

  it('gives null for a JPEG whose frame says height 0 (DNL), which decoders do not support', async () => {
    const bytes = Buffer.from(await blank(8, 8).jpeg().toBuffer());
    const sof = bytes.indexOf(Buffer.from([0xff, 0xc0]));
    bytes.writeUInt16BE(0, sof + 5);
    expect(imageDimensions(bytes, 'jpeg')).toBeNull();
  });

  it('gives null for a JPEG whose scan starts before any frame header', () => {
    expect(imageDimensions(Buffer.from([0xff, 0xd8, 0xff, 0xda, 0x00, 0x08, 1, 2, 3, 4, 5, 6]), 'jpeg')).toBeNull();
  });

  it.each([0, 1, 2, 3, 4, 5, 7, 1000, 1001])(
    'reads a JPEG frame after stray bytes and %d fill bytes before its marker, as libvips does',
    async (fill) => {
      const jpeg = Buffer.from(await blank(23, 11).jpeg().toBuffer());
      const sof = jpeg.indexOf(Buffer.from([0xff, 0xc0]));
      // Stray bytes, then `fill` 0xFF fill bytes, then the frame's own 0xFF marker.
      const bytes = Buffer.concat([
        jpeg.subarray(0, sof),
        Buffer.from([0x00, 0x12]),
        Buffer.alloc(fill, 0xff),
        jpeg.subarray(sof),
      ]);
      expect(imageDimensions(bytes, 'jpeg')).toEqual({ width: 23, height: 11 });
      expect(await sharpSays(bytes)).toEqual({ width: 23, height: 11 });
    },
  );

  it('reads a frame after MAX_FILL_BYTES fill bytes in all, as libvips does, and gives null past them', async () => {
    const jpeg = Buffer.from(await blank(23, 11).jpeg().toBuffer());
    const sof = jpeg.indexOf(Buffer.from([0xff, 0xc0]));
    // Two runs of fill bytes (before an empty APP1 segment, then before the frame): the bound is on their sum.
    const withFill = (first: number, second: number) =>
      Buffer.concat([
        jpeg.subarray(0, sof),
        Buffer.alloc(first, 0xff),
        Buffer.from([0xff, 0xe1, 0x00, 0x02]),
        Buffer.alloc(second, 0xff),
        jpeg.subarray(sof),
      ]);
    const atBound = withFill(MAX_FILL_BYTES / 2, MAX_FILL_BYTES / 2);
    expect(imageDimensions(atBound, 'jpeg')).toEqual({ width: 23, height: 11 });
    expect(await sharpSays(atBound)).toEqual({ width: 23, height: 11 });
    expect(imageDimensions(withFill(MAX_FILL_BYTES / 2, MAX_FILL_BYTES / 2 + 1), 'jpeg')).toBeNull();
    expect(imageDimensions(withFill(MAX_FILL_BYTES + 1, 0), 'jpeg')).toBeNull();
  });

  it.each([1, 2, 5, 6, 4096])('gives null for a JPEG that ends in %d fill bytes before any frame', (fill) => {
    expect(imageDimensions(Buffer.concat([Buffer.from([0xff, 0xd8]), Buffer.alloc(fill, 0xff)]), 'jpeg')).toBeNull();
  });

  it.each([
    ['TEM markers', [0xff, 0x01]],
    ['RST markers', [0xff, 0xd3]],
    ['empty APP0 segments', [0xff, 0xe0, 0x00, 0x02]],
  ])('reads a JPEG frame after %s up to the step bound, and gives null past it', async (_name, unit) => {
    const jpeg = Buffer.from(await blank(23, 11).jpeg().toBuffer());
    const sof = jpeg.indexOf(Buffer.from([0xff, 0xc0]));
    // The frame is the walk's last step: SOI is not counted, the segments before the frame are.
    const before = jpeg.subarray(2, sof).toString('binary').split('\xff').length - 1;
    const withSteps = (n: number) =>
      Buffer.concat([jpeg.subarray(0, sof), Buffer.alloc(n * unit.length, Buffer.from(unit)), jpeg.subarray(sof)]);
    const atBound = withSteps(MAX_HEADER_STEPS - before - 1);
    expect(imageDimensions(atBound, 'jpeg')).toEqual({ width: 23, height: 11 });
    expect(await sharpSays(atBound)).toEqual({ width: 23, height: 11 });
    expect(imageDimensions(withSteps(MAX_HEADER_STEPS - before), 'jpeg')).toBeNull();
  });

  it('reads a GIF frame after extension sub-blocks up to the step bound, and gives null past it', () => {
    const screen = gifBomb(10, 10);
    const descriptor = screen.indexOf(0x2c, 13); // no global colour table: the first frame follows the screen
    // One application extension (introducer, label: 1 step), n one-byte sub-blocks, its terminator.
    const withSubBlocks = (n: number) =>
      Buffer.concat([
        screen.subarray(0, descriptor),
        Buffer.from([0x21, 0xff]),
        Buffer.alloc(n * 2, Buffer.from([0x01, 0x41])),
        Buffer.from([0x00]),
        screen.subarray(descriptor),
      ]);
    expect(imageDimensions(withSubBlocks(MAX_HEADER_STEPS - 2), 'gif')).toEqual({ width: 10, height: 10 });
    expect(imageDimensions(withSubBlocks(MAX_HEADER_STEPS - 1), 'gif')).toBeNull();
  });

  it('grows a GIF screen to cover a first frame that reaches past it', () => {
    const bytes = gifBomb(10, 10);
    bytes.writeUInt16LE(5000, 6 + 7 + 6 + 5); // first frame's width, past the 10×10 screen
    expect(imageDimensions(bytes, 'gif')).toEqual({ width: 5000, height: 10 });
  });

  it('never throws on random bytes behind a valid signature', () => {
    const signatures: [string, number[]][] = [
      ['png', [0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]],
      ['jpeg', [0xff, 0xd8, 0xff]],
      ['webp', [0x52, 0x49, 0x46, 0x46, 1, 2, 3, 4, 0x57, 0x45, 0x42, 0x50]],
      ['gif', [0x47, 0x49, 0x46, 0x38, 0x39, 0x61]],
    ];
    fc.assert(
      fc.property(fc.constantFrom(...signatures), fc.uint8Array({ maxLength: 300 }), ([format, sig], tail) => {
        const bytes = new Uint8Array([...sig, ...tail]);
        const dims = imageDimensions(bytes, format as 'png');
        return dims === null || (dims.width > 0 && dims.height > 0);
      }),
      { numRuns: 2000 },
    );
  });
});

describe('readImageHeader', () => {
  it('gives format and size of a cell image', async () => {
    expect(readImageHeader(await cellImage('webp', { size: 64 }), LIMITS)).toEqual({
      format: 'webp',
      width: 64,
      height: 64,
    });
  });

  it.each([
    ['an empty file', Buffer.alloc(0), 'invalid', 'empty_file'],
    ['text', Buffer.from('not an image at all'), 'unsupported', 'unsupported_image_type'],
    [
      'a PNG signature alone',
      Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]),
      'invalid',
      'invalid_image',
    ],
    ['a 30000×30000 PNG bomb', pngBomb(30000, 30000), 'too_large', 'image_too_large'],
    ['a 60000×60000 GIF bomb', gifBomb(60000, 60000), 'too_large', 'image_too_large'],
  ])('refuses %s', (_name, bytes, kind, code) => {
    let caught: unknown;
    try {
      readImageHeader(bytes, LIMITS);
    } catch (err) {
      caught = err;
    }
    expect(caught).toBeInstanceOf(AppError);
    expect(caught).toMatchObject({ kind, code });
  });

  it('says how large the image is and what the limit is', () => {
    expect(() => readImageHeader(pngBomb(6000, 5000), LIMITS)).toThrow(
      'The image is 6000×5000 pixels; images may have at most 25 megapixels',
    );
  });

  it('accepts an image of exactly the limit', () => {
    expect(readImageHeader(pngBomb(5000, 5000), LIMITS)).toEqual({ format: 'png', width: 5000, height: 5000 });
  });
});
