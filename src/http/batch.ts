/**
 * A post with several images for an image model, classified. The images are read from the request
 * as they arrive (batch-upload.ts) and each one goes through the model's predictor, the single-image
 * API's own decoder, model and inference pool, as soon as its bytes are in, with at most
 * `config.batchConcurrency` of them in progress at once (OrderedPool): the batch keeps both cores
 * busy without filling the inference queue that other visitors' requests wait in.
 *
 * Each image's failure is its own row, with the code and message the single-image API would have
 * answered for that file; only a problem with the whole post (batch-upload.ts) fails the request.
 */
import type { Request, Response } from 'express';
import type { Config } from '../config';
import { z } from 'zod';
import { AppError } from '../errors';
import type { RgbImage } from '../image-header';
import { thumbnail } from '../images';
import { OrderedPool } from '../batch/ordered';
import type { ImageResult } from '../batch/table';
import type { Logger } from '../log';
import type { ImagePredictor, ModelDefinition } from '../models/model';
import type { Registry } from '../predictors/registry';
import type { PredictOptions } from '../predictors/types';
import { renderSvg } from '../sample-image';
import { type UploadedImage, readImageBatch } from './batch-upload';
import { batchPredictionsSchema } from './batch-schema';
import type { Endpoint } from './endpoint';
import { explainErrors, explainQuery, predictOptions } from './explain';
import { classifierNames, countInWords, exampleFormat } from './table';
import { IMAGE_FIELD, uploadErrors } from './upload';
import type { Source } from '../database/types';
import type { PredictionRecorder } from '../monitoring/recorder';
import { predictImageRecorded, sourceOf } from './record';

export interface ClassifiedImage {
  /** Position in the post, from 0. */
  index: number;
  /** The file's name with its prediction or its error: one element of the batch API's answer. */
  row: ImageResult;
  /** What the single-image route throws for this file (status, Retry-After and all), if it failed. */
  failure?: unknown;
  /** A JPEG data: URL of the image, when thumbnails were asked for and the file could be read. */
  thumbnail?: string;
}

export interface ClassifyOptions {
  /** The image model (its name in the registry's table) that classifies the images. */
  model: string;
  /** Make a thumbnail of each image for the page drawn on the server (not wanted by the API). */
  thumbnails: boolean;
  /**
   * Predictions with their explanations: every image's (`?explain=1`), or the first image's only
   * ('first': the page explains a single image by default, and whether a post holds one image is
   * known only once it is read, after the first image has started).
   */
  explain?: boolean | 'first';
  /** Where the post came from, for the prediction log (default 'api'). */
  source?: Source;
  /** Called once the whole post is read and accepted, with the number of images, before any onImage. */
  onAccepted?: (count: number) => void;
  /** Each image's result, in post order, after onAccepted. */
  onImage?: (image: ClassifiedImage) => void;
}

export interface BatchDeps {
  registry: Registry;
  config: Config;
  log?: Logger;
  /** The prediction log (absent: off): every image's answer then has an id and is logged. */
  recorder?: PredictionRecorder;
}

/** Displayed at 48 CSS pixels: 64 is sharp enough on most screens and keeps a 100-row page small. */
const THUMBNAIL_SIZE = 64;
/** A single explained cell's picture, under its map: displayed at up to 160 CSS pixels. */
const EXPLAINED_SIZE = 192;

/** An image as the page shows it (a JPEG data: URL), at `size` pixels at most; undefined if it cannot be drawn. */
export function pictureOf(pixels: RgbImage, size = EXPLAINED_SIZE): Promise<string | undefined> {
  return thumbnail(pixels, size).then(
    (jpeg) => `data:image/jpeg;base64,${jpeg.toString('base64')}`,
    () => undefined,
  );
}

const INTERNAL = new AppError(
  'internal_error',
  'Something went wrong on our side with this image. Please try it again.',
);

/**
 * One image's row: its name with the predictor's answer, or with the error the single-image API
 * answers for the same bytes (a fault of ours shows as internal_error; `failure` keeps the original).
 */
