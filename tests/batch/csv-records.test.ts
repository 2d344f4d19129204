/** src/batch/csv-records.ts: the batch command's streaming CSV reader. */
import { CsvRecords } from '../../src/batch/csv-records';

describe('CsvRecords', () => {
  it('reads records split anywhere across chunks, with the line each starts on', () => {
    const text = 'id,text\r\n1,"a, b"\n\n2,"say ""hi""\nsecond line"\n3,plain';
    const parser = new CsvRecords();
    const records = [...text].flatMap((c) => parser.push(c)).concat(parser.end());
    expect(records).toEqual([
      { line: 1, fields: ['id', 'text'] },
      { line: 2, fields: ['1', 'a, b'] },
      { line: 4, fields: ['2', 'say "hi"\nsecond line'] },
      { line: 6, fields: ['3', 'plain'] },
    ]);
  });

  it('keeps empty fields and marks a record whose quoted field never closes', () => {
    const parser = new CsvRecords();
    expect(parser.push('a,,c\n,\n')).toEqual([
      { line: 1, fields: ['a', '', 'c'] },
      { line: 2, fields: ['', ''] },
    ]);
    expect(parser.push('x,"open')).toEqual([]);
    expect(parser.end()).toEqual([{ line: 3, fields: ['x', 'open'], unterminated: true }]);
  });
});
