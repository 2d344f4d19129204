/** The build copies the page's example images from the data set (it is not committed), and says what it could not find. */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { copyExampleImages } from '../../src/build/examples';
import { malaria } from '../../src/models/malaria';

const sources = (malaria.page.examples ?? []).flatMap((e) => (e.source === undefined ? [] : [{ ...e, source: e.source }]));

describe('copyExampleImages', () => {
  let root: string;
  let data: string;
  beforeEach(() => {
    root = fs.mkdtempSync(path.join(os.tmpdir(), 'examples-root-'));
    data = fs.mkdtempSync(path.join(os.tmpdir(), 'examples-data-'));
  });
  afterEach(() => {
    fs.rmSync(root, { recursive: true, force: true });
    fs.rmSync(data, { recursive: true, force: true });
  });

  it('copies each example whose source is in the data folder to public/<value>, and names the ones it cannot find', () => {
    expect(sources).toHaveLength(3);
    const [first, ...rest] = sources;
    if (first === undefined) throw new Error('no example');
    fs.mkdirSync(path.dirname(path.join(data, first.source)), { recursive: true });
    fs.writeFileSync(path.join(data, first.source), 'cell bytes');
    const lines: string[] = [];
    expect(copyExampleImages(root, data, (l) => lines.push(l))).toEqual([first.value]);
    expect(fs.readFileSync(path.join(root, 'public', first.value), 'utf8')).toBe('cell bytes');
    for (const e of rest) {
      expect(fs.existsSync(path.join(root, 'public', e.value))).toBe(false);
      expect(lines.some((l) => l.includes(e.name) && l.includes('not found'))).toBe(true);
    }
  });

  it('copies nothing without the data folder', () => {
    expect(copyExampleImages(root, path.join(data, 'absent'))).toEqual([]);
    expect(fs.existsSync(path.join(root, 'public'))).toBe(false);
  });
});
