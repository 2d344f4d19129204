/**
 * The malaria model, described once: a blood-cell image in, parasitized or uninfected out
 * (./predictor.ts). Its card is views/partials/malaria.ejs, its "Use the API" part
 * views/partials/malaria-api.ejs; ./sample.ts draws the documents' example cells.
 */
import type { ModelDefinition } from '../model';
import { malariaExplainer } from './explain';
import { malariaMonitoring } from './monitoring';
import { MalariaPredictor } from './predictor';
import { cellSvg } from './sample';

export const malaria: ModelDefinition<Uint8Array> = {
  name: 'malaria',
  input: { kind: 'image' },
  output: { kind: 'classification' },
  createPredictor: (card, backend, env) => new MalariaPredictor(card, backend, env.decodeImage),
  explainer: malariaExplainer,
  monitoring: malariaMonitoring,
  // Feedback export (ml-forms feedback export) in the layout training/train_malaria.py reads with --extra.
  feedbackLayout: { kind: 'image-folders', path: 'malaria' },
  // Its run takes ~0.7 ms: one at a time per turn of the event loop, so /healthz and the cheap models answer between them.
  runsPerTurn: 1,
  page: {
    nav: 'Cell image',
    // Cells of the NIH data's validation split, chosen by training/pick-example-cells.ts; the build
    // copies them from the data folder (src/build/examples.ts).
    examples: [
      { name: 'A parasitized cell', value: 'examples/malaria/parasitized.webp', source: 'malaria/parasitized/10001.webp' },
      { name: 'An uninfected cell', value: 'examples/malaria/uninfected.webp', source: 'malaria/uninfected/10172.webp' },
      { name: 'A cell the model is unsure of', value: 'examples/malaria/unsure.webp', source: 'malaria/uninfected/2230.webp' },
    ],
  },
  about: { what: 'a malaria cell classifier', apiWhat: 'a malaria cell-image classifier', data: 'the NIH malaria cell images', items: 'cell images' },
  api: {
    operationId: 'predictMalaria',
    summary: 'Classify a blood-cell image as parasitized or uninfected',
    description:
      'Send the image as the multipart field "image" (`curl -F image=@cell.png`) or as the raw body (`--data-binary @cell.png -H "Content-Type: image/png"`).',
    responseDescription: "The label, its confidence and every label's score.",
    examples: {
      'a synthetic cell image (PNG)': { file: 'cell.png', svg: cellSvg() },
      'a text file': { file: 'notes.txt', text: 'not an image' },
    },
    batchSummary: 'Classify several blood-cell images in one post',
    batchExamplesTitle: 'two cells and a text file',
    batchExamples: [
      { file: 'cell-1.png', svg: cellSvg() },
      { file: 'cell-2.png', svg: cellSvg({ parasite: true }) },
    ],
  },
  cli: {
    inputs: 'image files, folders (recursive) and glob patterns ("cells/**/*.png"); only regular files',
    example: 'malaria cells/ --out cells.csv',
  },
  oipExamples: () => ({
    // Any height and width: the graph pads and resizes (a 2×2 image keeps the example short).
    'malaria: a 2×2 RGB image (UINT8; any size: the graph resizes it)': {
      inputs: [{ name: 'image', datatype: 'UINT8', shape: [1, 2, 2, 3], data: [200, 120, 160, 190, 110, 150, 60, 20, 90, 200, 120, 160] }],
    },
  }),
};
