/**
 * Issue 26, Must hold 5: drift is real. 500 cells of the validation split (no image of the
 * training split the card's reference was measured on), described by the server's describer after
 * the server's decoder, stay within PSI 0.1 of the card's reference on every image feature; the
 * same cells scaled to a quarter of their width and height (re-encoded as lossless PNG) drift
 * past DRIFT_THRESHOLD on width and height, which the page flags. Needs ../shared/data.
 */
import fs from 'node:fs';
import path from 'node:path';
import sharp from 'sharp';
import { DRIFT_THRESHOLD, cardMonitoring, drift } from '../../src/core/drift';
import { decodeToRgb } from '../../src/images';
import { MODELS } from '../../src/models';
import { loadDescriber } from '../../src/monitoring/features';
import { readCard } from '../../src/predictors/registry';
import { findCellImages } from '../../training/malaria-data';
import { validationIds } from '../../training/split';
import { validationSample } from '../helpers/validation-cells';

const DATA = path.join(__dirname, '..', '..', '..', 'shared', 'data');
const MODELS_DIR = path.join(__dirname, '..', '..', 'models');
const MODEL = 'malaria';
const haveData = fs.existsSync(path.join(DATA, 'malaria'));
const LIMITS = { maxPixels: 25e6 };

/** Each feature's PSI against the card's reference, for the described inputs. */
function psis(described: Record<string, number>[], features: string[]): Record<string, number> {
  const section = cardMonitoring(readCard(MODELS_DIR, MODEL));
  if (section === null)
    throw new Error(
      `models/${MODEL}/card.json has no monitoring section: run npx tsx training/monitoring-reference.ts`,
    );
  return Object.fromEntries(
    features.map((name) => {
      const ref = section.features[name];
      if (ref === undefined) throw new Error(`no reference for ${name}`);
      return [
        name,
        drift(
          ref,
          described.map((d) => d[name] as number),
        ),
      ];
    }),
  );
}

const round4 = (r: Record<string, number>): Record<string, number> =>
  Object.fromEntries(Object.entries(r).map(([k, v]) => [k, Math.round(v * 1e4) / 1e4]));

(haveData ? describe : describe.skip)(
  haveData ? 'drift of real cells' : `drift of real cells: skipped, no ${DATA}`,
  () => {
    jest.setTimeout(60_000);

    const cells = haveData ? validationSample(250) : [];
    let features: string[] = [];
    const described: Record<string, number>[] = [];
    const quarter: Record<string, number>[] = [];

    beforeAll(async () => {
      const describer = await loadDescriber(
        MODELS,
        MODELS_DIR,
        MODELS.map((m) => readCard(MODELS_DIR, m.name)),
      );
      features = describer.features(MODEL).map((f) => f.name);
      for (const cell of cells) {
        const bytes = fs.readFileSync(cell.file);
        const image = await decodeToRgb(bytes, LIMITS);
        described.push(describer.describe(MODEL, image));
        const small = await sharp(image.pixels, { raw: { width: image.width, height: image.height, channels: 3 } })
          .resize(Math.max(1, Math.round(image.width / 4)), Math.max(1, Math.round(image.height / 4)), { fit: 'fill' })
          .png()
          .toBuffer();
        quarter.push(describer.describe(MODEL, await decodeToRgb(small, LIMITS)));
      }
    });

    it('uses 500 validation cells, none of the training split', () => {
      expect(cells).toHaveLength(500);
      const held = validationIds(findCellImages(DATA));
      expect(cells.every((c) => held.has(c.id))).toBe(true);
      expect(described).toHaveLength(500);
    });

    it('500 validation cells: PSI < 0.1 on every image feature', () => {
      const result = psis(described, features);
      console.log(`PSI, 500 validation cells against the training split: ${JSON.stringify(round4(result))}`);
      expect(features.sort()).toEqual(['brightness', 'height', 'width']);
      for (const name of features) expect(result[name]).toBeLessThan(0.1);
    });

    it('the same cells at a quarter of their size: PSI > 0.2 on width and height, flagged', () => {
      expect(quarter[0]?.width).toBe(Math.max(1, Math.round((described[0]?.width as number) / 4)));
      const result = psis(quarter, features);
      console.log(`PSI, the same cells scaled to 1/4: ${JSON.stringify(round4(result))}`);
      for (const name of ['width', 'height']) {
        expect(result[name]).toBeGreaterThan(DRIFT_THRESHOLD);
      }
    });
  },
);
