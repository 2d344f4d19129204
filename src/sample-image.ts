/**
 * An example image drawn from SVG by sharp: a model's documented examples (ExampleImage in
 * src/models/model.ts) become real image files for the API reference's answers.
 */
import sharp from 'sharp';

export type SampleFormat = 'png' | 'jpeg' | 'webp' | 'gif';

export function renderSvg(svg: string, format: SampleFormat = 'png'): Promise<Buffer> {
  return sharp(Buffer.from(svg)).toFormat(format).toBuffer();
}
