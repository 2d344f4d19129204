/**
 * The real server as a cluster (WEB_CONCURRENCY=2): two HTTP processes sharing the port, each with
 * its own models (the default) or with the models on the primary (CLUSTER_MODELS=host).
 * Predictions of all three models work through either process, /metrics counts the whole
 * cluster, and an HTTP process that dies is replaced while the other keeps serving.
 */
import { cellImage } from '../helpers/app';
import { type ServerProcess, startServer } from '../helpers/server-process';
import { sleep } from '../helpers/async';

jest.setTimeout(60_000);


/** Pids of HTTP processes that logged "listening", in order. */
function listening(server: ServerProcess): number[] {
  return server.logs
    .map((l) => /"pid":(\d+).*"role":"http".*listening/.exec(l))
    .filter((m): m is RegExpExecArray => m !== null)
    .map((m) => Number(m[1]));
}

async function formPost(url: string, x: string): Promise<{ status: number; html: string }> {
  const res = await fetch(`${url}/predict/regression`, { method: 'POST', body: new URLSearchParams({ x }) });
  return { status: res.status, html: await res.text() };
}

describe.each([
  ['2 HTTP processes, each with its models (the default)', { WEB_CONCURRENCY: '2' }],
  ['a model host + 2 HTTP processes', { WEB_CONCURRENCY: '2', CLUSTER_MODELS: 'host' }],
])('cluster: %s', (_name, env: Record<string, string>) => {
  let server: ServerProcess;

  beforeAll(async () => {
    // Production (as the child runs) serves /metrics only with METRICS_TOKEN.
    server = await startServer({ ...env, METRICS_TOKEN: 'm' });
    for (let i = 0; i < 100 && listening(server).length < 2; i++) await sleep(50);
  });

  afterAll(async () => {
    server.child.kill('SIGTERM');
    const { code } = await server.exited;
    // On failure the diff shows the cluster's last log lines: which process did not stop, and why.
    expect({ code, logs: code === 0 ? [] : server.logs.slice(-30) }).toEqual({ code: 0, logs: [] });
  });

  it('starts two HTTP processes besides the primary', () => {
    const pids = listening(server);
    expect(new Set(pids).size).toBe(2);
    expect(pids).not.toContain(server.child.pid);
  });

  it('answers every model through the HTTP processes, and counts the whole cluster in /metrics', async () => {
    const forms = await Promise.all(Array.from({ length: 20 }, (_, i) => formPost(server.url, String(i))));
    expect(forms.every((r) => r.status === 200)).toBe(true);
    expect(forms[5]?.html).toContain('The predicted value for 5 is');

    const body = new FormData();
    body.append('image', new Blob([await cellImage('png', { parasite: true })], { type: 'image/png' }), 'cell.png');
    const cell = await fetch(`${server.url}/api/predict/malaria`, { method: 'POST', body });
    expect(cell.status).toBe(200);
    expect(((await cell.json()) as { label: string }).label).toMatch(/^(parasitized|uninfected)$/);

    const review = await fetch(`${server.url}/api/predict/sentiment`, {
      method: 'POST',
      headers: { 'Content-Type': 'application/json' },
      body: JSON.stringify({ review: 'A wonderful, moving film. I loved every minute of it.' }),
    });
    expect(review.status).toBe(200);
    expect(((await review.json()) as { label: string }).label).toBe('positive');

    const metrics = await (await fetch(`${server.url}/metrics`, { headers: { authorization: 'Bearer m' } })).text();
    const forms200 = /^http_requests_total\{method="POST",route="\/predict\/:model",model="regression",status="200"\} (\d+)$/m.exec(metrics);
    expect(Number(forms200?.[1])).toBe(20);
    expect(metrics).toMatch(/^inference_duration_seconds_count\{model="sentiment",outcome="ok"\} 1$/m);
    expect(metrics).toMatch(/^process_resident_memory_bytes \d+$/m);
  });

  it('explains a review and a cell through the HTTP processes (?explain=1)', async () => {
    const review = await fetch(`${server.url}/api/predict/sentiment?explain=1`, {
      method: 'POST',
      headers: { 'Content-Type': 'application/json' },
      body: JSON.stringify({ review: 'A wonderful, moving film. I loved every minute of it.' }),
    });
    expect(review.status).toBe(200);
    const { explanation } = (await review.json()) as { explanation: { tokens: { text: string }[] } };
    expect(explanation.tokens.some((t) => t.text === 'wonderful')).toBe(true);

    const body = new FormData();
    body.append('image', new Blob([await cellImage('png', { parasite: true })], { type: 'image/png' }), 'cell.png');
    const cell = await fetch(`${server.url}/api/predict/malaria?explain=1`, { method: 'POST', body });
    expect(cell.status).toBe(200);
    const map = ((await cell.json()) as { explanation: { width: number; height: number; values: number[] } }).explanation;
    expect(map.values).toHaveLength(map.width * map.height);
  });

  it('replaces an HTTP process that dies, and keeps serving meanwhile', async () => {
    const [victim] = listening(server);
    process.kill(victim as number, 'SIGKILL');
    await sleep(100);
    const during = await Promise.all(Array.from({ length: 10 }, () => formPost(server.url, '2')));
    expect(during.every((r) => r.status === 200)).toBe(true);
    for (let i = 0; i < 100 && listening(server).length < 3; i++) await sleep(50);
    expect(listening(server)).toHaveLength(3);
    expect(server.logs.join('\n')).toMatch(/an HTTP process exited; starting another/);
    const after = await Promise.all(Array.from({ length: 10 }, () => formPost(server.url, '2')));
    expect(after.every((r) => r.status === 200)).toBe(true);
  });
});

describe('cluster: shutdown right after an HTTP process died', () => {
  it('starts no replacement once SIGTERM has come, and exits 0 promptly', async () => {
    const server = await startServer({ WEB_CONCURRENCY: '2' });
    for (let i = 0; i < 100 && listening(server).length < 2; i++) await sleep(50);
    const [victim] = listening(server);
    process.kill(victim as number, 'SIGKILL');
    await sleep(200); // the primary has seen the exit and set its 1 s respawn timer
    const started = Date.now();
    server.child.kill('SIGTERM');
    const { code } = await server.exited;
    expect(code).toBe(0);
    expect(Date.now() - started).toBeLessThan(10_000); // not the 22 s grace period's forced exit
    await sleep(1200); // past the respawn timer: nothing may have been forked
    expect(listening(server)).toHaveLength(2);
  });
});
