/**
 * The limits of one multi-image post, in words: the server answers them as 413s
 * (src/http/batch-upload.ts) and the page says the same before sending (src/browser/batch.ts).
 * No Node-only APIs here.
 */
import { megabytes } from '../units';

export interface LimitError<C extends string> {
  code: C;
  message: string;
}

export const tooManyFiles = (maxFiles: number): LimitError<'too_many_images'> => ({
  code: 'too_many_images',
  message: `Send at most ${maxFiles} images at once. Choose fewer and send the rest in another batch.`,
});

export const batchTooLarge = (maxBytes: number): LimitError<'upload_too_large'> => ({
  code: 'upload_too_large',
  message: `The images add up to more than ${megabytes(maxBytes)} MB, the most one upload may carry. Send them in smaller batches.`,
});
