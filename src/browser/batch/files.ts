/**
 * What the multi-image table sends: the files a person chose, with the name each is sent under,
 * and the files inside a dropped folder (read through the File System entries API).
 */

/** What a folder may hold that is worth sending; anything else in a dropped folder is left out. */
const IMAGE_NAME = /\.(png|jpe?g|webp|gif)$/i;

export interface Chosen {
  file: File;
  /** The name sent: a dropped folder's files keep their path inside it. */
  name: string;
}

/** Every file under a dropped folder, with its path inside the drop. */
export async function filesIn(entry: FileSystemEntry): Promise<Chosen[]> {
  if (entry.isFile) {
    const file = await new Promise<File>((resolve, reject) => (entry as FileSystemFileEntry).file(resolve, reject));
    return [{ file, name: entry.fullPath.replace(/^\/+/, '') || file.name }];
  }
  if (!entry.isDirectory) return [];
  const reader = (entry as FileSystemDirectoryEntry).createReader();
  const children: FileSystemEntry[] = [];
  // readEntries answers in pieces (100 at a time in Chromium) until it answers none.
  for (;;) {
    const batch = await new Promise<FileSystemEntry[]>((resolve, reject) => reader.readEntries(resolve, reject));
    if (batch.length === 0) break;
    children.push(...batch);
  }
  children.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  const nested = await Promise.all(children.map(filesIn));
  return nested.flat().filter((c) => IMAGE_NAME.test(c.name));
}

/** The drop's files, folders opened; null when it is one plain file (the page script's case). */
export function droppedEntries(data: DataTransfer): FileSystemEntry[] | null {
  const entries = Array.from(data.items)
    .filter((item) => item.kind === 'file')
    .map((item) => item.webkitGetAsEntry?.() ?? null);
  const plainFiles = data.files.length;
  if (entries.some((e) => e === null)) return plainFiles > 1 ? [] : null;
  if (plainFiles <= 1 && !entries.some((e) => e?.isDirectory)) return null;
  return entries as FileSystemEntry[];
}
