/**
 * The occlusion map: src/models/malaria/explain.ts (the graph's canvas grid laid over the uploaded
 * image), and the committed graphs' `explain` input and `logits` / `occlusion` outputs in
 * onnxruntime-node through the app's backend (training/malaria_graph.py add_explanation).
 */
import fs from 'node:fs';
import path from 'node:path';
import { decodeToRgb, type RgbImage } from '../../../src/images';
import { tensor } from '../../../src/inference/backend';
import { OnnxBackend } from '../../../src/inference/onnx';
import { cellMap, cellRegions } from '../../../src/models/malaria/explain';
import { MODELS_DIR } from '../../helpers/app';

const GRID = 4;
const sixteen = Array.from({ length: 16 }, (_, i) => i + 0.123456);
const rounded = (rows: number[]): number[] =>
  rows.flatMap((r) => [0, 1, 2, 3].map((c) => Math.round((r * 4 + c + 0.123456) * 1e4) / 1e4));
const counts = (cells: Int32Array): Map<number, number> => {
  const m = new Map<number, number>();
  for (const c of cells) m.set(c, (m.get(c) ?? 0) + 1);
  return m;
};

describe('cellMap', () => {
  it('square image: the whole grid, row-major, rounded to 4 decimals', () => {
    expect(cellMap(sixteen, GRID, { width: 130, height: 130 })).toEqual({
      width: 4,
      height: 4,
      values: rounded([0, 1, 2, 3]),
    });
  });

  it('wide image (200 x 50 fits as 32 x 8 at canvas row 12): keeps the block rows 1 and 2 it covers', () => {
    expect(cellMap(sixteen, GRID, { width: 200, height: 50 })).toEqual({
      width: 4,
      height: 2,
      values: rounded([1, 2]),
    });
  });

  it('tall image (50 x 130 fits as 12 x 32 at canvas column 10): keeps the block columns 1 and 2', () => {
    const map = cellMap(sixteen, GRID, { width: 50, height: 130 });
    expect(map.width).toBe(2);
    expect(map.height).toBe(4);
    expect(map.values).toEqual([1, 2, 5, 6, 9, 10, 13, 14].map((i) => Math.round((i + 0.123456) * 1e4) / 1e4));
  });

  it('an odd gap puts the extra padding pixel after: 130 x 69 fits as 32 x 17 at row 7, over block rows 0 to 2', () => {
    expect(cellMap(sixteen, GRID, { width: 130, height: 69 })).toEqual({
      width: 4,
      height: 3,
      values: rounded([0, 1, 2]),
    });
  });

  it('a one-pixel strip still fits as one canvas row (row 15) and gets one map row', () => {
    expect(cellMap(sixteen, GRID, { width: 1000, height: 1 })).toEqual({ width: 4, height: 1, values: rounded([1]) });
  });

  it('writes 0, not -0, and rejects values that are not one G x G block or a grid that does not divide the canvas', () => {
    expect(Object.is(cellMap(Array(16).fill(-0.00001), GRID, { width: 8, height: 8 }).values[0], 0)).toBe(true);
    expect(() => cellMap(sixteen.slice(1), GRID, { width: 8, height: 8 })).toThrow(/15 values/);
    expect(() => cellMap(Array(25).fill(0), 5, { width: 8, height: 8 })).toThrow(/no 5 x 5 grid/);
  });
});

describe('cellRegions', () => {
  it('square 128 x 128: each map cell holds the 32 x 32 pixels whose centres lie in its block', () => {
    const cells = cellRegions(GRID, { width: 128, height: 128 });
    expect([...counts(cells).entries()].sort((a, b) => a[0] - b[0])).toEqual(
      Array.from({ length: 16 }, (_, i) => [i, 1024]),
    );
    expect([cells[31], cells[32], cells[127], cells[128 * 127]]).toEqual([0, 1, 3, 12]);
  });

  it('wide 200 x 50: rows split where canvas row 16 begins (y 24 | 25), columns where canvas column 8 does (x 49 | 50)', () => {
    const cells = cellRegions(GRID, { width: 200, height: 50 });
    const at = (x: number, y: number): number => cells[y * 200 + x] as number;
    expect([at(0, 24), at(0, 25), at(49, 0), at(50, 0), at(199, 49)]).toEqual([0, 4, 0, 1, 7]);
  });

  it('every pixel of a tall image falls in a cell of its map, and every cell gets pixels', () => {
    const image = { width: 91, height: 300 };
    const map = cellMap(Array(16).fill(0), GRID, image);
    const seen = counts(cellRegions(GRID, image));
    expect([...seen.keys()].sort((a, b) => a - b)).toEqual(Array.from({ length: map.width * map.height }, (_, i) => i));
  });
});

