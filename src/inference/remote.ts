/**
 * RemoteBackend: the models run on a model tier that speaks the Open Inference Protocol v2 over
 * HTTP/REST (INFERENCE_URL): this app's own ROLE=models, Triton, or any KServe v2 server.
 * Predictors, routes and pages do not change: infer() sends the predictor's tensors and returns
 * the model's outputs.
 *
 * Failures reach people as 503 with Retry-After and plain words, never as a 500 or a hang:
 *  - keep-alive connections (one pool), a timeout on every call (INFERENCE_TIMEOUT_MS);
 *  - a call the model tier did not take (connection refused or reset, or 503) is retried
 *    INFERENCE_RETRIES times with doubling backoff; nothing else is retried (a timed-out call may
 *    still be running there);
 *  - answers larger than maxResponseBytes (default 4 MB) are not read: the prediction fails (503);
 *  - a circuit breaker: after a few failures in a row every call fails at once, without waiting,
 *    while a probe asks the model tier every half second whether it is ready again, and closes the
 *    circuit as soon as it is.
 *
 * At start (load) it waits for the model tier, then checks each model's metadata against the
 * card (names, datatypes, shapes): a difference stops the start with a message saying what
 * differs. The model tier decides which version runs: every response names it, and a version not
 * seen before is looked up (metadata checked again, its card fetched where the server offers one)
 * before that prediction is returned, so the prediction reports the version that computed it.
 */
import http from 'node:http';
import https from 'node:https';
import { AppError, inputTooLarge, unavailable } from '../errors';
import type { Logger } from '../log';
import {
  BINARY_HEADER,
  BinaryReader,
  type InferResponse,
  type ModelMetadata,
  type ServerMetadata,
  type WireTensor,
  decodeTensor,
  dimsFor,
  encodeTensor,
  readMessage,
  signatureProblem,
  writeMessage,
} from '../oip/protocol';
import type { ModelCard } from '../predictors/types';
import type { InferenceBackend, ModelSpec, NamedTensors, ServedModel } from './backend';

export interface RemoteOptions {
  /** The model tier, e.g. http://127.0.0.1:8000 (a path prefix is kept). */
  url: string;
  /** Sent as `Authorization: Bearer <token>`. */
  token?: string;
  /** Longest wait for one call. */
  timeoutMs: number;
  /** Retries of a call the model tier did not take (connection failed, or 503). */
  retries: number;
  /** First retry's delay; each next one doubles. Default 50 ms. */
  backoffMs?: number;
  /** Failures in a row that open the circuit. Default 3. */
  breakerThreshold?: number;
  /** While the circuit is open, how often to ask the model tier whether it is ready. Default 500 ms. */
  probeMs?: number;
  /** Connections kept to the model tier. Default 64. */
  maxSockets?: number;
  /** How long a readiness answer is reused by /readyz. Default 1000 ms. */
  readyCacheMs?: number;
  /**
   * Largest answer read from the model tier, in bytes (default MAX_RESPONSE_BYTES): a model tier
   * gone wrong (or a proxy's page in its place) cannot make this process buffer without bound.
   */
  maxResponseBytes?: number;
  log?: Pick<Logger, 'info' | 'warn' | 'error'>;
}

interface Reply {
  status: number;
  headers: http.IncomingHttpHeaders;
  body: Buffer;
}

/** The model tier could not be reached, or dropped the connection (worth a retry). */
class ConnectionFailed extends Error {}
class TimedOut extends Error {}
/** The model tier's answer is larger than maxResponseBytes: not read further, not retried. */
export class ResponseTooLarge extends Error {}

/**
 * Default largest answer: an inference answer here is a few floats per image (32 per batch at
 * most), a card or metadata a few KB; 4 MB is far above any of them.
 */
export const MAX_RESPONSE_BYTES = 4 * 1024 * 1024;

interface Plan {
  spec: ModelSpec;
  /** The shape the server declares for each input (to send [N] where it wants [N, 1]). */
  inputShapes: Map<string, number[]>;
  version: string;
  /** Set when the model tier serves something the predictors cannot use. */
  problem?: string;
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));
const pathPart = (s: string): string => encodeURIComponent(s);

/** The newest of a model's versions (numbered versions compare as numbers). */
function newest(versions: readonly string[] | undefined): string | undefined {
  if (versions === undefined || versions.length === 0) return undefined;
  return [...versions].sort((a, b) => (/^\d+$/.test(a) && /^\d+$/.test(b) ? Number(a) - Number(b) : a.localeCompare(b))).at(-1);
}

