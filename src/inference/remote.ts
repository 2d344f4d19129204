/**
 * RemoteBackend: the models run on a model tier that speaks the Open Inference Protocol v2 over
 * HTTP/REST (INFERENCE_URL): this app's own ROLE=models, Triton, or any KServe v2 server.
 * Predictors, routes and pages do not change: infer() sends the predictor's tensors and returns
 * the model's outputs. This module is the backend's logic: readiness, compatibility, version swap.
 * The pieces it is built from:
 *  - ./oip-transport: one HTTP exchange (keep-alive pool, a timeout on every call,
 *    INFERENCE_TIMEOUT_MS, answers larger than maxResponseBytes not read);
 *  - ./retry around it: a call the model tier did not take (connection refused or reset, or 503)
 *    is retried INFERENCE_RETRIES times with doubling backoff; nothing else is retried (a
 *    timed-out call may still be running there);
 *  - ./breaker around that: after a few failures in a row every call fails at once, without
 *    waiting, while a probe asks the model tier every half second whether it is ready again, and
 *    closes the circuit as soon as it is;
 *  - ./oip-wording: failures reach people as 503 with Retry-After and plain words, never as a 500
 *    or a hang.
 *
 * At start (load) it waits for the model tier, then checks each model's metadata against the
 * card (names, datatypes, shapes): a difference stops the start with a message saying what
 * differs. The model tier decides which version runs: every response names it, and a version not
 * seen before is looked up (metadata checked again, its card fetched where the server offers one)
 * before that prediction is returned, so the prediction reports the version that computed it.
 */
import type { AppError } from '../errors';
import type { Logger } from '../log';
import type { ModelMetadata, ServerMetadata } from '../oip/protocol';
import type { ModelCard } from '../predictors/types';
import { type InferenceBackend, type InferOptions, type ModelSpec, type NamedTensors, type ServedModel, usualOutputs } from './backend';
import { CircuitBreaker } from './breaker';
import { ConnectionFailed, OipTransport, type Payload, type Reply, ResponseTooLarge, TimedOut, type TransportOptions, errorText } from './oip-transport';
import { callFailed, inferenceRefused, modelServerError, unusable } from './oip-wording';
import { type Plan, compatibilityProblem, newest } from './oip-compat';
import { inferAnswer, inferRequest } from './oip-infer';
import { withRetry } from './retry';

export interface RemoteOptions extends TransportOptions {
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
  /** How long a readiness answer is reused by /readyz. Default 1000 ms. */
  readyCacheMs?: number;
  /** Sent with every inference call: the web tier's SOURCE_HEADER while its own log is on (src/oip/log.ts). */
  inferHeaders?: Record<string, string>;
  log?: Pick<Logger, 'info' | 'warn' | 'error'>;
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));
const pathPart = (s: string): string => encodeURIComponent(s);

export class RemoteBackend implements InferenceBackend {
  private readonly transport: OipTransport;
  private readonly breaker: CircuitBreaker;
  /** One call to the model tier with the retries and the circuit breaker described at the top. */
  private readonly send: (method: string, path: string, payload: Payload) => Promise<Reply>;
  private readonly plans = new Map<string, Plan>();
  private readonly listeners: ((model: string, served: ServedModel) => void)[] = [];
  private readonly refreshing = new Map<string, Promise<void>>();
  private extensions: string[] = [];
  private readyCache: { at: number; value: boolean } | null = null;
  private closed = false;

