#!/usr/bin/env node
/**
 * The `ml-forms` command (package.json "bin"). Three subcommands:
 *   ml-forms predict <model> <input…> [--out FILE] [--field F] [--label-field F] [--id-field F]
 *                    [--url URL] [--concurrency N] [--resume] [--explain] [--quiet] [--shard I/N | --shards N]
 *   ml-forms merge <part…> [--out FILE] [--quiet]
 *   ml-forms feedback export --out DIR [--database URL] [--force]    (./feedback.ts, its own options)
 * Exit codes: 0 every input predicted, 1 some rows have an error, 2 usage error, 130 interrupted;
 * feedback export: 0 written, 1 the database cannot be read, 2 usage error.
 */
import os from 'node:os';
import { parseArgs } from 'node:util';
import { EXIT, type Io } from './exit';

// Only what every run needs is imported here; a subcommand's modules are loaded when it runs
// (`merge` needs neither the models nor sharp nor onnxruntime: a fraction of the start-up).

/** The help text, from the model table. */
async function help(): Promise<string> {
  const [{ MODELS }, { mainField }] = await Promise.all([import('../models'), import('../models/model')]);
  const images = MODELS.filter((m) => m.input.kind === 'image');
  const fieldModels = MODELS.filter((m) => m.input.kind === 'fields');
  const valueModels = MODELS.filter((m) => m.output.kind === 'value');
  const width = Math.max(...MODELS.map((m) => m.name.length)) + 3;
  /** Each model and what it takes; an image model's inputs go on with what is read of a folder. */
  const modelLines = MODELS.map((m) => {
    const line = `  ${m.name.padEnd(width)}${m.cli.inputs}`;
    return m.input.kind === 'image'
      ? `${line}\n${' '.repeat(width + 2)}are read: a link out of a folder is an outside_folder row, a FIFO or device a not_a_file row`
      : line;
  });
  /** "<field> for <model>, …": each fields model's default --field (a field's name does not depend on the limits). */
  const defaultFields = fieldModels.map((m) => `${mainField(m, { maxTextChars: 1 }) ?? ''} for ${m.name}`).join(', ');
  const labelFolders =
    images.length > 0 ? '\n                      (images: folders named after the labels do this)' : '';
  const valueColumns =
    valueModels.length > 0 ? ` (${valueModels.map((m) => m.name).join(', ')}: input,value,error)` : '';
  const explaining = MODELS.filter((m) => m.explainer !== undefined).map((m) => m.name);
  const explainLines =
    explaining.length === 0
      ? ''
      : `  --explain           add why the model answered so (${explaining.join(', ')}): the column explanation before error,
                      the JSON the API answers as "explanation" with ?explain=1 (in JSON Lines, that object);
                      --resume and merge refuse to mix rows written with and without it
`;

  return `Usage: ml-forms predict <model> <input…> [options]
       ml-forms merge <part…> [--out FILE] [--quiet]
       ml-forms feedback export --out DIR [--database URL] [--force]

Runs every input through one model and writes one row per input, in input order.

Models and inputs:
${modelLines.join('\n')}

Options:
  --out FILE          write to FILE instead of standard output (JSON Lines if FILE ends in .jsonl, else CSV)
  --field F           the CSV column or JSON field holding the input (default: the model's field: ${defaultFields})
  --label-field F     the column holding the true label: prints accuracy, recall and the confusion matrix${labelFolders}
  --id-field F        the column naming each row in the output (default: the line number)
  --url URL           send each input to a running ml-forms JSON API instead of running the model here
                      (redirects are not followed: give the address that answers)
  --concurrency N     inference threads here, or requests in flight with --url (default: the cores, ${os.availableParallelism()})
  --resume            complete --out FILE: skip the inputs it already has a row for, append the rest
                      (a file that is not this command's output is refused and left as it was)
${explainLines}  --quiet             no progress or summary on standard error
  --shard I/N         predict only shard I (0 to N-1) of N and write its part: FILE.part-I-of-N.jsonl for
                      --out FILE.csv (written whole or not at all), else standard output. An input's shard
                      is a hash of its name (an image's path in the folder given; a row's --id-field value,
                      else its text), so the listing order does not matter and added inputs move no other
  --shards N          the same, with I from JOB_COMPLETION_INDEX (a Kubernetes Indexed Job)
  -h, --help          this help

CSV columns: input,label,confidence,score_<label>…,error${valueColumns}${explaining.length === 0 ? '' : '; --explain adds explanation before error'}.
merge: the parts of every shard into the one output an unsharded run writes (same rows, order,
columns and known-answers report); exit 2 naming the shards missing, cut short, or run with another
model, model version, options or inputs.
feedback export: the inputs people shared with their feedback, under the label or value they gave,
in the layouts the training scripts read (npm run train -- <model> --extra DIR); DIR must be empty
unless --force. "ml-forms feedback export --help" says more.

Exit codes: 0 every input predicted, 1 some rows have an error (all other rows written),
2 usage error, 130 interrupted (Ctrl-C writes the rows done so far; rerun with --resume).
The server's settings apply (MODELS_DIR, MAX_UPLOAD_MB, MAX_IMAGE_MEGAPIXELS, MAX_REVIEW_CHARS, ONNX_THREADS).
With DATABASE_URL set, the rows also go into the app's prediction log (source batch; PREDICTION_LOG=0: not).

Example:
${MODELS.map((m) => `  ml-forms predict ${m.cli.example}`).join('\n')}
`;
}

