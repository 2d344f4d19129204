/**
 * The number the prediction log keeps of a regression input (issue 26): x itself. It is the whole
 * input, and a few bytes; the line was fitted on x in the card's `data.x_range`, so drift here is
 * a question of extrapolation.
 */
import { type NamedTensors, output } from '../../inference/backend';
import type { Monitoring } from '../model';

export const regressionMonitoring: Monitoring<number> = {
  features: [{ name: 'x', description: 'The number asked about' }],
  describe: (x) => ({ x }),
  // x float32 [N, 1] (./predictor.ts preprocess).
  inputsOf: (inputs: NamedTensors) => Array.from(output(inputs, 'x', 'float32').data),
};
