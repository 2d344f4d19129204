/**
 * A synthetic round "cell" as SVG: the API reference's examples and the tests' images (no dataset
 * image is committed). A dark spot inside makes it look parasitized. No Node here: the server
 * renders it to PNG, JPEG, WebP or GIF with sharp (src/sample-image.ts).
 */
export function cellSvg(options: { size?: number; parasite?: boolean } = {}): string {
  const size = options.size ?? 128;
  const r = size * 0.42;
  const c = size / 2;
  const parasite = options.parasite
    ? `<circle cx="${c + r * 0.3}" cy="${c - r * 0.2}" r="${r * 0.18}" fill="#4b1d6e"/><circle cx="${c + r * 0.3}" cy="${c - r * 0.2}" r="${r * 0.09}" fill="#2a0a45"/>`
    : '';
  return `<svg xmlns="http://www.w3.org/2000/svg" width="${size}" height="${size}">
    <rect width="100%" height="100%" fill="black"/>
    <circle cx="${c}" cy="${c}" r="${r}" fill="#d9a3b0"/>
    <circle cx="${c}" cy="${c}" r="${r * 0.8}" fill="#e2b2bd"/>${parasite}</svg>`;
}