export class RemoteBackend implements InferenceBackend {
  private readonly base: URL;
  private readonly agent: http.Agent;
  private readonly transport: typeof http | typeof https;
  private readonly plans = new Map<string, Plan>();
  private readonly listeners: ((model: string, served: ServedModel) => void)[] = [];
  private readonly refreshing = new Map<string, Promise<void>>();
  private extensions: string[] = [];
  private failures = 0;
  private probe: NodeJS.Timeout | null = null;
  private readyCache: { at: number; value: boolean } | null = null;
  private closed = false;

  constructor(private readonly options: RemoteOptions) {
    this.base = new URL(options.url.endsWith('/') ? options.url : `${options.url}/`);
    this.transport = this.base.protocol === 'https:' ? https : http;
    const AgentClass = this.base.protocol === 'https:' ? https.Agent : http.Agent;
    this.agent = new AgentClass({ keepAlive: true, maxSockets: options.maxSockets ?? 64, scheduling: 'lifo' });
  }

  get description(): string {
    const binary = this.binary ? ', binary tensors' : '';
    return `Open Inference Protocol v2 model server at ${this.options.url}${binary}`;
  }

  /** Whether tensors go as raw bytes (the server implements Triton's binary tensor data extension). */
  private get binary(): boolean {
    return this.extensions.includes('binary_tensor_data');
  }

  onServed(listener: (model: string, served: ServedModel) => void): void {
    this.listeners.push(listener);
  }

  /** Waits for the model tier, then checks every model against its card. */
  async load(models: ModelSpec[]): Promise<void> {
    await this.waitForServer();
    const meta = await this.fetchJson<ServerMetadata>('v2').catch(() => null);
    this.extensions = Array.isArray(meta?.extensions) ? meta.extensions.filter((e): e is string => typeof e === 'string') : [];
    const problems: string[] = [];
    for (const spec of models) {
      const metadata = await this.fetchJson<ModelMetadata>(`v2/models/${pathPart(spec.name)}`);
      const version = newest(metadata.versions) ?? spec.version;
      const plan: Plan = { spec, inputShapes: new Map(), version };
      const problem = this.check(plan, metadata);
      if (problem !== null) problems.push(problem);
      this.plans.set(spec.name, plan);
    }
    if (problems.length > 0) {
      throw new Error(`the model server at ${this.options.url} does not serve the models the cards describe:\n  ${problems.join('\n  ')}`);
    }
    for (const plan of this.plans.values()) this.announce(plan.spec.name, plan.version, await this.card(plan.spec.name, plan.version));
    this.options.log?.info({ url: this.options.url, extensions: this.extensions, models: [...this.plans.values()].map((p) => `${p.spec.name}@${p.version}`) }, 'model server checked');
  }

  async infer(model: string, inputs: NamedTensors): Promise<NamedTensors> {
    const plan = this.plans.get(model);
    if (plan === undefined) throw new Error(`model "${model}" is not loaded`);
    if (plan.problem !== undefined) throw unusable();
    const chunks: Buffer[] = [];
    const wires: WireTensor[] = Object.entries(inputs).map(([name, t]) => {
      const shape = plan.inputShapes.get(name);
      const sent = shape === undefined ? t : { ...t, dims: dimsFor(t.dims, shape) };
      const { wire, chunk } = encodeTensor(name, sent, this.binary && t.type !== 'string');
      if (chunk !== undefined) chunks.push(chunk);
      return wire;
    });
    // Outputs as raw bytes too where the server can: exact float32 values, Infinity and NaN
    // included (JSON has no Infinity: a regression far out of range must stay out of range).
    const request = this.binary ? { inputs: wires, parameters: { binary_data_output: true } } : { inputs: wires };
    const { body, headerLength } = writeMessage(request, chunks);
    const headers: http.OutgoingHttpHeaders = { 'content-type': headerLength === undefined ? 'application/json' : 'application/octet-stream' };
    if (headerLength !== undefined) headers[BINARY_HEADER] = String(headerLength);
    const reply = await this.send('POST', `v2/models/${pathPart(model)}/infer`, { body, headers });
    if (reply.status !== 200) throw await this.failed(model, reply);

    let outputs: NamedTensors;
    let version: string | undefined;
    try {
      const message = readMessage(reply.body, header(reply, BINARY_HEADER));
      const response = message.json as InferResponse;
      const reader = new BinaryReader(message.binary);
      outputs = {};
      for (const wire of response.outputs) {
        const { name, tensor } = decodeTensor(wire, reader, 'output');
        outputs[name] = tensor;
      }
      version = typeof response.model_version === 'string' && response.model_version !== '' ? response.model_version : undefined;
    } catch (err) {
      this.options.log?.error({ err, model }, 'the model server sent an answer this app cannot read');
      throw modelServerError();
    }
    if (version !== undefined && version !== plan.version) await this.refresh(model, version);
    if (plan.problem !== undefined) throw unusable();
    return outputs;
  }