async function resultFor(
  predictor: ImagePredictor,
  name: string,
  bytes: Uint8Array,
  refused: AppError | undefined,
  thumbnailOf?: (image: RgbImage) => Promise<string | undefined>,
  options: PredictOptions = {},
  record?: { recorder: PredictionRecorder; req: Request; source: Source },
): Promise<{ row: ImageResult; failure?: unknown; thumbnail?: string }> {
  try {
    if (refused !== undefined) throw refused;
    if (thumbnailOf === undefined && record === undefined) return { row: { file: name, ...(await predictor.predict(bytes, options)) } };
    // The thumbnail is drawn before the model runs: the pixels are then handed to the model and
    // released, rather than kept (12 MB for the largest image) until the thumbnail is done.
    const { prediction, used } = await predictImageRecorded(
      record?.recorder,
      predictor,
      record?.req,
      record?.source ?? 'api',
      bytes,
      thumbnailOf ?? (async () => undefined),
      options,
    );
    return { row: { file: name, ...prediction }, ...(used === undefined ? {} : { thumbnail: used }) };
  } catch (err) {
    const shown = err instanceof AppError && err.expose ? err : INTERNAL;
    return { row: { file: name, error: { code: shown.code, message: shown.message } }, failure: err };
  }
}

/**
 * Reads and classifies the images of a multipart post. Rejects with the AppError of a whole-post
 * problem (nothing written yet); resolves with every image's result in post order, or with null if
 * the response was already answered (the deadline) or the client left, in which case the images not
 * yet started were skipped.
 */
export async function classifyPost(
  req: Request,
  res: Response,
  deps: BatchDeps,
  options: ClassifyOptions,
): Promise<ClassifiedImage[] | null> {
  const { config } = deps;
  if (!/^multipart\/form-data/i.test(req.headers['content-type'] ?? '')) {
    throw uploadErrors.unsupportedContentType(false);
  }
  const predictor = deps.registry.image(options.model);
  let count: number | null = null;

  // A post of one image is answered as today's single result, which has no thumbnail unless its
  // map is drawn over it.
  const thumbnailOf = async (pixels: RgbImage): Promise<string | undefined> =>
    count === 1 && options.explain === undefined
      ? undefined
      : pictureOf(pixels, count === 1 ? EXPLAINED_SIZE : THUMBNAIL_SIZE);

  const classify = async (file: UploadedImage): Promise<ClassifiedImage> => {
    const { row, failure, thumbnail: drawn } = await resultFor(
      predictor,
      file.name,
      file.bytes,
      file.error,
      options.thumbnails ? thumbnailOf : undefined,
      { explain: options.explain === true || (options.explain === 'first' && file.index === 0) },
      deps.recorder === undefined ? undefined : { recorder: deps.recorder, req, source: sourceOf(req, options.source ?? 'api') },
    );
    if (failure !== undefined && 'error' in row && row.error.code === 'internal_error') {
      deps.log?.error(
        { err: failure, reqId: res.locals.requestId as unknown, image: file.index },
        'batch image failed',
      );
    }
    const image: ClassifiedImage = { index: file.index, row, failure };
    if (drawn !== undefined) image.thumbnail = drawn;
    return image;
  };

  const results: ClassifiedImage[] = [];
  const early: ClassifiedImage[] = [];
  let accepted = false;
  const pool = new OrderedPool<UploadedImage, ClassifiedImage>(config.batchConcurrency, classify, (image) => {
    results.push(image);
    if (accepted) options.onImage?.(image);
    else early.push(image);
  });
  // The client left, or the deadline answered for us: start no more images.
  const gone = (): void => pool.cancel();
  res.once('close', gone);
  try {
    count = await readImageBatch(
      req,
      res,
      { maxFiles: config.maxBatchFiles, maxBytes: config.maxBatchBytes, maxFileBytes: config.maxUploadBytes },
      (file) => pool.add(file),
    );
    if (count === 0) throw uploadErrors.missingImage();
    if (res.headersSent || res.writableEnded) {
      pool.cancel();
      return null;
    }
    accepted = true;
    options.onAccepted?.(count);
    for (const image of early.splice(0)) options.onImage?.(image);
    await pool.close();
  } catch (err) {
    pool.cancel();
    throw err;
  } finally {
    res.off('close', gone);
  }
  return results.length === count ? results : null;
}

