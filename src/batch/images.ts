/**
 * The batch command's image inputs: files, folders (recursive, hidden files skipped) and
 * glob patterns, each folder and pattern in path order. An image's known answer is the nearest
 * folder named after a label ("cells/parasitized/a.png" → parasitized, any letter case).
 *
 * Only regular files inside the folders given are read, since a folder may come from someone else
 * (an unpacked archive, a shared drive): a link to a file inside the folder is read; a link out of
 * it (`b.png → /etc/hostname`, `etc → /etc`) becomes an `outside_folder` row, neither followed nor
 * read; links to folders inside it are not walked (their files are listed where they are), so a
 * link loop cannot make the listing endless. Anything else that is not a regular file (a FIFO, a
 * device, a socket), in a folder or named on the command line, becomes a `not_a_file` row. Glob
 * patterns match regular files only and do not follow links. The files listed are opened later
 * with openRegular (open-regular.ts).
 */
import fs from 'node:fs';
import fsp from 'node:fs/promises';
import path from 'node:path';
import { glob, isDynamicPattern } from 'tinyglobby';
import { type InputItem, UsageError } from './inputs';
import { fileKind as kind } from './open-regular';
import type { RowError } from './rows';

const byPath = (a: string, b: string): number => (a < b ? -1 : a > b ? 1 : 0);

const notAFile = (what: string): RowError => ({
  code: 'not_a_file',
  message: `This is ${what}, not a regular file; it was not read.`,
});

const outsideFolder = (folder: string): RowError => ({
  code: 'outside_folder',
  message: `This link points outside ${folder}; it was not followed.`,
});

const brokenLink = (err: unknown): RowError => ({
  code: 'unreadable_file',
  message: `This link cannot be followed (${(err as NodeJS.ErrnoException).code ?? 'error'}); nothing was read.`,
});

/** `target` is `root` or inside it (both real paths). */
function within(root: string, target: string): boolean {
  return target === root || target.startsWith(root.endsWith(path.sep) ? root : root + path.sep);
}

/** An entry to list: the real path to read, or why it is not read. */
interface Found {
  rel: string;
  file?: string;
  error?: RowError;
}

/**
 * Every entry of `folder` to list, recursively, hidden ones skipped, by relative path. Files come
 * with their real path (no link in it), which is what is opened later (with O_NOFOLLOW).
 */
async function walkFolder(folder: string): Promise<Found[]> {
  const root = await fsp.realpath(folder);
  const found: Found[] = [];
  const visit = async (realDir: string, rel: string): Promise<void> => {
    let entries: fs.Dirent[];
    try {
      entries = await fsp.readdir(realDir, { withFileTypes: true });
    } catch (err) {
      found.push({
        rel,
        error: {
          code: 'unreadable_file',
          message: `This folder could not be read (${(err as NodeJS.ErrnoException).code ?? 'error'}).`,
        },
      });
      return;
    }
    for (const entry of entries) {
      if (entry.name.startsWith('.')) continue;
      const real = path.join(realDir, entry.name);
      const relPath = rel === '' ? entry.name : `${rel}/${entry.name}`;
      if (entry.isDirectory()) {
        await visit(real, relPath);
      } else if (entry.isFile()) {
        found.push({ rel: relPath, file: real });
      } else if (!entry.isSymbolicLink()) {
        found.push({ rel: relPath, error: notAFile(kind(await fsp.lstat(real))) });
      } else {
        // realpath and stat read the link and the target's type, never the target's bytes.
        let target: string;
        let stat: fs.Stats;
        try {
          target = await fsp.realpath(real);
          if (!within(root, target)) {
            found.push({ rel: relPath, error: outsideFolder(folder) });
            continue;
          }
          stat = await fsp.stat(target);
        } catch (err) {
          found.push({ rel: relPath, error: brokenLink(err) });
          continue;
        }
        if (stat.isDirectory()) continue; // inside the folder: its files are listed where they are
        found.push(stat.isFile() ? { rel: relPath, file: target } : { rel: relPath, error: notAFile(kind(stat)) });
      }
    }
  };
  await visit(root, '');
  return found.sort((a, b) => byPath(a.rel, b.rel));
}

/** The nearest folder of `file` named after one of `labels`. */
function labelFromFolders(file: string, labels: readonly string[]): string | undefined {
  const folders = path.dirname(file).split(/[\\/]/).reverse();
  for (const folder of folders) {
    const hit = labels.find((l) => l.toLowerCase() === folder.toLowerCase());
    if (hit !== undefined) return hit;
  }
  return undefined;
}

/** Every image named by `args` (files, folders, glob patterns), in order; the whole list, for a total. */
export async function listImages(args: readonly string[], labels: readonly string[]): Promise<InputItem[]> {
  const items: Omit<InputItem, 'truth'>[] = [];
  for (const arg of args) {
    if (arg === '-')
      throw new UsageError('images are read from files, folders or glob patterns, not from standard input');
    // stat, not open: it does not block on a FIFO or touch a device.
    const stat = await fsp.stat(arg).catch(() => undefined);
    if (stat?.isDirectory()) {
      for (const { rel, file, error } of await walkFolder(arg))
        items.push({ id: path.join(arg, rel), key: rel, file, error });
    } else if (stat !== undefined) {
      // Named on the command line (a link too, since its name was given): a regular file, or an error row.
      items.push(
        stat.isFile()
          ? { id: arg, key: arg, file: await fsp.realpath(arg) }
          : { id: arg, key: arg, error: notAFile(kind(stat)) },
      );
    } else if (isDynamicPattern(arg)) {
      const found = await glob(arg, {
        onlyFiles: true,
        dot: false,
        absolute: path.isAbsolute(arg),
        followSymbolicLinks: false,
      });
      if (found.length === 0) throw new UsageError(`no files match ${arg}`);
      for (const match of found.sort(byPath)) {
        const entry = await fsp.lstat(match);
        items.push(
          entry.isFile()
            ? { id: match, key: match, file: await fsp.realpath(match) }
            : { id: match, key: match, error: notAFile(kind(entry)) },
        );
      }
    } else {
      throw new UsageError(`no such file or folder: ${arg}`);
    }
  }
  return items.map((item) => ({ ...item, truth: labelFromFolders(item.id, labels) }));
}