describe('the committed graphs in onnxruntime-node', () => {
  const CELLS = path.join(__dirname, '..', '..', '..', '..', 'shared', 'data', 'malaria');
  const haveData = fs.existsSync(CELLS);
  /**
   * `probabilities` of these graphs before the map was added (models/malaria/{3,4} at commit
   * 1bdfb7b), float32 bits as JavaScript numbers: the map must not move them by one bit.
   */
  const BEFORE: Record<string, Record<string, [number, number]>> = {
    '3': {
      'uninfected/13442.webp': [0.07198302447795868, 0.9280169606208801],
      'parasitized/10014.webp': [0.8589919805526733, 0.14100801944732666],
    },
    '4': {
      'uninfected/13442.webp': [0.07388662546873093, 0.9261133670806885],
      'parasitized/10014.webp': [0.8647685050964355, 0.13523152470588684],
    },
  };

  let backend: OnnxBackend;
  beforeAll(async () => {
    backend = new OnnxBackend();
    await backend.load(
      ['3', '4'].map((v) => ({
        name: `malaria${v}`,
        version: v,
        path: path.join(MODELS_DIR, 'malaria', v, 'model.onnx'),
      })),
    );
  });
  afterAll(() => backend.close());

  const run = async (version: string, images: RgbImage[], explain: boolean[]) => {
    const { width, height } = images[0] as RgbImage;
    const pixels = new Uint8Array(images.length * width * height * 3);
    images.forEach((im, i) => pixels.set(im.pixels, i * width * height * 3));
    const out = await backend.infer(`malaria${version}`, {
      image: tensor('uint8', pixels, [images.length, height, width, 3]),
      explain: tensor('bool', Uint8Array.from(explain, Number), [explain.length]),
    });
    const get = (name: string) => {
      const t = out[name];
      if (t === undefined || t.type !== 'float32') throw new Error(`no float32 ${name}`);
      return { dims: t.dims, data: Array.from(t.data as Float32Array) };
    };
    return { probabilities: get('probabilities'), logits: get('logits'), occlusion: get('occlusion') };
  };

  describe.each(['3', '4'])('version %s', (version) => {
    (haveData ? it.each(Object.keys(BEFORE[version] ?? {})) : it.skip.each(['(no ../shared/data)']))(
      'on the real cell %s: probabilities as before, with and without the map; logits [1, 2]; occlusion [1, 4, 4]',
      async (id) => {
        const image = await decodeToRgb(fs.readFileSync(path.join(CELLS, id)), { maxPixels: 25_000_000 });
        const plain = await run(version, [image], [false]);
        const explained = await run(version, [image], [true]);
        expect(plain.probabilities.data).toEqual(BEFORE[version]?.[id]);
        expect(explained.probabilities.data).toEqual(BEFORE[version]?.[id]);
        expect(plain.occlusion.dims).toEqual([0, 4, 4]);
        expect(explained.logits).toEqual(plain.logits);
        expect(explained.logits.dims).toEqual([1, 2]);
        expect(explained.occlusion.dims).toEqual([1, 4, 4]);
        const [a, b] = explained.logits.data as [number, number];
        const unclipped = 1 / (1 + Math.exp(b - a));
        expect(Math.min(Math.max(unclipped, 0.001), 0.999)).toBeCloseTo(explained.probabilities.data[0] as number, 6);
        expect(explained.occlusion.data.every(Number.isFinite)).toBe(true);
        expect(explained.occlusion.data.some((v) => v !== 0)).toBe(true);
      },
    );

    it('a batch of two is explained image by image, as each alone, when any flag is set', async () => {
      const grey = (level: number): RgbImage => ({
        width: 60,
        height: 60,
        pixels: new Uint8Array(60 * 60 * 3).fill(level),
      });
      const [a, b] = [grey(90), grey(170)];
      const both = await run(version, [a, b], [false, true]);
      const alone = [await run(version, [a], [true]), await run(version, [b], [true])];
      expect(both.occlusion.dims).toEqual([2, 4, 4]);
      expect(both.probabilities.data).toEqual([
        ...(alone[0]?.probabilities.data ?? []),
        ...(alone[1]?.probabilities.data ?? []),
      ]);
      const expected = [...(alone[0]?.occlusion.data ?? []), ...(alone[1]?.occlusion.data ?? [])];
      both.occlusion.data.forEach((v, i) => expect(v).toBeCloseTo(expected[i] as number, 4));
    });

    it.each([
      [200, 50, [true, false, false, true]],
      [130, 69, [false, false, false, true]], // odd gap: 7 rows of padding above, 8 below
      [69, 130, [false, false, false, true]], // the same for columns
    ])(
      "blocks wholly in the graph's padding are exactly 0, and cellMap drops exactly those (grey %i x %i)",
      async (width, height, padding) => {
        const image: RgbImage = { width, height, pixels: new Uint8Array(width * height * 3).fill(128) };
        const { occlusion } = await run(version, [image], [true]);
        const block = (r: number, c: number): number => occlusion.data[r * 4 + c] as number;
        const lines = [0, 1, 2, 3].map((i) => [0, 1, 2, 3].map((j) => (width >= height ? block(i, j) : block(j, i))));
        expect(lines.map((line) => line.every((v) => v === 0))).toEqual(padding);
        const kept = [0, 1, 2, 3].filter((i) => !padding[i]);
        const map = cellMap(occlusion.data, GRID, image);
        expect(width >= height ? map.height : map.width).toBe(kept.length);
        const expected = [0, 1, 2, 3]
          .flatMap((r) => [0, 1, 2, 3].map((c) => ({ r, c })))
          .filter(({ r, c }) => kept.includes(width >= height ? r : c));
        expect(map.values).toEqual(expected.map(({ r, c }) => Math.round(block(r, c) * 1e4) / 1e4 || 0));
      },
    );
  });
});