/**
 * The words of an image model's batch endpoint: its summary and the title of its documented
 * example, from its definition when it gives them (`api.batchSummary`, `api.batchExamplesTitle`).
 */
function batchWords(model: ModelDefinition, images: number): { summary: string; examplesTitle: string } {
  const { api } = model;
  return {
    summary: api.batchSummary ?? 'Classify several images in one post',
    examplesTitle: api.batchExamplesTitle ?? `${countInWords(images)} images and a text file`,
  };
}

/** The batch API of the image model `model`: several images in, one answer streamed out, one element per line. */
export function batchEndpoint(deps: BatchDeps, model: ModelDefinition): Endpoint {
  const { config } = deps;
  const exampleImages = model.api.batchExamples ?? [];
  const words = batchWords(model, exampleImages.length);
  return {
    method: 'post',
    path: `/api/predict/${model.name}/batch`,
    operationId: `${model.api.operationId}Batch`,
    tag: 'Predictions',
    summary: words.summary,
    description:
      `Send each image as a multipart field "${IMAGE_FIELD}" (\`curl -F image=@a.png -F image=@b.png\`): up to ${config.maxBatchFiles} images and ` +
      `${config.maxBatchBytes / (1024 * 1024)} MB per post, each within the single-image limits. A file that cannot be read gets ` +
      'the error the single-image call would have answered, and the others are still classified. The answer is streamed once ' +
      'the whole post is in: one element per line, in the order sent, each as soon as it and those before it are done.' +
      (model.explainer === undefined ? '' : ' With `?explain=1` each element has `explanation`, as the single-image endpoint describes it.'),
    request: {
      description: `Several images, each in the multipart field "${IMAGE_FIELD}".`,
      content: {
        'multipart/form-data': {
          schema: z.object({
            [IMAGE_FIELD]: z
              .array(z.file())
              .min(1)
              .max(config.maxBatchFiles)
              .meta({ description: 'The images: PNG, JPEG, WebP or GIF, judged by their bytes.' }),
          }),
        },
      },
    },
    responses: { 200: { description: 'One element per image, in the order sent.', json: batchPredictionsSchema(classifierNames(deps.registry.definitions)) } },
    ...explainQuery(model),
    errors: [
      ...explainErrors(model),
      'unsupported_content_type',
      'unsupported_encoding',
      'invalid_multipart',
      'missing_image',
      'unexpected_field',
      'too_many_parts',
      'field_too_large',
      'too_many_images',
      'upload_too_large',
      'models_loading',
    ],
    handlers: [
      async (req, res) => {
        let sent = 0;
        const images = await classifyPost(req, res, deps, {
          model: model.name,
          thumbnails: false,
          ...predictOptions(req),
          onAccepted: () => {
            res.status(200).type('json');
            res.write('{"predictions":[\n');
          },
          onImage: (image) => {
            res.write(`${sent++ === 0 ? '' : ',\n'}${JSON.stringify(image.row)}`);
          },
        });
        // Incomplete (the client left): end the connection rather than close the JSON as if it were whole.
        if (images !== null) res.end('\n]}\n');
        else if (!res.writableEnded) res.destroy();
      },
    ],
    examples: async () => {
      const predictor = deps.registry.image(model.name);
      const files: Array<readonly [string, Buffer]> = [
        ...(await Promise.all(exampleImages.map(async (image) => [image.file, await renderSvg(image.svg, exampleFormat(image.file))] as const))),
        // A file that is not an image, named as one: its row shows the single-image API's error.
        ['notes.png', Buffer.from('not an image')],
      ];
      const rows = await Promise.all(files.map(async ([name, bytes]) => (await resultFor(predictor, name, bytes, undefined)).row));
      return [{ name: words.examplesTitle, status: 200, body: { predictions: rows } }];
    },
  };
}
