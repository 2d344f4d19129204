/**
 * A small, deterministic inference backend for HTTP tests: it answers from the input tensors with
 * simple rules, so route tests can assert exact values without the real models.
 *   regression: y = 2x + 1
 *   malaria:    P(parasitized) = mean pixel value / 255 (a black image is "uninfected")
 *   sentiment:  P(positive) = 0.9 if the review contains "good", else 0.2
 */
import type { InferenceBackend, ModelSpec, NamedTensors } from '../../src/inference/backend';

export class FakeBackend implements InferenceBackend {
  readonly description = 'fake backend (tests)';
  loaded: string[] = [];
  calls = 0;
  closed = false;
  /** Makes the next infer() calls fail, to test the 500 path. */
  failWith: Error | null = null;

  async load(models: ModelSpec[]): Promise<void> {
    this.loaded = models.map((m) => m.name);
  }

  async infer(model: string, inputs: NamedTensors): Promise<NamedTensors> {
    this.calls++;
    if (this.failWith !== null) throw this.failWith;
    if (model === 'regression') {
      const x = inputs.x?.data as Float32Array;
      return { y: { type: 'float32', dims: [1, 1], data: Float32Array.of(2 * (x[0] as number) + 1) } };
    }
    if (model === 'malaria') {
      const px = inputs.image?.data as Uint8Array;
      const mean = px.reduce((a, b) => a + b, 0) / px.length / 255;
      return { probabilities: { type: 'float32', dims: [1, 2], data: Float32Array.of(mean, 1 - mean) } };
    }
    if (model === 'sentiment') {
      const text = (inputs.review?.data as string[])[0] as string;
      const p = text.includes('good') ? 0.9 : 0.2;
      return { probabilities: { type: 'float32', dims: [1, 2], data: Float32Array.of(1 - p, p) } };
    }
    throw new Error(`unknown model ${model}`);
  }

  async close(): Promise<void> {
    this.closed = true;
  }
}
