/**
 * Issue 23, "one place per model": no file in src/, views/ or public/ outside a model's own folder
 * names that model, except the table (src/models/index.ts). A path component or file name that
 * starts with the model's name is its folder (src/models/malaria/…, views/partials/malaria-api.ejs).
 */
import fs from 'node:fs';
import path from 'node:path';
import { MODEL_NAMES } from '../../src/models';

const ROOT = path.join(__dirname, '..', '..');
const TABLE = 'src/models/index.ts';

function filesUnder(dir: string): string[] {
  const abs = path.join(ROOT, dir);
  if (!fs.existsSync(abs)) return [];
  return fs.readdirSync(abs, { withFileTypes: true, recursive: true })
    .filter((e) => e.isFile())
    .map((e) => path.relative(ROOT, path.join(e.parentPath, e.name)).split(path.sep).join('/'));
}

/** Files outside `name`'s folder whose text names it (case-insensitive). */
export function filesNaming(name: string, files: readonly string[]): string[] {
  const inFolder = (file: string): boolean => file.split('/').some((part) => part.toLowerCase().startsWith(name));
  const pattern = new RegExp(name, 'i');
  return files.filter((f) => f !== TABLE && !inFolder(f) && pattern.test(fs.readFileSync(path.join(ROOT, f), 'utf8')));
}

describe('one place per model', () => {
  const files = ['src', 'views', 'public'].flatMap(filesUnder);

  it('finds the sources it checks (the scan is not empty)', () => {
    expect(files).toContain('src/models/model.ts');
    expect(files.length).toBeGreaterThan(50);
  });

  it('the check sees a model named outside its folder (the table itself, were it not the table)', () => {
    const pattern = new RegExp(MODEL_NAMES[0] as string, 'i');
    expect(pattern.test(fs.readFileSync(path.join(ROOT, TABLE), 'utf8'))).toBe(true);
  });

  it.each(MODEL_NAMES)('%s: named by no file outside its folder but the table', (name) => {
    expect(filesNaming(name, files)).toEqual([]);
  });
});
