/**
 * What the batch command reads: one item per row to write, and the error that stops a run before it
 * starts. The inputs themselves come from images.ts (image files, folders and glob patterns) and
 * text-inputs.ts (CSV, JSON Lines, text, gzip, standard input), which read files through
 * open-regular.ts and text-lines.ts.
 *
 * An item is named by the file path, else the `idField` value, else its line number
 * ("<source>:<line>" when there are several sources).
 */
import type { RowError } from './rows';

/** A mistake in the command line or the inputs' shape: the run cannot start (exit 2). */
export class UsageError extends Error {}

export interface InputItem {
  /** The row's `input` cell. */
  id: string;
  /**
   * What names the input wherever it is listed, for sharding (src/cli/shard.ts): an image's path
   * relative to the folder given, "id:<value>" for a row with an --id-field value; else unset.
   */
  key?: string;
  /** Image inputs: the file to read. */
  file?: string;
  /** Text inputs: the field's value as read (a string from CSV and text; any JSON value from JSON Lines). */
  value?: unknown;
  /** The known answer, when there is one. */
  truth?: string;
  /** The input could not be read as a row (a line that is not JSON): this becomes the row's error. */
  error?: RowError;
}
