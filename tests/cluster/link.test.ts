/**
 * The cluster's IPC: an HTTP process's HostLink talking to the ModelHost over an in-memory channel
 * that copies every message with structuredClone, as Node's `serialization: 'advanced'` IPC does.
 */
import { EventEmitter } from 'node:events';
import client from 'prom-client';
import { ModelHost } from '../../src/cluster/host';
import { HostLink, type LinkOptions } from '../../src/cluster/link';
import { AppError, unavailable } from '../../src/errors';
import type { InferenceBackend, ModelSpec, NamedTensors } from '../../src/inference/backend';
import { FakeBackend } from '../helpers/fake-backend';
import { nextTurn } from '../helpers/async';


/** Two ends of an IPC channel; messages arrive asynchronously, as copies. */
function pipe() {
  const toHost = new EventEmitter();
  const toWorker = new EventEmitter();
  let open = true;
  const deliver = (to: EventEmitter, m: unknown): boolean => {
    if (!open) throw new Error('channel closed');
    const copy = structuredClone(m);
    setImmediate(() => to.emit('message', copy));
    return true;
  };
  return {
    worker: {
      send: (m: unknown) => deliver(toHost, m),
      on: (e: string, l: (m: unknown) => void) => toWorker.on(e, l),
    },
    host: {
      send: (m: unknown) => deliver(toWorker, m),
      on: (e: string, l: (m: unknown) => void) => toHost.on(e, l),
    },
    /** The host process dies. */
    cut: () => {
      open = false;
      toWorker.emit('disconnect');
    },
  };
}

const specs: ModelSpec[] = [
  { name: 'regression', version: '1', path: '/dev/null' },
  { name: 'sentiment', version: '1', path: '/dev/null' },
];

function setup(backend: InferenceBackend = new FakeBackend(), options: LinkOptions = {}) {
  const channel = pipe();
  const host = new ModelHost(backend, { collectTimeoutMs: 200 });
  const detach = host.attach(channel.host);
  const link = new HostLink(channel.worker, options);
  return { channel, host, detach, link };
}

