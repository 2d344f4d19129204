/**
 * What every subcommand of the `ml-forms` command shares, kept apart from them so that the entry
 * point (main.ts) loads a subcommand's modules only when it runs it: the exit codes and the streams.
 */

/** The exit codes: every row predicted, some rows with an error, a usage error, interrupted (128 + SIGINT). */
export const EXIT = { ok: 0, rowErrors: 1, usage: 2, interrupted: 130 } as const;

export interface Io {
  stdout: NodeJS.WriteStream;
  stderr: NodeJS.WriteStream;
  /** Milliseconds between progress lines when standard error is not a terminal. */
  progressIntervalMs: number;
}
