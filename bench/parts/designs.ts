/**
 * Part 6 of `npm run bench`: the serving designs side by side (one process or one per core;
 * models in each HTTP process or on a model host; inference threads or not), one server at a
 * time: start-up, memory, image saturation with /healthz alongside, form posts, sentiment.
 */
import { mb, startApp, wrk } from '../lib';
import { fmt } from '../report';
import { LEVELS, QUICK, SECONDS, type Targets, saturated, warm } from './settings';

/** The designs' table, as markdown lines. */
export async function measureDesigns(targets: Targets): Promise<string[]> {
  const top = LEVELS[LEVELS.length - 1] as number;
  // 6. Designs side by side: image saturation with /healthz alongside, the number form, memory.
  const designs: { name: string; env: Record<string, string> }[] = [
    { name: 'one process, models in 2 inference threads', env: { WEB_CONCURRENCY: '1' } },
    { name: 'one process, models on the main thread', env: { WEB_CONCURRENCY: '1', INFERENCE_WORKERS: '0' } },
    { name: '2 HTTP processes, models in each, on its main thread (default)', env: { WEB_CONCURRENCY: '2', CLUSTER_MODELS: 'each', INFERENCE_WORKERS: '0' } },
    { name: '2 HTTP processes, models in each, 1 inference thread each', env: { WEB_CONCURRENCY: '2', CLUSTER_MODELS: 'each', INFERENCE_WORKERS: '1' } },
    { name: '2 HTTP processes + model host (IPC), models on its main thread', env: { WEB_CONCURRENCY: '2', CLUSTER_MODELS: 'host', INFERENCE_WORKERS: '0' } },
    { name: '2 HTTP processes + model host (IPC), 2 inference threads', env: { WEB_CONCURRENCY: '2', CLUSTER_MODELS: 'host', INFERENCE_WORKERS: '2' } },
  ];
  const designLines = [
    '| design | start-up ms | idle RSS MB | idle PSS MB | peak RSS MB | peak PSS MB | images req/s (c=32) | image p99 ms | /healthz p99 ms | form req/s (c=32) | form CPU ms/req | sentiment req/s (c=32) |',
    '|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|',
  ];
  for (const d of QUICK ? designs.slice(2, 3) : designs) {
    const p = await startApp(d.name, d.env);
    await warm(p.base, [targets.regressionForm, targets.sentimentApi, targets.malariaApi]);
    const { images: img, health: hz } = await saturated(p, targets, Math.max(2, SECONDS - 1));
    const form = await wrk(p.base, targets.regressionForm, top, Math.max(2, SECONDS - 2), p.pid);
    const senti = await wrk(p.base, targets.sentimentApi, 32, Math.max(2, SECONDS - 2));
    await p.stop();
    designLines.push(
      `| ${d.name} | ${fmt(p.startupMs)} | ${mb(p.idleRss)} | ${mb(p.idlePss)} | ${mb(p.peakRss)} | ${mb(p.peakPss)} | ${fmt(img.rps)} | ${fmt(img.p99)} | ${fmt(hz.p99)} | ${fmt(form.rps)} | ${fmt(form.cpuMs ?? NaN, 2)} | ${fmt(senti.rps)} |`,
    );
  }
  return designLines;
}
