/**
 * Malaria cell classifier.
 * ONNX: input  "image"         uint8   [N, S, S, 3]  RGB pixels, NHWC (S = card.image_size);
 *                                                    scaling/normalisation happens inside the graph
 *       output "probabilities" float32 [N, 2]        softmax over card.labels
 *                                                    (parasitized, uninfected)
 */
import { decodeToRgb, type ImageLimits } from '../images';
import { type InferenceBackend, type NamedTensors, tensor } from '../inference/backend';
import { classificationPrediction } from './classification';
import type { ClassificationPrediction, ModelCard, Predictor } from './types';

export const MODEL_NAME = 'malaria';

export function preprocess(pixels: Uint8Array, size: number): NamedTensors {
  return { image: tensor('uint8', pixels, [1, size, size, 3]) };
}

export function postprocess(outputs: NamedTensors, labels: readonly string[], version: string): ClassificationPrediction {
  return classificationPrediction('malaria', outputs, labels, version, 'This cell looks');
}

export class MalariaPredictor implements Predictor<Uint8Array> {
  readonly name = 'malaria' as const;
  readonly imageSize: number;

  constructor(
    readonly card: ModelCard,
    private readonly backend: InferenceBackend,
    private readonly limits: ImageLimits,
  ) {
    const shape = card.inputs[0]?.shape;
    this.imageSize = card.image_size ?? shape?.[1] ?? 0;
    if (!(this.imageSize > 0)) throw new Error('malaria card has no image size');
  }

  /** Decode (header checks first), resize exactly as training did, infer. */
  async predict(fileBytes: Uint8Array): Promise<ClassificationPrediction> {
    const { pixels } = await decodeToRgb(fileBytes, this.imageSize, this.limits);
    return this.predictPixels(pixels);
  }

  /** For callers that already hold decoded S×S RGB pixels (the parity check). */
  async predictPixels(pixels: Uint8Array): Promise<ClassificationPrediction> {
    const outputs = await this.backend.infer(MODEL_NAME, preprocess(pixels, this.imageSize));
    return postprocess(outputs, this.card.labels, this.card.version);
  }
}
