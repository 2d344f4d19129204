/**
 * Which files of the browser build the runtime chunk brings (src/browser/runtime.ts, imported by
 * the engine only when the browser engine is chosen): what src/build/browser.ts counts as the
 * runtime's download in /download.json, besides onnxruntime-web's WebAssembly.
 */
import type * as esbuild from 'esbuild';

/** The outputs the runtime chunk brings (itself and what it imports) that the page and engine entries do not already load. */
export function runtimeOutputs(outputs: esbuild.Metafile['outputs']): string[] {
  const statics = (start: string, seen = new Set<string>()): Set<string> => {
    if (seen.has(start)) return seen;
    seen.add(start);
    for (const i of outputs[start]?.imports ?? []) if (i.kind === 'import-statement') statics(i.path, seen);
    return seen;
  };
  const entry = (src: string): string | undefined => Object.keys(outputs).find((o) => outputs[o]?.entryPoint === src);
  const runtime = entry('src/browser/runtime.ts');
  if (runtime === undefined) throw new Error('no runtime chunk in the build');
  const loaded = new Set([
    ...statics(entry('src/browser/engine.ts') ?? ''),
    ...statics(entry('src/browser/page.ts') ?? ''),
  ]);
  return [...statics(runtime)].filter((o) => !loaded.has(o));
}
