/**
 * A small, deterministic inference backend for HTTP tests: it answers from the input tensors with
 * simple rules, so route tests can assert exact values without the real models.
 *   regression: y = 2x + 1
 *   malaria:    P(parasitized) = mean pixel value / 255 (a black image is "uninfected")
 *   sentiment:  P(positive) = 0.9 if the review contains "good", else 0.2
 * Asked for the outputs an explanation is made from (issue 25), it gives them with the real
 * models' shapes and meaning, exact for its own answers:
 *   sentiment:  contributions [1, 3, T] over the review's tokens: +1 for each unigram "good", −0.25
 *               for every other unigram, nothing for longer n-grams; contribution_bias [1] makes
 *               sigmoid(bias + Σ) the answer's P(positive)
 *   malaria:    occlusion [1, 4, 4]: the mean of each quarter-by-quarter block of the image / 255
 */
import type { InferenceBackend, InferOptions, ModelSpec, NamedTensors } from '../../src/inference/backend';
import { tokenSpans } from '../../src/models/sentiment/explain';

const logit = (p: number): number => Math.log(p / (1 - p));

/** Block means of an [1, H, W, 3] image on a g × g grid, / 255. */
function blockMeans(px: Uint8Array, height: number, width: number, g: number): Float32Array {
  const out = new Float32Array(g * g);
  for (let r = 0; r < g; r++) {
    for (let c = 0; c < g; c++) {
      let sum = 0;
      let n = 0;
      for (let y = Math.floor((r * height) / g); y < Math.floor(((r + 1) * height) / g); y++) {
        for (let x = Math.floor((c * width) / g); x < Math.floor(((c + 1) * width) / g); x++) {
          for (let k = 0; k < 3; k++) sum += px[(y * width + x) * 3 + k] as number;
          n += 3;
        }
      }
      out[r * g + c] = n === 0 ? 0 : sum / n / 255;
    }
  }
  return out;
}

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

  async infer(model: string, inputs: NamedTensors, options: InferOptions = {}): Promise<NamedTensors> {
    const answer = await this.answer(model, inputs);
    const wanted = options.outputs;
    if (wanted === undefined) return answer;
    const out: NamedTensors = {};
    for (const name of wanted) {
      const t = answer[name] ?? this.explanation(model, inputs, answer)[name];
      if (t === undefined) throw new Error(`${model} has no output "${name}"`);
      out[name] = t;
    }
    return out;
  }

  /** The tensors an explanation is made from, for the answer given. */
  private explanation(model: string, inputs: NamedTensors, answer: NamedTensors): NamedTensors {
    if (model === 'sentiment') {
      const text = (inputs.review?.data as string[])[0] as string;
      const spans = tokenSpans(text);
      const T = spans.length;
      const c = new Float32Array(3 * T);
      spans.forEach((s, i) => (c[i] = text.slice(s.start, s.end).toLowerCase() === 'good' ? 1 : -0.25));
      const p = (answer.probabilities?.data as Float32Array)[1] as number;
      const bias = logit(p) - c.reduce((a, b) => a + b, 0);
      return {
        contributions: { type: 'float32', dims: [1, 3, T], data: c },
        contribution_bias: { type: 'float32', dims: [1], data: Float32Array.of(bias) },
      };
    }
    if (model === 'malaria') {
      const image = inputs.image;
      if (image === undefined) return {};
      const [, height = 0, width = 0] = image.dims;
      return { occlusion: { type: 'float32', dims: [1, 4, 4], data: blockMeans(image.data as Uint8Array, height, width, 4) } };
    }
    return {};
  }

  private async answer(model: string, inputs: NamedTensors): Promise<NamedTensors> {
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
