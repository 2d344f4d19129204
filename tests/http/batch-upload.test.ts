/**
 * src/http/batch-upload.ts: the file names the table shows (cleanFileName), and readImageBatch through
 * a real socket: files handed on in post order as their bytes arrive, and backpressure: a file is
 * not read while the consumer's promise for the one before is pending.
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import express from 'express';
import { type UploadedImage, cleanFileName, readImageBatch } from '../../src/http/batch-upload';
import { imagePartsBody } from '../helpers/multipart';
import { sleep } from '../helpers/async';

const BOUNDARY = 'uploadTest7';
const LIMITS = { maxFiles: 10, maxBytes: 20 * 1024 * 1024, maxFileBytes: 2 * 1024 * 1024 };

/** A server reading each post with `onFile`; posts a body and resolves with the answer's text. */
async function withServer(
  onFile: (file: UploadedImage) => Promise<void> | void,
  run: (post: (body: Buffer) => Promise<string>) => Promise<void>,
): Promise<void> {
  const app = express();
  app.post('/', async (req, res) => {
    const count = await readImageBatch(req, res, LIMITS, onFile).catch((err: Error) => err.message);
    res.send(String(count));
  });
  const server = http.createServer(app);
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const { port } = server.address() as AddressInfo;
  const post = (body: Buffer): Promise<string> =>
    new Promise((resolve, reject) => {
      const req = http.request(
        {
          host: '127.0.0.1',
          port,
          method: 'POST',
          headers: { 'content-type': `multipart/form-data; boundary=${BOUNDARY}` },
        },
        (res) => {
          let text = '';
          res.on('data', (c: Buffer) => (text += c.toString()));
          res.on('end', () => resolve(text));
        },
      );
      req.on('error', reject);
      req.end(body);
    });
  try {
    await run(post);
  } finally {
    await new Promise((r) => server.close(r));
  }
}

describe('readImageBatch', () => {
  it('hands each file on in post order, and reads no further file while the consumer says wait', async () => {
    // Files much larger than a stream buffer: the parser cannot run ahead of the file it is in.
    const files = [0, 1, 2, 3].map((i) => ({ name: `f${i}.png`, bytes: Buffer.alloc(1024 * 1024, i) }));
    const seen: Array<{ index: number; name: string; first: number; length: number }> = [];
    let go: () => void = () => undefined;
    const onFile = (file: UploadedImage): Promise<void> | void => {
      seen.push({ index: file.index, name: file.name, first: file.bytes[0] as number, length: file.bytes.length });
      if (file.index === 0) return new Promise<void>((resolve) => (go = resolve));
    };
    await withServer(onFile, async (post) => {
      const answer = post(imagePartsBody(files, BOUNDARY));
      while (seen.length === 0) await sleep(10);
      await sleep(300);
      expect(seen.map((s) => s.index)).toEqual([0]);
      go();
      expect(await answer).toBe('4');
    });
    expect(seen).toEqual(files.map((f, i) => ({ index: i, name: f.name, first: i, length: f.bytes.length })));
  });

  it("makes a file over the per-file limit that file's error, with no bytes, and goes on", async () => {
    const seen: UploadedImage[] = [];
    await withServer(
      (file) => void seen.push(file),
      async (post) => {
        const answer = await post(
          imagePartsBody(
            [
              { name: 'big.png', bytes: Buffer.alloc(LIMITS.maxFileBytes + 1, 1) },
              { name: 'edge.png', bytes: Buffer.alloc(LIMITS.maxFileBytes, 2) },
            ],
            BOUNDARY,
          ),
        );
        expect(answer).toBe('2');
      },
    );
    expect(seen.map((f) => [f.name, f.bytes.length, f.error?.code])).toEqual([
      ['big.png', 0, 'file_too_large'],
      ['edge.png', LIMITS.maxFileBytes, undefined],
    ]);
  });
});

describe('cleanFileName', () => {
  it.each([
    ['cell.png', 'cell.png'],
    ['cells\\parasitized\\1.png', 'cells/parasitized/1.png'],
    ['/abs/path.png', 'abs/path.png'],
    ['a%22b%0Ac.png', 'a"b c.png'],
    ['bell\u0007.png', 'bell.png'],
    ['', 'image 4'],
    [undefined, 'image 4'],
  ])('%p → %p', (raw, expected) => {
    expect(cleanFileName(raw, 3)).toBe(expected);
  });

  it('keeps at most 255 characters', () => {
    expect(cleanFileName('x'.repeat(1000), 0)).toHaveLength(255);
  });
});
