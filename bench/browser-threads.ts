/**
 * onnxruntime-web with 1 thread against 2, for `npm run bench:browser`: a harness page made
 * cross-origin isolated for the purpose (threads require it) runs each model alone.
 */
import * as esbuild from 'esbuild';
import type { AssetManifest } from '../src/http/static';
import { type TestServer, type launchChromium, startTestServer } from '../tests/helpers/browser';
import { type BenchWindow, MODELS, ROOT, RUNS, ms } from './browser-page';
import { quantile } from './stats';

declare const window: BenchWindow;

/** The harness for threads: onnxruntime-web alone, its thread count from the URL. */
const HARNESS = `
import * as ort from 'onnxruntime-web/wasm';
if (typeof document !== 'undefined') {
  const params = new URLSearchParams(location.search);
  ort.env.wasm.numThreads = Number(params.get('threads'));
  ort.env.wasm.wasmPaths = { wasm: params.get('wasm') };
  window.bench = async (runs, _threads, inputs) => {
    const out = { isolated: [crossOriginIsolated ? 1 : 0] };
    for (const [name, url, list] of inputs) {
      const session = await ort.InferenceSession.create(new Uint8Array(await (await fetch(url)).arrayBuffer()));
      const feeds = {};
      for (const feed of list) {
        const data = feed.type === 'string' ? feed.data : feed.type === 'float32' ? Float32Array.from(feed.data) : Uint8Array.from(feed.data);
        feeds[feed.name] = new ort.Tensor(feed.type, data, feed.dims);
      }
      for (let i = 0; i < 3; i++) await session.run(feeds);
      const times = [];
      for (let i = 0; i < runs; i++) {
        const start = performance.now();
        await session.run(feeds);
        times.push(performance.now() - start);
      }
      out[name] = times;
      await session.release();
    }
    return out;
  };
}
`;

export async function harnessServer(): Promise<{ server: TestServer; script: string }> {
  const built = await esbuild.build({
    stdin: { contents: HARNESS, resolveDir: ROOT, loader: 'js' },
    bundle: true,
    format: 'esm',
    write: false,
    minify: true,
    logLevel: 'error',
  });
  const script = built.outputFiles[0]?.text ?? '';
  const isolated = { 'Cross-Origin-Opener-Policy': 'same-origin', 'Cross-Origin-Embedder-Policy': 'require-corp' };
  const server = await startTestServer({
    intercept: (req, res) => {
      if (req.url?.startsWith('/__bench/page') === true) {
        res.writeHead(200, { 'Content-Type': 'text/html', ...isolated });
        res.end('<!doctype html><title>bench</title><script type="module" src="/__bench/harness.js"></script>');
        return true;
      }
      if (req.url === '/__bench/harness.js') {
        res.writeHead(200, {
          'Content-Type': 'text/javascript',
          ...isolated,
          'Cross-Origin-Resource-Policy': 'same-origin',
        });
        res.end(script);
        return true;
      }
      return false;
    },
  });
  return { server, script };
}

/** Prints the table: warm time per run of each model, 1 thread against 2. */
export async function threadTimes(
  browser: Awaited<ReturnType<typeof launchChromium>>,
  server: TestServer,
  manifest: AssetManifest,
  data: { x: number; review: string },
): Promise<void> {
  console.log(`\n## onnxruntime-web threads: session.run() alone, ${RUNS} runs (median / 90th percentile)\n`);
  const cards = (
    (await (await fetch(`${server.base}/api/models`)).json()) as { models: Array<{ name: string; version: string }> }
  ).models;
  const url = (name: string): string => `/models/${name}/${cards.find((c) => c.name === name)?.version}/model.onnx`;
  // Each model's inputs; `explain` false: the graphs' explanations switched off, as a prediction runs them.
  const explain = { name: 'explain', type: 'bool', data: [0], dims: [1] };
  const feeds = [
    ['regression', url('regression'), [{ name: 'x', type: 'float32', data: [data.x], dims: [1, 1] }]],
    [
      'malaria',
      url('malaria'),
      [
        {
          name: 'image',
          type: 'uint8',
          data: Array.from({ length: 130 * 130 * 3 }, (_, i) => (i * 37) % 256),
          dims: [1, 130, 130, 3],
        },
        explain,
      ],
    ],
    ['sentiment', url('sentiment'), [{ name: 'review', type: 'string', data: [data.review], dims: [1] }, explain]],
  ];
  const wasm = Object.keys(manifest.files).find((u) => u.endsWith('.wasm')) as string;
  const byThreads: Record<number, Record<string, number[]>> = {};
  for (const threads of [1, 2]) {
    const context = await browser.newContext();
    const page = await context.newPage();
    await page.goto(`${server.base}/__bench/page?threads=${threads}&wasm=${encodeURIComponent(wasm)}`);
    await page.waitForFunction('typeof window.bench === "function"');
    byThreads[threads] = await page.evaluate(([r, t, f]) => window.bench(r, t, f), [RUNS, threads, feeds] as const);
    await context.close();
  }
  console.log(
    `| model | 1 thread | 2 threads (cross-origin isolated: ${byThreads[2]?.isolated?.[0] === 1 ? 'yes' : 'NO'}) |\n|---|---:|---:|`,
  );
  for (const model of MODELS) {
    const cell = (t: number): string => {
      const v = byThreads[t]?.[model] ?? [];
      return `${ms(quantile(v, 0.5))} / ${ms(quantile(v, 0.9))} ms`;
    };
    console.log(`| ${model} | ${cell(1)} | ${cell(2)} |`);
  }
}
