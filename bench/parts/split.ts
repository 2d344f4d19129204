/**
 * Part 7 of `npm run bench`, and all of `npm run bench -- --only split`: the split (issue 11), a
 * web tier (INFERENCE_URL) and a model tier (ROLE=models) on loopback against the one-process app.
 */
import { type Row, type Target, mb, startApp, startModelTier, wrk } from '../lib';
import { fmt, table } from '../report';
import { QUICK, SECONDS, warm } from './settings';

/**
 * The split (issue 11): the app as one process against a web tier + model tier on loopback, both
 * running at once so that each measurement of one is followed at once by the same measurement of
 * the other (the machine's load drifts). Latency added: wrk at one connection, p50 and p99, per
 * model. Throughput: images at 32 connections. CPU per request counts both tiers' processes.
 */
export async function splitSection(targets: Record<'regressionApi' | 'sentimentApi' | 'malariaApi', Target>, say: (s?: string) => void): Promise<{ ratio: number; imageRps: [number, number] }> {
  const token = 'bench-token';
  const one = await startApp('one process', { WEB_CONCURRENCY: '1' });
  const tier = await startModelTier('model tier', { INFERENCE_TOKEN: token });
  const web = await startApp('web tier', { WEB_CONCURRENCY: '1', INFERENCE_URL: tier.base, INFERENCE_TOKEN: token });
  const all = [targets.regressionApi, targets.sentimentApi, targets.malariaApi];
  await warm(one.base, all);
  await warm(web.base, all);
  const latency: string[] = [];
  for (const [what, target] of [
    ['regression (JSON)', targets.regressionApi],
    ['sentiment (JSON)', targets.sentimentApi],
    ['malaria (upload)', targets.malariaApi],
  ] as const) {
    const a = await wrk(one.base, target, 1, SECONDS, one.pid);
    const b = await wrk(web.base, target, 1, SECONDS, [web.pid, tier.pid]);
    latency.push(
      `| ${what} | ${fmt(a.p50, 2)} / ${fmt(a.p99, 2)} | ${fmt(b.p50, 2)} / ${fmt(b.p99, 2)} | **+${fmt(b.p50 - a.p50, 2)} / +${fmt(b.p99 - a.p99, 2)}** | ${fmt(a.cpuMs ?? NaN, 2)} → ${fmt(b.cpuMs ?? NaN, 2)} | ${a.errors + a.non2xx + b.errors + b.non2xx} |`,
    );
  }
  const images: Row[] = [];
  for (let round = 0; round < (QUICK ? 1 : 2); round++) {
    images.push({ ...(await wrk(one.base, targets.malariaApi, 32, SECONDS, one.pid)), scenario: 'images, one process' });
    images.push({ ...(await wrk(web.base, targets.malariaApi, 32, SECONDS, [web.pid, tier.pid])), scenario: 'images, web tier → model tier' });
  }
  const best = (scenario: string): number => Math.max(...images.filter((r) => r.scenario === scenario).map((r) => r.rps));
  const inProcess = best('images, one process');
  const split = best('images, web tier → model tier');
  await Promise.all([one.stop(), web.stop(), tier.stop()]);

  say('## The split: web tier → model tier on loopback, against one process (issue 11)');
  say();
  say(`Both set-ups running at once, measured alternately. Start-up to ready: one process ${fmt(one.startupMs)} ms; model tier ${fmt(tier.startupMs)} ms, then the web tier ${fmt(web.startupMs)} ms ` +
    '(it waits for the model tier and checks its metadata against the cards).');
  say();
  say('Latency per prediction, one connection (wrk), ms:');
  say();
  say('| prediction | one process p50 / p99 | split p50 / p99 | added by the split p50 / p99 | server CPU ms/req (all processes) | errors + non-2xx |');
  say('|---|---:|---:|---:|---:|---:|');
  for (const l of latency) say(l);
  say();
  say('Image predictions at 32 connections (best of the rounds, each round one process then split):');
  say();
  say(table(images));
  say();
  say(`| memory | idle RSS MB | peak RSS MB | peak PSS MB |`);
  say(`|---|---:|---:|---:|`);
  say(`| one process | ${mb(one.idleRss)} | ${mb(one.peakRss)} | ${mb(one.peakPss)} |`);
  say(`| web tier (no models, no onnxruntime) | ${mb(web.idleRss)} | ${mb(web.peakRss)} | ${mb(web.peakPss)} |`);
  say(`| model tier (2 inference threads) | ${mb(tier.idleRss)} | ${mb(tier.peakRss)} | ${mb(tier.peakPss)} |`);
  say(`| split, both tiers (sum of peaks) | ${mb(web.idleRss + tier.idleRss)} | ${mb(web.peakRss + tier.peakRss)} | ${mb(web.peakPss + tier.peakPss)} |`);
  say();
  const ratio = split / inProcess;
  say(`| target | measured | |`);
  say(`|---|---|---|`);
  say(`| split image throughput ≥ 0.8× one process | ${fmt(split)} vs ${fmt(inProcess)} /s = ${fmt(ratio, 2)}× | ${ratio >= 0.8 ? 'holds' : '**does not hold**'} |`);
  say();
  return { ratio, imageRps: [inProcess, split] };
}
