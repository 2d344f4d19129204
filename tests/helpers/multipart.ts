/** A multipart/form-data body built byte by byte, each file in the field "image", for posts sent over a raw socket. */
export function imagePartsBody(files: Array<{ name: string; bytes: Buffer }>, boundary: string): Buffer {
  return Buffer.concat([
    ...files.flatMap((f) => [
      Buffer.from(
        `--${boundary}\r\nContent-Disposition: form-data; name="image"; filename="${f.name}"\r\nContent-Type: image/png\r\n\r\n`,
      ),
      f.bytes,
      Buffer.from('\r\n'),
    ]),
    Buffer.from(`--${boundary}--\r\n`),
  ]);
}