function usage(message: string): number {
  process.stderr.write(`ml-forms: ${message}\nRun "ml-forms predict --help" for usage.\n`);
  return EXIT.usage;
}

function io(): Io {
  const interval = Number(process.env.ML_FORMS_PROGRESS_INTERVAL_MS ?? 5000);
  return {
    stdout: process.stdout,
    stderr: process.stderr,
    progressIntervalMs: Number.isFinite(interval) && interval > 0 ? interval : 5000,
  };
}

async function main(argv: string[]): Promise<number> {
  // `feedback` has options of its own (--database, --force): it parses them itself.
  if (argv[0] === 'feedback') {
    const { feedbackMain } = await import('./feedback');
    return feedbackMain(argv.slice(1), process.env, process.stdout, process.stderr);
  }
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
        explain: { type: 'boolean', default: false },
        shard: { type: 'string' },
        shards: { type: 'string' },
        quiet: { type: 'boolean', default: false },
        help: { type: 'boolean', short: 'h', default: false },
      },
    });
  } catch (err) {
    return usage(err instanceof Error ? (err.message.split('\n')[0] ?? '') : String(err));
  }
  const { values, positionals } = parsed;
  if (values.help) {
    process.stdout.write(await help());
    return EXIT.ok;
  }
  const [command, model, ...inputs] = positionals;
  if (command === 'merge') {
    const extra = (['field', 'label-field', 'id-field', 'url', 'concurrency', 'shard', 'shards'] as const).find(
      (name) => values[name] !== undefined,
    );
    // --explain included: the parts say whether their rows were explained.
    const flag = extra ?? (values.resume ? 'resume' : values.explain ? 'explain' : undefined);
    if (flag !== undefined) return usage(`--${flag} does not apply to merge`);
    const [{ mergeCommand }, { UsageError }] = await Promise.all([import('./merge'), import('../batch/inputs')]);
    try {
      return await mergeCommand({ parts: positionals.slice(1), out: values.out, quiet: values.quiet }, io());
    } catch (err) {
      if (err instanceof UsageError) return usage(err.message);
      throw err;
    }
  }
  if (command === 'feedback') return usage('"feedback" comes first: ml-forms feedback export --out DIR');
  if (command !== 'predict')
    return usage(
      command === undefined
        ? 'missing command: ml-forms predict <model> <input…>'
        : `unknown command "${command}"; the commands are "predict", "merge" and "feedback export"`,
    );
  const [{ MODELS }, { UsageError }, { ConfigError, loadConfig }, { predictCommand }, { shardSpec }] =
    await Promise.all([
      import('../models'),
      import('../batch/inputs'),
      import('../config'),
      import('./predict'),
      import('./shard'),
    ]);
  if (model === undefined)
    return usage(`missing model: ml-forms predict <${MODELS.map((m) => m.name).join('|')}> <input…>`);
  const concurrency = values.concurrency === undefined ? os.availableParallelism() : Number(values.concurrency);
  if (!Number.isInteger(concurrency) || concurrency < 1 || concurrency > 256) {
    return usage(`--concurrency must be a whole number from 1 to 256, got "${values.concurrency}"`);
  }
  for (const name of ['out', 'field', 'label-field', 'id-field', 'url'] as const) {
    if (values[name] === '') return usage(`--${name} needs a value`);
  }
  try {
    const config = loadConfig({ NODE_ENV: 'production', ...process.env });
    const shard = shardSpec(values.shard, values.shards, process.env);
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
        explain: values.explain,
        quiet: values.quiet,
        shard,
      },
      config,
      io(),
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
