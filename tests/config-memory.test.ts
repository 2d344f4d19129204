/**
 * The memory settings of src/config.ts (issue 22): the largest image accepted and the decode
 * budget per process. Defaults that fit cell crops with a wide margin, and a 512 MB dyno.
 */
import { ConfigError, loadConfig } from '../src/config';

describe('loadConfig: image memory', () => {
  it('accepts images up to 4 megapixels by default: 25 times the largest cell crop of the dataset (394 × 394 px)', () => {
    const { maxImagePixels } = loadConfig({});
    expect(maxImagePixels).toBe(4_000_000);
    expect(maxImagePixels).toBeGreaterThanOrEqual(25 * 394 * 394);
    // Decoded to 8-bit RGB, the largest accepted image is 12 MB, not the 75 MB of 25 megapixels.
    expect(maxImagePixels * 3).toBeLessThanOrEqual(12_000_000);
  });

  it('caps decoded bytes in flight at 48 MB per process by default, waiting up to 2 s for room', () => {
    const c = loadConfig({});
    expect(c.decodeBudgetBytes).toBe(48 * 1024 * 1024);
    expect(c.decodeWaitMs).toBe(2000);
    // Room for four of the largest images at once: the images of one batch in progress (BATCH_CONCURRENCY).
    expect(Math.floor(c.decodeBudgetBytes / (c.maxImagePixels * 3))).toBe(c.batchConcurrency);
  });

  it('reads DECODE_BUDGET_MB (fractions allowed), DECODE_WAIT_MS and MAX_IMAGE_MEGAPIXELS', () => {
    const c = loadConfig({ DECODE_BUDGET_MB: '0.5', DECODE_WAIT_MS: '0', MAX_IMAGE_MEGAPIXELS: '1.5' });
    expect(c.decodeBudgetBytes).toBe(512 * 1024);
    expect(c.decodeWaitMs).toBe(0);
    expect(c.maxImagePixels).toBe(1_500_000);
  });

  it.each([
    ['DECODE_BUDGET_MB', '0'],
    ['DECODE_BUDGET_MB', 'lots'],
    ['DECODE_WAIT_MS', '-1'],
    ['DECODE_WAIT_MS', '1.5'],
  ])('refuses %s=%s, naming the variable', (name, value) => {
    expect(() => loadConfig({ [name]: value })).toThrow(ConfigError);
    expect(() => loadConfig({ [name]: value })).toThrow(name);
  });
});
