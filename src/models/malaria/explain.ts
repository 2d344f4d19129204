/**
 * The malaria graph's occlusion map (issue 25, "Why this answer") laid over the uploaded image.
 * Isomorphic: the server and the browser engine both use it (no Node APIs).
 *
 * ONNX (training/malaria_graph.py add_explanation): with input "explain" bool [N] set, output
 * "occlusion" float32 [N, G, G] is the drop of the margin logit(parasitized) - logit(uninfected)
 * when block (r, c) of a G x G grid over the graph's canvas (card.image_size squared, after its
 * resize and padding) is set to black. The canvas holds the image fitted inside it, centred, with
 * black around; the grid's blocks that lie wholly in that padding are dropped here, so the map's
 * grid covers exactly the uploaded image (its edge cells cover the part of the image that their
 * block does).
 */
import { output } from '../../inference/backend';
import type { Explainer } from '../model';

export interface Size {
  width: number;
  height: number;
}

/** The occlusion map over the uploaded image: `width` x `height` cells, row-major, higher = more parasitized. */
export interface CellMap {
  [key: string]: unknown;
  width: number;
  height: number;
  values: number[];
}

/** The grid's blocks over the image's rectangle on the canvas, in canvas pixels. */
interface Layout {
  block: number;
  /** The image's rectangle on the canvas: left, top, width, height. */
  left: number;
  top: number;
  fitted: Size;
  /** The first grid column and row that overlap the rectangle, and how many do. */
  column: number;
  row: number;
  map: Size;
}

/**
 * The graph's fit: longer side `canvas`, shorter max(1, round half up(side * canvas / longer)),
 * as malaria_graph.py computes it in integers ((2 * side * canvas + longer) // (2 * longer)); the
 * padding before is floor(gap / 2), the padding after takes the odd pixel.
 */
function layout(grid: number, image: Size, canvas: number): Layout {
  if (!Number.isInteger(grid) || grid < 1 || canvas % grid !== 0)
    throw new Error(`a ${canvas}-pixel canvas has no ${grid} x ${grid} grid of equal blocks`);
  if (!(image.width >= 1 && image.height >= 1)) throw new Error(`image of ${image.width} x ${image.height} pixels`);
  const longer = Math.max(image.width, image.height);
  const fit = (side: number): number => Math.max(1, Math.floor((2 * side * canvas + longer) / (2 * longer)));
  const fitted = { width: fit(image.width), height: fit(image.height) };
  const left = Math.floor((canvas - fitted.width) / 2);
  const top = Math.floor((canvas - fitted.height) / 2);
  const block = canvas / grid;
  const column = Math.floor(left / block);
  const row = Math.floor(top / block);
  const map = {
    width: Math.floor((left + fitted.width - 1) / block) - column + 1,
    height: Math.floor((top + fitted.height - 1) / block) - row + 1,
  };
  return { block, left, top, fitted, column, row, map };
}

const round4 = (v: number): number => {
  const r = Math.round(v * 1e4) / 1e4;
  return r === 0 ? 0 : r; // no -0 in JSON's eyes either
};

/**
 * The map for one image: `occlusion` is that image's G x G block of the graph's output (row-major),
 * `image` the uploaded image's size. Values rounded to 4 decimals.
 */
export function cellMap(occlusion: Float32Array | number[], grid: number, image: Size, canvas = 32): CellMap {
  if (occlusion.length !== grid * grid)
    throw new Error(`occlusion has ${occlusion.length} values, not ${grid} x ${grid}`);
  const { column, row, map } = layout(grid, image, canvas);
  const values: number[] = [];
  for (let r = 0; r < map.height; r++) {
    for (let c = 0; c < map.width; c++) values.push(round4(occlusion[(row + r) * grid + column + c] as number));
  }
  return { ...map, values };
}

/**
 * For each pixel of the uploaded image (row-major), the index into cellMap(...).values of the map
 * cell it lies under: the cell whose block holds the pixel's centre on the canvas (the resize maps
 * centres to centres). Exact in integers: canvas x = left + (x + 1/2) * fitted width / width.
 * An image smaller than the canvas is enlarged, and then a map cell can hold no pixel centre.
 */
export function cellRegions(grid: number, image: Size, canvas = 32): Int32Array {
  const { block, left, top, fitted, column, row, map } = layout(grid, image, canvas);
  const { width, height } = image;
  const cellColumn = new Int32Array(width);
  for (let x = 0; x < width; x++)
    cellColumn[x] = Math.floor((2 * width * left + (2 * x + 1) * fitted.width) / (2 * width * block)) - column;
  const cells = new Int32Array(width * height);
  for (let y = 0; y < height; y++) {
    const cellRow = Math.floor((2 * height * top + (2 * y + 1) * fitted.height) / (2 * height * block)) - row;
    for (let x = 0; x < width; x++) cells[y * width + x] = cellRow * map.width + (cellColumn[x] as number);
  }
  return cells;
}

/**
 * The malaria model's explanations from a run's tensors: each image's map over the image itself
 * (every image of a batch has the size of the input's H × W). The run must have had `explain` set
 * (the graph computes the copies only then; src/oip/infer.ts sets it when the model tier is asked
 * for `explanation`).
 */
export const malariaExplainer: Explainer = {
  outputs: ['occlusion'],
  switch: 'explain',
  description:
    'With `?explain=1` the answer has `explanation`: `{"width": w, "height": h, "values": [w·h numbers, row-major]}`, a grid laid over the whole uploaded image; each value is how much the evidence for parasitized drops (in the calibrated logit margin) when that part of the cell is blacked out: higher = more evidence for parasitized, below 0 = evidence for uninfected. About 6 ms more per image.',
  explain(inputs, outputs, card) {
    const [n = 0, height = 0, width = 0] = output(inputs, 'image', 'uint8').dims;
    const occlusion = output(outputs, 'occlusion', 'float32');
    const grid = occlusion.dims[1] ?? 0;
    if (occlusion.dims[0] !== n) throw new Error(`occlusion has ${occlusion.dims[0]} rows for ${n} images: was "explain" set?`);
    return Array.from({ length: n }, (_, i) =>
      cellMap(occlusion.data.subarray(i * grid * grid, (i + 1) * grid * grid), grid, { width, height }, card?.image_size ?? 32),
    );
  },
};
