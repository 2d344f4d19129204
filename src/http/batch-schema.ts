/**
 * The answer of an image model's many-images endpoint (POST /api/predict/<name>/batch, ./batch.ts)
 * as a schema for the document: each image's prediction with its file name, or the error the
 * single-image API gives for that file.
 */
import { z } from 'zod';
import { ERRORS, ERROR_CODES, type ErrorCode } from '../errors';
import { classificationPredictionSchema, perModelNames } from '../predictors/types';

/** What one image of a batch can fail with: what the single-image API answers for a bad file or a busy model. */
const IMAGE_ERROR_CODES = ERROR_CODES.filter(
  (code) =>
    ERRORS[code].steps.some((step: string) => step === 'image' || step === 'inference') ||
    code === 'file_too_large' ||
    code === 'timeout' ||
    code === 'internal_error',
) as [ErrorCode, ...ErrorCode[]];

const fileName = z
  .string()
  .meta({ description: 'The file name as sent (a folder path kept), without control characters.' });

/** The batch answer for the table's classifiers `names` (classificationPredictionSchema's). */
export const batchPredictionsSchema = perModelNames((names) =>
  z
    .strictObject({
      predictions: z
        .array(
          z.union([
            classificationPredictionSchema(names).extend({ file: fileName }),
            z.strictObject({
              file: fileName,
              error: z.strictObject({
                code: z.enum(IMAGE_ERROR_CODES),
                message: z.string().meta({ description: 'For a person: what is wrong with this file.' }),
              }),
            }),
          ]),
        )
        .meta({ description: 'One element per image, in the order sent.' }),
    })
    .meta({
      id: 'BatchPredictions',
      description:
        "Each image's prediction (the single-image answer with its file name), or the error the single-image API gives for that file.",
    }),
);
