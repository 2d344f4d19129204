/** src/http/table.ts: the models table in words, as the page's heading and the API reference say it. */
import { MODELS } from '../../src/models';
import { countInWords, exampleFormat, listInWords, tableInWords } from '../../src/http/table';

describe('tableInWords', () => {
  it('says what the models are and where their data comes from, in page order', () => {
    const words = tableInWords(MODELS);
    expect(words.count).toBe(countInWords(MODELS.length));
    expect(words.what.toLowerCase()).toBe(listInWords(MODELS.map((m) => m.about.what)).toLowerCase());
    expect(words.what.charAt(0)).toBe(words.what.charAt(0).toUpperCase());
    expect(words.data).toBe(MODELS.map((m) => m.about.data).join('; '));
  });

  it('joins one, two and more items as a sentence does', () => {
    expect(listInWords(['a'])).toBe('a');
    expect(listInWords(['a', 'b'])).toBe('a and b');
    expect(listInWords(['a', 'b', 'c'])).toBe('a, b and c');
    expect(countInWords(4)).toBe('four');
    expect(countInWords(13)).toBe('13');
  });
});

describe('exampleFormat', () => {
  it('reads an example image file format from its extension, PNG by default', () => {
    expect(exampleFormat('cell.png')).toBe('png');
    expect(exampleFormat('a.JPG')).toBe('jpeg');
    expect(exampleFormat('a.webp')).toBe('webp');
    expect(exampleFormat('noext')).toBe('png');
  });
});