  /** The model tier is ready (its /v2/health/ready and each model's ready), asked at most once a second. */
  async ready(): Promise<boolean> {
    if (this.probe !== null) return false; // circuit open
    if ([...this.plans.values()].some((p) => p.problem !== undefined)) return false;
    const now = Date.now();
    if (this.readyCache !== null && now - this.readyCache.at < (this.options.readyCacheMs ?? 1000)) return this.readyCache.value;
    const paths = ['v2/health/ready', ...[...this.plans.keys()].map((m) => `v2/models/${pathPart(m)}/ready`)];
    const answers = await Promise.all(
      paths.map((p) => this.once('GET', p, undefined, Math.min(1000, this.options.timeoutMs)).catch((err: Error) => err)),
    );
    const value = answers.every((a) => !(a instanceof Error) && a.status === 200);
    if (answers.some((a) => a instanceof ConnectionFailed || a instanceof TimedOut)) this.failure();
    this.readyCache = { at: Date.now(), value };
    return value;
  }

  async close(): Promise<void> {
    this.closed = true;
    if (this.probe !== null) clearInterval(this.probe);
    this.probe = null;
    this.agent.destroy();
  }

  // -------------------------------------------------------------------------------------------

  /** Compares the server's metadata with the card; records the input shapes to send. */
  private check(plan: Plan, metadata: ModelMetadata): string | null {
    const name = plan.spec.name;
    if (!Array.isArray(metadata.inputs) || !Array.isArray(metadata.outputs)) return `${name}: the model server's metadata lists no inputs and outputs`;
    const problems: string[] = [];
    for (const [kind, cards, served] of [
      ['input', plan.spec.inputs ?? [], metadata.inputs],
      ['output', plan.spec.outputs ?? [], metadata.outputs],
    ] as const) {
      for (const card of cards) {
        const s = served.find((t) => t.name === card.name);
        const problem = signatureProblem(card, s, kind);
        if (problem !== null) problems.push(`${name}: ${problem}`);
        if (kind === 'input' && s !== undefined) plan.inputShapes.set(card.name, s.shape);
      }
      if (kind === 'input') {
        for (const s of served) if (!cards.some((c) => c.name === s.name)) problems.push(`${name}: the model server wants input "${s.name}", which the card does not have`);
      }
    }
    return problems.length === 0 ? null : problems.join('\n  ');
  }

  /** A version not seen before: check it, get its card, tell the registry, before answering. */
  private refresh(model: string, version: string): Promise<void> {
    const key = `${model}@${version}`;
    let running = this.refreshing.get(key);
    if (running === undefined) {
      running = (async () => {
        const plan = this.plans.get(model) as Plan;
        try {
          const metadata = await this.fetchJson<ModelMetadata>(`v2/models/${pathPart(model)}/versions/${pathPart(version)}`);
          // Checked into a fresh plan: the running one keeps its shapes unless this version is usable.
          const checked: Plan = { ...plan, inputShapes: new Map() };
          const problem = this.check(checked, metadata);
          if (problem !== null) {
            plan.problem = problem;
            this.options.log?.error({ model, version, problem }, 'the model server now serves a version this app cannot use');
            return;
          }
          plan.inputShapes = checked.inputShapes;
          plan.problem = undefined;
          plan.version = version;
          this.announce(model, version, await this.card(model, version));
          this.options.log?.info({ model, version }, 'the model server serves a new version');
        } catch (err) {
          // Not fatal: the prediction stands; the next answer naming this version tries again.
          this.options.log?.warn({ err, model, version }, 'could not look up a new model version');
        } finally {
          this.refreshing.delete(key);
        }
      })();
      this.refreshing.set(key, running);
    }
    return running;
  }

  private announce(model: string, version: string, card: ModelCard | undefined): void {
    for (const listener of this.listeners) listener(model, { version, card });
  }