  constructor(private readonly options: RemoteOptions) {
    this.transport = new OipTransport(options);
    const { url, log, timeoutMs } = options;
    this.breaker = new CircuitBreaker({
      threshold: options.breakerThreshold ?? 3,
      probeMs: options.probeMs ?? 500,
      probe: async () => (await this.transport.request('GET', 'v2/health/ready', undefined, Math.min(1000, timeoutMs))).status === 200,
      onFailure: () => (this.readyCache = null),
      onOpen: () => log?.error({ url }, 'the model server is not answering: failing predictions at once until it is ready again'),
      onClose: () => {
        this.readyCache = null;
        log?.info({ url }, 'the model server is ready again');
      },
    });
    const attempt = this.breaker.guard((method: string, path: string, payload: Payload) => this.transport.request(method, path, payload, timeoutMs));
    const retried = withRetry(attempt, {
      retries: options.retries,
      backoffMs: options.backoffMs ?? 50,
      retryError: (err) => err instanceof ConnectionFailed && !this.closed,
      retryResult: (reply) => reply.status === 503,
    });
    this.send = this.breaker.watch(retried, (reply) => reply.status >= 500);
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
      const problem = compatibilityProblem(plan, metadata);
      if (problem !== null) problems.push(problem);
      this.plans.set(spec.name, plan);
    }
    if (problems.length > 0) {
      throw new Error(`the model server at ${this.options.url} does not serve the models the cards describe:\n  ${problems.join('\n  ')}`);
    }
    for (const plan of this.plans.values()) this.announce(plan.spec.name, plan.version, await this.card(plan.spec.name, plan.version));
    this.options.log?.info({ url: this.options.url, extensions: this.extensions, models: [...this.plans.values()].map((p) => `${p.spec.name}@${p.version}`) }, 'model server checked');
  }

  async infer(model: string, inputs: NamedTensors, options: InferOptions = {}): Promise<NamedTensors> {
    const plan = this.plans.get(model);
    if (plan === undefined) throw new Error(`model "${model}" is not loaded`);
    if (plan.problem !== undefined) throw unusable();
    // The outputs always named, so that a server returning every configured output by default
    // (Triton) computes none of those an explanation needs unless asked.
    const payload = inferRequest(inputs, plan.inputShapes, this.binary, options.outputs ?? usualOutputs(plan.spec));
    if (this.options.inferHeaders !== undefined) payload.headers = { ...payload.headers, ...this.options.inferHeaders };
    const reply = await this.post(`v2/models/${pathPart(model)}/infer`, payload);
    if (reply.status !== 200) throw await this.failed(model, reply);

    let outputs: NamedTensors;
    let version: string | undefined;
    try {
      ({ outputs, version } = inferAnswer(reply));
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
    if (this.breaker.isOpen) return false;
    if ([...this.plans.values()].some((p) => p.problem !== undefined)) return false;
    const now = Date.now();
    if (this.readyCache !== null && now - this.readyCache.at < (this.options.readyCacheMs ?? 1000)) return this.readyCache.value;
    const paths = ['v2/health/ready', ...[...this.plans.keys()].map((m) => `v2/models/${pathPart(m)}/ready`)];
    const answers = await Promise.all(
      paths.map((p) => this.transport.request('GET', p, undefined, Math.min(1000, this.options.timeoutMs)).catch((err: Error) => err)),
    );
    const value = answers.every((a) => !(a instanceof Error) && a.status === 200);
    if (answers.some((a) => a instanceof ConnectionFailed || a instanceof TimedOut)) this.breaker.failure();
    this.readyCache = { at: Date.now(), value };
    return value;
  }

  async close(): Promise<void> {
    this.closed = true;
    this.breaker.stop();
    this.transport.close();
  }

  // -------------------------------------------------------------------------------------------

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
          const problem = compatibilityProblem(checked, metadata);
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
      const reply = await this.transport.request('GET', 'v2/health/ready', undefined, Math.min(2000, this.options.timeoutMs)).catch((err: Error) => err);
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
    const reply = await this.transport.request('GET', path, undefined, this.options.timeoutMs);
    if (reply.status === 401 || reply.status === 403) {
      throw new Error(`the model server at ${this.options.url} refused this app (${reply.status}): check INFERENCE_TOKEN`);
    }
    if (reply.status !== 200) throw new Error(`GET ${this.options.url}/${path} answered ${reply.status}: ${errorText(reply)}`);
    return JSON.parse(reply.body.toString('utf8')) as T;
  }

  /** An inference call: a failure without an answer becomes the words people see. */
  private async post(path: string, payload: Payload): Promise<Reply> {
    try {
      return await this.send('POST', path, payload);
    } catch (err) {
      if (err instanceof ResponseTooLarge) this.options.log?.error({ url: this.options.url, path }, err.message);
      throw callFailed(err, this.options.timeoutMs);
    }
  }

  /** What a non-200 answer to an inference means for the person waiting. */
  private async failed(model: string, reply: Reply): Promise<AppError> {
    const error = inferenceRefused(reply);
    if (reply.status === 503 || reply.status === 413) return error;
    this.options.log?.error({ model, status: reply.status, detail: errorText(reply) }, 'the model server refused a prediction');
    if (reply.status === 404 || reply.status === 400) {
      // Perhaps the model tier changed under us (a model unloaded, a new signature): look again.
      await this.refreshLatest(model);
    }
    return error;
  }

  private async refreshLatest(model: string): Promise<void> {
    const metadata = await this.fetchJson<ModelMetadata>(`v2/models/${pathPart(model)}`).catch(() => null);
    const version = newest(metadata?.versions);
    if (version !== undefined && version !== this.plans.get(model)?.version) await this.refresh(model, version);
   }
}
