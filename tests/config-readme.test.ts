/**
 * README.md's "## Configuration" table against the declared environment (src/config-schema.ts):
 * every variable the app reads has a row, every row names a variable the app reads, and a number
 * the table gives as a default is the declared one. A setting added without documenting it, or a
 * default changed without the README, fails here.
 */
import fs from 'node:fs';
import path from 'node:path';
import { environment, VARIABLES } from '../src/config-schema';

/** Each table row of the section: the variables of its first column and the text of its second. */
function configurationRows(readme: string): { names: string[]; defaults: string }[] {
  const section = /^## Configuration\n([\s\S]*?)(?=^## )/m.exec(readme)?.[1] ?? '';
  return section
    .split('\n')
    .filter((line) => line.startsWith('| `'))
    .map((line) => {
      const [names = '', defaults = ''] = line.split('|').slice(1);
      return {
        names: [...names.matchAll(/`([A-Z][A-Z0-9_]*)`/g)].map((m) => m[1] as string),
        defaults: defaults.trim(),
      };
    });
}

const rows = configurationRows(fs.readFileSync(path.join(__dirname, '..', 'README.md'), 'utf8'));
const documented = rows.flatMap((row) => row.names);

describe("README's configuration table", () => {
  it('has a row for every variable the app reads', () => {
    expect(VARIABLES.filter((name) => !documented.includes(name))).toEqual([]);
  });

  it('names only variables the app reads', () => {
    expect(documented.filter((name) => !(VARIABLES as string[]).includes(name))).toEqual([]);
  });

  it('states the declared default where it gives one number per variable', () => {
    const declared: Record<string, unknown> = environment.parse({});
    const wrong: string[] = [];
    for (const { names, defaults } of rows) {
      const parts = defaults.split(/,\s*/);
      if (parts.length !== names.length) continue;
      names.forEach((name, i) => {
        const stated = /^\d+(\.\d+)?\b/.exec(parts[i] as string)?.[0];
        if (stated !== undefined && typeof declared[name] === 'number' && Number(stated) !== declared[name]) {
          wrong.push(`${name}: README ${stated}, declared ${String(declared[name])}`);
        }
      });
    }
    expect(wrong).toEqual([]);
  });
});