  /** The card the model tier serves for this version (its "model_card" extension), if any. */
  private async card(model: string, version: string): Promise<ModelCard | undefined> {
    if (!this.extensions.includes('model_card')) return undefined;
    const card = await this.fetchJson<ModelCard>(`v2/models/${pathPart(model)}/versions/${pathPart(version)}/card`).catch(() => undefined);
    return card !== undefined && card.name === model && card.version === version ? card : undefined;
  }

  private async waitForServer(): Promise<void> {
    let delay = 100;
    let lastLog = 0;
    for (;;) {
      if (this.closed) throw new Error('closed while waiting for the model server');
      const reply = await this.once('GET', 'v2/health/ready', undefined, Math.min(2000, this.options.timeoutMs)).catch((err: Error) => err);
      if (!(reply instanceof Error) && reply.status === 200) return;
      if (Date.now() - lastLog > 10_000) {
        lastLog = Date.now();
        const why = reply instanceof Error ? reply.message : `it answers ${reply.status}`;
        this.options.log?.warn({ url: this.options.url }, `waiting for the model server to be ready (${why})`);
      }
      await sleep(delay);
      delay = Math.min(2000, delay * 2);
    }
  }

  private async fetchJson<T>(path: string): Promise<T> {
    const reply = await this.once('GET', path, undefined, this.options.timeoutMs);
    if (reply.status === 401 || reply.status === 403) {
      throw new Error(`the model server at ${this.options.url} refused this app (${reply.status}): check INFERENCE_TOKEN`);
    }
    if (reply.status !== 200) throw new Error(`GET ${this.options.url}/${path} answered ${reply.status}: ${errorText(reply)}`);
    return JSON.parse(reply.body.toString('utf8')) as T;
  }

  /** One call with the retries, backoff and circuit breaker described at the top. */
  private async send(method: string, path: string, payload: { body: Buffer; headers: http.OutgoingHttpHeaders }): Promise<Reply> {
    const backoff = this.options.backoffMs ?? 50;
    for (let attempt = 0; ; attempt++) {
      if (this.probe !== null) throw notAnswering();
      let reply: Reply;
      try {
        reply = await this.once(method, path, payload, this.options.timeoutMs);
      } catch (err) {
        if (err instanceof ConnectionFailed && attempt < this.options.retries && !this.closed) {
          await sleep(backoff * 2 ** attempt);
          continue;
        }
        this.failure();
        if (err instanceof TimedOut) throw timedOut(this.options.timeoutMs);
        if (err instanceof ResponseTooLarge) {
          this.options.log?.error({ url: this.options.url, path }, err.message);
          throw modelServerError();
        }
        throw notAnswering();
      }
      if (reply.status === 503 && attempt < this.options.retries) {
        await sleep(backoff * 2 ** attempt);
        continue;
      }
      if (reply.status >= 500) this.failure();
      else this.failures = 0;
      return reply;
    }
  }

