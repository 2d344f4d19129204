/**
 * Opening a file the batch command reads, safely: only a regular file is opened, with O_NONBLOCK,
 * and checked again on the open descriptor, so nothing swapped in after a listing (a FIFO, a
 * device, another file) can block the run in open() or be read.
 */
import fs from 'node:fs';
import fsp from 'node:fs/promises';

/** What a file system entry is, in words, for the rows and messages that refuse it. */
export function fileKind(stat: fs.Stats): string {
  if (stat.isFIFO()) return 'a named pipe (FIFO)';
  if (stat.isCharacterDevice() || stat.isBlockDevice()) return 'a device';
  if (stat.isSocket()) return 'a socket';
  if (stat.isDirectory()) return 'a folder';
  if (stat.isSymbolicLink()) return 'a link';
  return 'not a regular file';
}

/** The path names something other than a regular file: it is not opened, or not read once opened. */
export class NotRegularFile extends Error {
  constructor(
    readonly file: string,
    readonly kind: string,
  ) {
    super(`${file} is ${kind}, not a regular file`);
    this.name = 'NotRegularFile';
  }
}

const O_NONBLOCK = fs.constants.O_NONBLOCK ?? 0;
const O_NOFOLLOW = fs.constants.O_NOFOLLOW ?? 0;

/**
 * Opens `file` for reading if it is a regular file, else throws NotRegularFile. The type is checked
 * before open (so a FIFO or device is never opened) and again on the opened descriptor, which must
 * be the file checked: what is read is what was checked. O_NONBLOCK makes open() of a FIFO swapped
 * in between return at once instead of holding a libuv thread (and the process's exit) until a
 * writer comes; it does not change reads of a regular file. `noFollow` for paths already resolved:
 * a link put in their place is refused (ELOOP) rather than followed.
 */
export async function openRegular(file: string, { noFollow = false } = {}): Promise<fsp.FileHandle> {
  const before = noFollow ? await fsp.lstat(file) : await fsp.stat(file);
  if (!before.isFile()) throw new NotRegularFile(file, fileKind(before));
  const handle = await fsp.open(file, fs.constants.O_RDONLY | O_NONBLOCK | (noFollow ? O_NOFOLLOW : 0));
  try {
    const opened = await handle.stat();
    if (!opened.isFile()) throw new NotRegularFile(file, fileKind(opened));
    if (opened.ino !== before.ino || opened.dev !== before.dev)
      throw new NotRegularFile(file, 'a file that changed while it was opened');
    return handle;
  } catch (err) {
    await handle.close();
    throw err;
  }
}
