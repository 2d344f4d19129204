/**
 * The routes' side of the prediction log (src/monitoring/recorder.ts): where a request came from,
 * when it arrived, and an answer recorded with the numbers of its input and the input to hold.
 * Without a recorder (PREDICTION_LOG=0, or an app built without a database) answers are as before:
 * no id, nothing kept.
 */
import type { Request } from 'express';
import { SOURCE_HEADER, type Source } from '../database/types';
import { type RgbImage, sniffImageFormat } from '../image-header';
import type { ImagePredictor } from '../models/model';
import { type PredictionRecorder, textInput } from '../monitoring/recorder';
import type { PredictOptions, Prediction } from '../predictors/types';

/** Where a request came from: `usual` (the page, the API), or `batch` when the batch command says so (--url). */
export function sourceOf(req: Request | undefined, usual: Source): Source {
  return req?.headers[SOURCE_HEADER] === 'batch' ? 'batch' : usual;
}

/** When the request arrived (src/http/context.ts), for the logged latency. */
export function startedOf(req: Request | undefined): number {
  const started: unknown = req?.res?.locals.started;
  return typeof started === 'number' ? started : performance.now();
}

/** An image file as it is held for sharing: its bytes, typed by what they are. */
export function imageInput(bytes: Uint8Array): { mediaType: string; bytes: Uint8Array } {
  return { mediaType: `image/${sniffImageFormat(bytes) ?? 'octet-stream'}`, bytes };
}

/**
 * A fields model's answer, recorded: its input kept to be described when the line is written, its
 * main field's text held (a review; a number as the person typed it, or as JSON gave it).
 */
export function recordFields<P extends Prediction>(
  recorder: PredictionRecorder | undefined,
  req: Request | undefined,
  usual: Source,
  /** The model, and the field its input is held as (its form's first: the route's `Object.keys(fields)[0]`). */
  model: { name: string; field: string | undefined },
  parsed: Record<string, unknown>,
  modelInput: unknown,
  prediction: P,
): P | ({ id: string } & P) {
  // No request: the API document's examples (src/http/endpoint.ts), which are not predictions anyone asked for.
  if (recorder === undefined || req === undefined) return prediction;
  const value = model.field === undefined ? undefined : parsed[model.field];
  return recorder.record(prediction, {
    source: sourceOf(req, usual),
    started: startedOf(req),
    modelInput,
    ...(value === undefined || value === null ? {} : { input: textInput(String(value)) }),
  });
}

/**
 * An image predicted and recorded (PredictionRecorder.predictImage): where the request came from,
 * when it arrived, and the file held for sharing. Without a recorder, only predicted.
 */
export async function predictImageRecorded<T>(
  recorder: PredictionRecorder | undefined,
  predictor: ImagePredictor,
  req: Request | undefined,
  usual: Source,
  bytes: Uint8Array,
  use: (image: RgbImage) => Promise<T>,
  options: PredictOptions = {},
): Promise<{ prediction: Prediction; used: T }> {
  if (recorder === undefined || req === undefined) return predictor.predictAfter(bytes, use, options);
  return recorder.predictImage(predictor, bytes, use, options, { source: sourceOf(req, usual), started: startedOf(req), input: imageInput(bytes) });
}
