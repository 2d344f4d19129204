#!/usr/bin/env node
/**
 * The `ml-forms` command (package.json "bin"). One subcommand:
 *   ml-forms predict <model> <input…> [--out FILE] [--field F] [--label-field F] [--id-field F]
 *                    [--url URL] [--concurrency N] [--resume] [--quiet]
 * Exit codes: 0 every input predicted, 1 some rows have an error, 2 usage error, 130 interrupted.
 */
import os from 'node:os';
import { parseArgs } from 'node:util';
import { UsageError } from '../batch/inputs';
import { ConfigError, loadConfig } from '../config';
import { EXIT, predictCommand } from './predict';

const HELP = `Usage: ml-forms predict <model> <input…> [options]

Runs every input through one model and writes one row per input, in input order.

Models and inputs:
  malaria      image files, folders (recursive) and glob patterns ("cells/**/*.png"); only regular files
               are read: a link out of a folder is an outside_folder row, a FIFO or device a not_a_file row
  sentiment    .csv, .jsonl or .txt files (.gz too), or - for standard input
  regression   the same as sentiment

Options:
  --out FILE          write to FILE instead of standard output (JSON Lines if FILE ends in .jsonl, else CSV)
  --field F           the CSV column or JSON field holding the input (default: review, or x for regression)
  --label-field F     the column holding the true label: prints accuracy, recall and the confusion matrix
                      (images: folders named after the labels, e.g. parasitized/ and uninfected/, do this)
  --id-field F        the column naming each row in the output (default: the line number)
  --url URL           send each input to a running ml-forms JSON API instead of running the model here
                      (redirects are not followed: give the address that answers)
  --concurrency N     inference threads here, or requests in flight with --url (default: the cores, ${os.availableParallelism()})
  --resume            complete --out FILE: skip the inputs it already has a row for, append the rest
                      (a file that is not this command's output is refused and left as it was)
  --quiet             no progress or summary on standard error
  -h, --help          this help

CSV columns: input,label,confidence,score_<label>…,error (regression: input,value,error).
Exit codes: 0 every input predicted, 1 some rows have an error (all other rows written),
2 usage error, 130 interrupted (Ctrl-C writes the rows done so far; rerun with --resume).
The server's settings apply (MODELS_DIR, MAX_UPLOAD_MB, MAX_IMAGE_MEGAPIXELS, MAX_REVIEW_CHARS, ONNX_THREADS).

Example:
  ml-forms predict malaria cells/ --out cells.csv
  ml-forms predict sentiment reviews.jsonl.gz --field text --id-field id --label-field label --out reviews.csv
`;

function usage(message: string): number {
  process.stderr.write(`ml-forms: ${message}\nRun "ml-forms predict --help" for usage.\n`);
  return EXIT.usage;
}

async function main(argv: string[]): Promise<number> {
  let parsed;
  try {
    parsed = parseArgs({
      args: argv,
      allowPositionals: true,
      strict: true,
      options: {
        out: { type: 'string' },
        field: { type: 'string' },
        'label-field': { type: 'string' },
        'id-field': { type: 'string' },
        url: { type: 'string' },
        concurrency: { type: 'string' },
        resume: { type: 'boolean', default: false },
        quiet: { type: 'boolean', default: false },
        help: { type: 'boolean', short: 'h', default: false },
      },
    });
  } catch (err) {
    return usage(err instanceof Error ? (err.message.split('\n')[0] ?? '') : String(err));
  }
  const { values, positionals } = parsed;
  if (values.help) {
    process.stdout.write(HELP);
    return EXIT.ok;
  }
  const [command, model, ...inputs] = positionals;
  if (command !== 'predict')
    return usage(
      command === undefined
        ? 'missing command: ml-forms predict <model> <input…>'
        : `unknown command "${command}"; the command is "predict"`,
    );
  if (model === undefined) return usage('missing model: ml-forms predict <regression|malaria|sentiment> <input…>');
  const concurrency = values.concurrency === undefined ? os.availableParallelism() : Number(values.concurrency);
  if (!Number.isInteger(concurrency) || concurrency < 1 || concurrency > 256) {
    return usage(`--concurrency must be a whole number from 1 to 256, got "${values.concurrency}"`);
  }
  for (const name of ['out', 'field', 'label-field', 'id-field', 'url'] as const) {
    if (values[name] === '') return usage(`--${name} needs a value`);
  }
  try {
    const config = loadConfig({ NODE_ENV: 'production', ...process.env });
    const interval = Number(process.env.ML_FORMS_PROGRESS_INTERVAL_MS ?? 5000);
    return await predictCommand(
      {
        model,
        inputs,
        out: values.out,
        field: values.field,
        labelField: values['label-field'],
        idField: values['id-field'],
        url: values.url,
        concurrency,
        resume: values.resume,
        quiet: values.quiet,
      },
      config,
      {
        stdout: process.stdout,
        stderr: process.stderr,
        progressIntervalMs: Number.isFinite(interval) && interval > 0 ? interval : 5000,
      },
    );
  } catch (err) {
    if (err instanceof UsageError || err instanceof ConfigError) return usage(err.message);
    throw err;
  }
}

main(process.argv.slice(2)).then(
  (code) => process.exit(code),
  (err: unknown) => {
    process.stderr.write(`ml-forms: ${err instanceof Error ? err.message : String(err)}\n`);
    process.exit(EXIT.rowErrors);
  },
);
