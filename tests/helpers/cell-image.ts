/** The tests' cell images: the image model's synthetic cell (src/models/malaria/sample.ts) as a file of a format. */
import { cellSvg } from '../../src/models/malaria/sample';
import { type SampleFormat, renderSvg } from '../../src/sample-image';

export function cellImage(format: SampleFormat = 'png', options: { size?: number; parasite?: boolean } = {}): Promise<Buffer> {
  return renderSvg(cellSvg(options), format);
}
