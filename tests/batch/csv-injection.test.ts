/**
 * CSV formula injection (issue 22, finding 7, must hold 6): no cell we write starts with "=", "+",
 * "-", "@", tab or CR unless it is a number we wrote (OWASP's rule: a leading "'"), whatever the
 * input's name or id; file names lose control and format characters; --resume reads the cells
 * back as they were.
 */
import { CsvRecords } from '../../src/batch/csv-records';
import { type BatchRow, cellText, csvField, csvLine, rowCells, toCsv } from '../../src/batch/rows';
import { cleanFileName } from '../../src/http/batch-upload';

const MALARIA = ['parasitized', 'uninfected'];
const HOSTILE = [
  '=HYPERLINK("http://x")',
  "@SUM(1+1)*cmd|' /C calc'!A0",
  '+1',
  '-x',
  '-1.5',
  '\tx',
  '\rx',
  '=1+1,2',
];

/** The cells of a CSV document, as a spreadsheet or our reader splits them. */
function cells(csv: string): string[][] {
  const parser = new CsvRecords();
  return [...parser.push(csv), ...parser.end()].map((r) => r.fields);
}

const FORMULA = /^[=+\-@\t\r]/;

describe('csvField', () => {
  it.each([
    ['=HYPERLINK("http://x")', `"'=HYPERLINK(""http://x"")"`],
    ["@SUM(1+1)*cmd|' /C calc'!A0", "'@SUM(1+1)*cmd|' /C calc'!A0"],
    ['+1', "'+1"],
    ['-x', "'-x"],
    ['\tx', "'\tx"],
    ['\rx', `"'\rx"`],
    ["'quoted", "''quoted"],
  ])('prefixes text %p that a spreadsheet would run: %p', (text, written) => {
    expect(csvField(text)).toBe(written);
  });

  it.each(['plain.png', 'a = b', 'x-1', '1e3', ''])('leaves text %p alone', (text) => {
    expect(csvField(text)).toBe(text);
  });

  it.each([
    [-1.5, '-1.5'],
    [-0.25, '-0.25'],
    [0.9987, '0.9987'],
    [-2e-7, '-2e-7'],
  ])('writes a number we computed, %p, as a number', (n, written) => {
    expect(csvField(n)).toBe(written);
  });
});

describe('rows with hostile inputs', () => {
  it('no text cell of a classifier CSV starts like a formula, whatever the file name', () => {
    const rows: BatchRow[] = HOSTILE.map((input, i) =>
      i % 2 === 0
        ? { input, prediction: { label: 'uninfected', confidence: 0.75, scores: { parasitized: 0.25, uninfected: 0.75 } } }
        : { input, error: { code: 'invalid_image', message: 'The PNG file could not be decoded.' } },
    );
    const read = cells(toCsv(rows, MALARIA));
    expect(read).toHaveLength(HOSTILE.length + 1);
    for (const row of read) for (const cell of row) expect(cell).not.toMatch(FORMULA);
    expect(read.slice(1).map((r) => cellText(r[0] as string))).toEqual(HOSTILE);
  });

  it('a regression CSV keeps negative values numbers and escapes an id from the input file', () => {
    const csv = toCsv(
      [
        { input: '-7', prediction: { value: -1.5 } },
        { input: '=A1', prediction: { value: -0.25 } },
      ],
      [],
    );
    expect(csv).toBe("input,value,error\n'-7,-1.5,\n'=A1,-0.25,\n");
  });

  it('rowCells gives numbers as numbers, so csvLine can tell them from text', () => {
    expect(csvLine(rowCells({ input: '-3', prediction: { value: -3 } }, []))).toBe("'-3,-3,\n");
  });

  it('cellText reads back every written text cell as it was (what --resume compares)', () => {
    for (const text of [...HOSTILE, "'", "''x", 'plain', '']) {
      const [read] = cells(csvLine([text, 1]));
      expect(cellText((read as string[])[0] as string)).toBe(text);
    }
  });
});

describe('cleanFileName drops control and format characters', () => {
  it.each([
    ['invoice\u202Egnp.exe', 'invoicegnp.exe'],
    ['zero\u200Bwidth\u200D.png', 'zerowidth.png'],
    ['\uFEFFbom.png', 'bom.png'],
    ['tab\there.png', 'tabhere.png'],
    ['nul\u0000.png', 'nul.png'],
    ['\u202E\u200B', 'image 1'],
  ])('%p → %p', (raw, cleaned) => {
    expect(cleanFileName(raw, 0)).toBe(cleaned);
  });

  it('keeps a name that starts like a formula (the CSV writer escapes it) and does not cut a surrogate pair', () => {
    expect(cleanFileName('=HYPERLINK("http://x").png', 0)).toBe('=HYPERLINK("http://x").png');
    expect(cleanFileName(`${'x'.repeat(254)}😀`, 0)).toBe('x'.repeat(254));
  });
});