describe('HostLink ↔ ModelHost', () => {
  it('load() waits until the host has loaded its models, then infer() runs on the host', async () => {
    const backend = new FakeBackend();
    const { host, link } = setup(backend);
    let loaded = false;
    const loading = link.backend.load(specs).then(() => (loaded = true));
    await nextTurn();
    await nextTurn();
    expect(loaded).toBe(false);
    host.ready();
    await loading;
    expect(link.backend.description).toBe('model host process: fake backend (tests)');

    const out = await link.backend.infer('regression', { x: { type: 'float32', dims: [1, 1], data: Float32Array.of(3) } });
    expect(out.y?.data).toBeInstanceOf(Float32Array);
    expect(Array.from(out.y?.data as Float32Array)).toEqual([7]);
    expect(backend.calls).toBe(1);
  });

  it('a process that joins after the models loaded is told at once (hello)', async () => {
    const channel = pipe();
    const host = new ModelHost(new FakeBackend());
    host.ready();
    host.attach(channel.host);
    const link = new HostLink(channel.worker);
    await expect(link.backend.load(specs)).resolves.toBeUndefined();
  });

  it('load() fails with the host’s reason when the host could not load the models', async () => {
    const { host, link } = setup();
    host.failed(new Error('model.onnx: no such file'));
    await expect(link.backend.load(specs)).rejects.toThrow(/could not load the models: model.onnx: no such file/);
  });

  it('keeps string tensors, and typed arrays of every type, intact across the channel', async () => {
    const echo: InferenceBackend = {
      description: 'echo',
      load: async () => undefined,
      close: async () => undefined,
      infer: async (_m, inputs) => inputs,
    };
    const { host, link } = setup(echo);
    host.ready();
    const inputs: NamedTensors = {
      s: { type: 'string', dims: [2], data: ['café ☕', ''] },
      u: { type: 'uint8', dims: [3], data: Uint8Array.of(0, 128, 255) },
      i: { type: 'int64', dims: [1], data: BigInt64Array.of(-5n) },
    };
    const out = await link.backend.infer('any', inputs);
    expect(out).toEqual(inputs);
    expect(out.u?.data).toBeInstanceOf(Uint8Array);
    expect(out.i?.data).toBeInstanceOf(BigInt64Array);
  });

  it('an overloaded host’s 503 arrives as the same AppError, Retry-After included', async () => {
    const backend = new FakeBackend();
    backend.failWith = unavailable('overloaded', 'The server is busy with other predictions. Try again in a moment.', 3);
    const { host, link } = setup(backend);
    host.ready();
    const err = await link.backend.infer('sentiment', { review: { type: 'string', dims: [1], data: ['good'] } }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(AppError);
    expect(err).toMatchObject({ kind: 'unavailable', code: 'overloaded', retryAfter: 3 });
  });

  it('any other inference failure arrives as a plain Error (answered as a 500)', async () => {
    const backend = new FakeBackend();
    backend.failWith = new Error('onnxruntime: bad input');
    const { host, link } = setup(backend);
    host.ready();
    const err = await link.backend.infer('sentiment', { review: { type: 'string', dims: [1], data: ['x'] } }).catch((e: unknown) => e);
    expect(err).not.toBeInstanceOf(AppError);
    expect((err as Error).message).toBe('onnxruntime: bad input');
  });

  it('models listed as local run in the HTTP process, not on the host', async () => {
    const hostBackend = new FakeBackend();
    const localBackend = new FakeBackend();
    const { host, link } = setup(hostBackend, { local: { models: ['regression'], backend: localBackend } });
    host.ready();
    await link.backend.load(specs);
    expect(localBackend.loaded).toEqual(['regression']);
    await link.backend.infer('regression', { x: { type: 'float32', dims: [1, 1], data: Float32Array.of(1) } });
    await link.backend.infer('sentiment', { review: { type: 'string', dims: [1], data: ['good'] } });
    expect(localBackend.calls).toBe(1);
    expect(hostBackend.calls).toBe(1);
    expect(link.backend.description).toMatch(/in this process: regression/);
  });

  it('when the host goes away, waiting and later requests are refused as unavailable and onHostLost runs once', async () => {
    let slowResolve: (v: NamedTensors) => void = () => undefined;
    const slow: InferenceBackend = {
      description: 'slow',
      load: async () => undefined,
      close: async () => undefined,
      infer: () => new Promise<NamedTensors>((r) => (slowResolve = r)),
    };
    const lost = jest.fn();
    const { channel, host, link } = setup(slow, { onHostLost: lost });
    host.ready();
    await link.backend.load(specs);
    const waiting = link.backend.infer('sentiment', { review: { type: 'string', dims: [1], data: ['x'] } });
    await nextTurn();
    channel.cut();
    await expect(waiting).rejects.toMatchObject({ kind: 'unavailable', code: 'unavailable' });
    await expect(link.backend.infer('sentiment', { review: { type: 'string', dims: [1], data: ['x'] } })).rejects.toMatchObject({
      kind: 'unavailable',
    });
    expect(lost).toHaveBeenCalledTimes(1);
    slowResolve({}); // the host's late answer goes nowhere
  });

  it('/metrics merges every HTTP process and the host: counters summed, host-only gauges kept', async () => {
    const registries = [new client.Registry(), new client.Registry(), new client.Registry()];
    const [a, b, own] = registries as [client.Registry, client.Registry, client.Registry];
    for (const [r, n] of [
      [a, 2],
      [b, 3],
    ] as const) {
      new client.Counter({ name: 'http_requests_total', help: 'requests', labelNames: ['route'], registers: [r] }).inc({ route: '/' }, n);
    }
    new client.Gauge({ name: 'inference_queue_depth', help: 'queue', labelNames: ['model'], registers: [own] }).set({ model: 'malaria' }, 4);

    const host = new ModelHost(new FakeBackend(), { ownMetrics: () => own.getMetricsAsJSON(), collectTimeoutMs: 500 });
    const channels = [pipe(), pipe()];
    channels.forEach((c) => host.attach(c.host));
    const links = [
      new HostLink(channels[0]!.worker, { collect: () => a.getMetricsAsJSON() }),
      new HostLink(channels[1]!.worker, { collect: () => b.getMetricsAsJSON() }),
    ];
    host.ready();
    const { text, contentType } = await links[1]!.clusterMetrics();
    expect(contentType).toMatch(/^text\/plain/);
    expect(text).toMatch(/^http_requests_total\{route="\/"\} 5$/m);
    expect(text).toMatch(/^inference_queue_depth\{model="malaria"\} 4$/m);
  });

  it('a process that does not answer in time is left out of the scrape, not waited for', async () => {
    const own = new client.Registry();
    new client.Gauge({ name: 'up', help: 'host up', registers: [own] }).set(1);
    const host = new ModelHost(new FakeBackend(), { ownMetrics: () => own.getMetricsAsJSON(), collectTimeoutMs: 50 });
    const silent = { send: () => true, on: () => undefined };
    host.attach(silent);
    const started = Date.now();
    const { text } = await host.metrics();
    expect(Date.now() - started).toBeLessThan(1000);
    expect(text).toMatch(/^up 1$/m);
  });
});
