/**
 * What choosing the browser engine downloads, said on the engine switch before the visitor opts
 * in: the runtime (onnxruntime-web's WebAssembly and the runtime chunk) and the model files of
 * each precision, in bytes as the server sends them (brotli). The build measures them
 * (src/build/browser.ts writes /download.json); the switch fetches that small file, and says
 * nothing when it cannot (an old build, offline without it). And the choice of precision.
 */
/**
 * '8-bit' (the default): each model's 8-bit version where its card has one (a quarter of the
 * float file, the same labels on >= 99 % of the validation inputs: the card's quantized.validation);
 * 'float': the files the server runs, answers equal to the server's. /?engine=browser&precision=float.
 */
export type Precision = '8-bit' | 'float';

export const precisionOf = (search: string): Precision =>
  new URLSearchParams(search).get('precision') === 'float' ? 'float' : '8-bit';

export const DOWNLOAD_URL = '/download.json';

export interface Sizes {
  /** As sent with Accept-Encoding: br (the smaller compressed copy the server keeps). */
  served: number;
  /** Uncompressed. */
  bytes: number;
}

/** /download.json. */
export interface DownloadSizes {
  runtime: Sizes;
  /** Every model's file of that precision (the float file where a model has no 8-bit version). */
  models: Record<Precision, Sizes & { files: string[] }>;
}

export function megabytes(n: number): string {
  return n >= 1e6 ? `${(n / 1e6).toFixed(1)} MB` : `${Math.max(1, Math.round(n / 1e3))} kB`;
}

/** One sentence: what “In this browser” downloads at this precision, and the other precision's models. */
export function downloadText(sizes: DownloadSizes, precision: Precision): string {
  const models = sizes.models[precision];
  const other: Precision = precision === 'float' ? '8-bit' : 'float';
  const otherHow = other === 'float' ? 'full precision, ?precision=float' : '8-bit, the default';
  return (
    `In this browser: a download of ${megabytes(sizes.runtime.served + models.served)} once ` +
    `(the runtime ${megabytes(sizes.runtime.served)}, the ${precision === 'float' ? 'full-precision' : '8-bit'} models ${megabytes(models.served)}; ` +
    `the models ${otherHow}: ${megabytes(sizes.models[other].served)}), kept for offline use.`
  );
}

export async function fetchDownloadSizes(): Promise<DownloadSizes | null> {
  try {
    const res = await fetch(DOWNLOAD_URL, { headers: { Accept: 'application/json' } });
    if (!res.ok) return null;
    const sizes = (await res.json()) as DownloadSizes;
    return typeof sizes.runtime?.served === 'number' && typeof sizes.models?.float?.served === 'number' ? sizes : null;
  } catch {
    return null;
  }
}