  /** One HTTP exchange, no retry. Rejects with ConnectionFailed or TimedOut. */
  private once(method: string, path: string, payload: { body: Buffer; headers: http.OutgoingHttpHeaders } | undefined, timeoutMs: number): Promise<Reply> {
    return new Promise<Reply>((resolve, reject) => {
      const headers: http.OutgoingHttpHeaders = { accept: 'application/json', ...payload?.headers };
      if (this.options.token !== undefined) headers.authorization = `Bearer ${this.options.token}`;
      if (payload !== undefined) headers['content-length'] = payload.body.length;
      // A server may answer before it has read the whole body (413 from Content-Length) and close
      // the connection: the write then fails, but the answer stands.
      let answered = false;
      const limit = this.options.maxResponseBytes ?? MAX_RESPONSE_BYTES;
      const tooLarge = (): ResponseTooLarge =>
        new ResponseTooLarge(`the model server's answer to ${method} /${path} is larger than this app reads (${limit} bytes): not read further`);
      const req = this.transport.request(new URL(path, this.base), { method, headers, agent: this.agent }, (res) => {
        answered = true;
        const chunks: Buffer[] = [];
        let size = 0;
        // Refused from Content-Length before reading, or as soon as the bytes read pass the limit;
        // the connection is dropped (the rest of the answer is never read).
        const refuse = (): void => {
          clearTimeout(timer);
          reject(tooLarge());
          res.destroy();
        };
        if (Number(res.headers['content-length']) > limit) {
          refuse();
          return;
        }
        res.on('data', (c: Buffer) => {
          size += c.length;
          if (size > limit) refuse();
          else chunks.push(c);
        });
        res.on('end', () => {
          clearTimeout(timer);
          resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks, size) });
        });
        res.on('error', (err) => {
          clearTimeout(timer);
          reject(err instanceof TimedOut ? err : new ConnectionFailed(err.message));
        });
        res.on('close', () => {
          clearTimeout(timer);
          if (!res.complete) reject(new ConnectionFailed('the connection closed before the answer was complete'));
        });
      });
      const timer = setTimeout(() => req.destroy(new TimedOut(`no answer within ${timeoutMs} ms`)), timeoutMs);
      req.on('error', (err) => {
        if (answered && !(err instanceof TimedOut)) return; // the response's own events settle it
        clearTimeout(timer);
        reject(err instanceof TimedOut ? err : new ConnectionFailed(err.message));
      });
      req.end(payload?.body);
    });
  }

  /** A failure of the model tier; enough in a row open the circuit. */
  private failure(): void {
    this.readyCache = null;
    if (++this.failures < (this.options.breakerThreshold ?? 3) || this.probe !== null || this.closed) return;
    this.options.log?.error({ url: this.options.url }, 'the model server is not answering: failing predictions at once until it is ready again');
    this.probe = setInterval(() => void this.probeOnce(), this.options.probeMs ?? 500);
    this.probe.unref();
  }

  private probing = false;

  private async probeOnce(): Promise<void> {
    if (this.probing) return;
    this.probing = true;
    try {
      const reply = await this.once('GET', 'v2/health/ready', undefined, Math.min(1000, this.options.timeoutMs));
      if (reply.status === 200 && this.probe !== null) {
        clearInterval(this.probe);
        this.probe = null;
        this.failures = 0;
        this.readyCache = null;
        this.options.log?.info({ url: this.options.url }, 'the model server is ready again');
      }
    } catch {
      // still down
    } finally {
      this.probing = false;
    }
  }

  /** What a non-200 answer to an inference means for the person waiting. */
  private async failed(model: string, reply: Reply): Promise<AppError> {
    const detail = errorText(reply);
    if (reply.status === 503) return unavailable('overloaded', 'The model server is busy with other predictions. Try again in a moment.', retryAfter(reply) ?? 1);
    if (reply.status === 413) return inputTooLarge('too_large_for_model_server', 'This input is too large for the model server. Try a smaller one.');
    this.options.log?.error({ model, status: reply.status, detail }, 'the model server refused a prediction');
    if (reply.status === 404 || reply.status === 400) {
      // Perhaps the model tier changed under us (a model unloaded, a new signature): look again.
      await this.refreshLatest(model);
    }
    return modelServerError();
  }

  private async refreshLatest(model: string): Promise<void> {
    const metadata = await this.fetchJson<ModelMetadata>(`v2/models/${pathPart(model)}`).catch(() => null);
    const version = newest(metadata?.versions);
    if (version !== undefined && version !== this.plans.get(model)?.version) await this.refresh(model, version);
  }
}

function header(reply: Reply, name: string): string | undefined {
  const v = reply.headers[name];
  return Array.isArray(v) ? v[0] : v;
}

function retryAfter(reply: Reply): number | undefined {
  const v = Number(header(reply, 'retry-after'));
  return Number.isFinite(v) && v >= 0 ? Math.min(v, 60) : undefined;
}

/** The model tier's {"error": "…"} (Triton, KServe), or the start of whatever it sent. */
function errorText(reply: Reply): string {
  const text = reply.body.toString('utf8', 0, Math.min(reply.body.length, 500));
  try {
    const e = (JSON.parse(text) as { error?: unknown }).error;
    if (typeof e === 'string') return e;
  } catch {
    // not JSON (a proxy's page)
  }
  return text;
}

const notAnswering = (): AppError =>
  unavailable('model_server_unavailable', 'Predictions are unavailable right now: the model server is not answering. Try again in a few seconds.', 2);
const timedOut = (ms: number): AppError =>
  unavailable('model_server_timeout', `The model server did not answer within ${Math.round(ms / 100) / 10} s. Try again in a moment.`, 2);
const modelServerError = (): AppError =>
  unavailable('model_server_error', 'The model server could not make this prediction. Try again in a moment.', 2);
const unusable = (): AppError =>
  unavailable('model_server_changed', 'Predictions are unavailable right now: the model server runs a model this app cannot use. Try again later.', 30);
