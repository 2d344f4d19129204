/**
 * Malaria cell classifier.
 * ONNX: input  "image"         uint8   [N, H, W, 3]  RGB pixels, NHWC, at the image's own size
 *                                                    (N images of equal size); the graph resizes
 *                                                    (antialiased, fit into card.image_size squared,
 *                                                    black padding), scales and normalises
 *              "explain"       bool    [N]           set: the graph also computes the occlusion
 *                                                    map (./explain.ts); unset, it costs ~0.02 ms
 *       output "probabilities" float32 [N, 2]        calibrated softmax over card.labels
 *                                                    (parasitized, uninfected)
 *              "occlusion"     float32 [N, G, G]     the map, when asked (./explain.ts)
 */
import type { RgbImage } from '../../image-header';
import { type InferenceBackend, type NamedTensors, tensor } from '../../inference/backend';
import { classificationPrediction } from '../../predictors/classification';
import type { ClassificationPrediction, ModelCard, PredictOptions } from '../../predictors/types';
import { type ImageDecoder, type ImagePredictor, explainSwitch, runExplained } from '../model';
import { malariaExplainer } from './explain';

export const MODEL_NAME = 'malaria';


/** One decoded image as a batch of one: the graph takes any height and width. `explain`: its map too. */
export function preprocess(image: RgbImage, explain = false): NamedTensors {
  return {
    image: tensor('uint8', image.pixels, [1, image.height, image.width, 3]),
    explain: explainSwitch(explain),
  };
}

export function postprocess(outputs: NamedTensors, labels: readonly string[], version: string): ClassificationPrediction {
  return classificationPrediction('malaria', outputs, labels, version, 'This cell looks');
}

export class MalariaPredictor implements ImagePredictor {
  readonly name = 'malaria' as const;

  constructor(
    /** Replaced when a remote model tier starts serving another version (Registry). */
    public card: ModelCard,
    private readonly backend: InferenceBackend,
    private readonly decode: ImageDecoder,
  ) {
    const input = card.inputs[0];
    if (input?.dtype !== 'uint8' || input.shape.length !== 4 || input.shape[3] !== 3) {
      throw new Error('malaria card: expected one uint8 [N, H, W, 3] input');
    }
  }

  /** Decode (header checks first), infer: the resize is inside the graph, as in training. */
  async predict(fileBytes: Uint8Array, options: PredictOptions = {}): Promise<ClassificationPrediction> {
    return (await this.predictAfter(fileBytes, async () => undefined, options)).prediction;
  }

  /**
   * predict(), with `use` given the decoded pixels first (the page's results table draws its
   * thumbnails from them, before the model runs, so that nothing keeps the pixels after it). Their
   * share of the decode budget is released once the model has run.
   */
  async predictAfter<T>(
    fileBytes: Uint8Array,
    use: (image: RgbImage) => Promise<T>,
    options: PredictOptions = {},
  ): Promise<{ prediction: ClassificationPrediction; used: T }> {
    const image = await this.decode(fileBytes);
    try {
      const used = await use(image);
      return { prediction: await this.predictPixels(image, options), used };
    } finally {
      image.release?.();
    }
  }

  /** For callers that already hold decoded RGB pixels (the parity check, batch tools). */
  async predictPixels(image: RgbImage, options: PredictOptions = {}): Promise<ClassificationPrediction> {
    const { outputs, explanation } = await runExplained(this.backend, this.card, (explain) => preprocess(image, explain), malariaExplainer, options);
    const prediction = postprocess(outputs, this.card.labels, this.card.version);
    return explanation === undefined ? prediction : { ...prediction, explanation };
  }
}
