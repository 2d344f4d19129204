/** The command-line options the training and bench scripts share. */
import path from 'node:path';

/** The value after `--name` on the command line, if there is one. */
export function arg(name: string): string | undefined {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? process.argv[i + 1] : undefined;
}

/** Whether `--name` is on the command line. */
export function flag(name: string): boolean {
  return process.argv.includes(`--${name}`);
}

/** `--data DIR`, by default ../shared/data beside the repository; absolute. */
export function dataDir(): string {
  return path.resolve(arg('data') ?? path.join(__dirname, '..', '..', 'shared', 'data'));
}
