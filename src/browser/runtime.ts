/**
 * The in-browser models: onnxruntime-web (its WebAssembly build, served by this app from its own
 * dependency, never a CDN) behind the same InferenceBackend interface the server uses, and the
 * server's own predictors on top of it, made from the same table (src/models/index.ts): the same
 * parsing, limits, postprocessing, rounding and statements, from the same modules. Loaded lazily
 * (a separate chunk) the first time the browser engine is chosen, so the server mode never
 * downloads it.
 *
 * Each model is fetched from /models/<name>/<version>/model.onnx and used only if its sha256 is the
 * one in its card (/api/models); a stale copy (an old cache) is fetched again, bypassing caches.
 * The version: by default the 8-bit one the card's `quantized` section names (its sha256 there
 * too), else, with settings.precision 'float' or for a model without one, the card's own version,
 * the float file the server runs. A prediction names the version that computed it.
 *
 * On a first visit nothing here waits for the service worker: the WebAssembly starts compiling as
 * this chunk loads (warmUp), the models are fetched meanwhile, and keepOffline() later has the
 * worker keep what it did not see.
 */
import * as ort from 'onnxruntime-web/wasm';
import { fileTooLarge, type FormName, missingImage, notFound } from '../errors';
import type { ModelSpec } from '../inference/backend';
import { OrtSessions } from '../inference/ort-sessions';
import { MODELS } from '../models';
import { byName, type InputLimits, inputFromValue, type ModelDefinition } from '../models/model';
import type { ModelCard, PredictOptions, Prediction, Predictor } from '../predictors/types';
import { browserDecoder } from './decode';
import type { EngineSettings, Precision } from './settings';

/** The content-hashed URL of ort-wasm-simd-threaded.wasm, set by src/build/browser.ts. */
declare const __ORT_WASM_URL__: string;

/** One thread: cross-origin isolation would be needed for more, and bench/browser.ts measured no gain on these models. */
ort.env.wasm.numThreads = 1;
ort.env.wasm.proxy = false;
ort.env.wasm.wasmPaths = { wasm: __ORT_WASM_URL__ };
ort.env.logLevel = 'error';

export function modelUrl(card: Pick<ModelCard, 'name' | 'version'>): string {
  return `/models/${card.name}/${card.version}/model.onnx`;
}

/** What a card says of its 8-bit version (training/quantized-card.ts), if it has one. */
interface QuantizedSection {
  version: string;
  artifact: { sha256: string; bytes?: number; file?: string };
}

function quantizedOf(card: ModelCard): QuantizedSection | undefined {
  const q = (card as { quantized?: unknown }).quantized as Partial<QuantizedSection> | undefined;
  const ok = typeof q?.version === 'string' && typeof q.artifact === 'object' && typeof q.artifact?.sha256 === 'string';
  return ok ? (q as QuantizedSection) : undefined;
}

/** The card as the browser runs it: the 8-bit version's (its version and artifact), or the card itself. */
export function cardFor(card: ModelCard, precision: Precision): ModelCard {
  const q = precision === 'float' ? undefined : quantizedOf(card);
  if (q === undefined) return card;
  return { ...card, version: q.version, artifact: { ...card.artifact, ...q.artifact } };
}

async function sha256Hex(bytes: Uint8Array<ArrayBuffer>): Promise<string> {
  const digest = new Uint8Array(await crypto.subtle.digest('SHA-256', bytes));
  return Array.from(digest, (b) => b.toString(16).padStart(2, '0')).join('');
}

/** The model file, checked against its card's sha256; `reload` bypasses every cache (a stale copy). */
async function fetchModel(spec: ModelSpec): Promise<Uint8Array> {
  for (const cache of ['default', 'reload'] as const) {
    const res = await fetch(spec.path, { cache });
    if (!res.ok) throw new Error(`${spec.path}: HTTP ${res.status}`);
    const bytes = new Uint8Array(await res.arrayBuffer());
    if (spec.sha256 === undefined || (await sha256Hex(bytes)) === spec.sha256) return bytes;
  }
  throw new Error(`${spec.path} does not match the sha256 in its model card`);
}

/** Protobuf field `n` of wire type 2 (bytes, here always under 128). */
function field(n: number, body: number[] | string): number[] {
  const bytes = typeof body === 'string' ? [...new TextEncoder().encode(body)] : body;
  return [(n << 3) | 2, bytes.length, ...bytes];
}

/**
 * The smallest ONNX model: y = Identity(x), x a float32[1] (ModelProto: ir_version 7, opset 13).
 * Creating a session of it makes onnxruntime compile and initialize its WebAssembly (a few
 * hundred ms of the first answer) while the model list and the model files are still on their
 * way, instead of after them.
 */
function identityModel(): Uint8Array {
  const tensor = field(1, [0x08, 1, ...field(2, field(1, [0x08, 1]))]); // float32, shape [1]
  const value = (name: string): number[] => [...field(1, name), ...field(2, tensor)];
  const node = [...field(1, 'x'), ...field(2, 'y'), ...field(4, 'Identity')];
  const graph = [...field(1, node), ...field(2, 'g'), ...field(11, value('x')), ...field(12, value('y'))];
  return Uint8Array.from([0x08, 7, ...field(7, graph), ...field(8, [0x10, 13])]);
}

/** The server's model cards (/api/models). */
async function fetchModelList(): Promise<ModelCard[]> {
  const res = await fetch('/api/models', { headers: { Accept: 'application/json' } });
  if (!res.ok) throw new Error(`/api/models: HTTP ${res.status}`);
  return ((await res.json()) as { models: ModelCard[] }).models;
}

/** Whether a fetch now passes through the service worker (which keeps what it fetches). */
const throughWorker = (): boolean => navigator.serviceWorker?.controller != null;

/** onnxruntime-web sessions behind the server's backend interface. */
class WebBackend extends OrtSessions {
  readonly description = 'onnxruntime-web (WebAssembly, this browser)';
  /** Every model file fetched so far. */
  readonly fetched: ModelSpec[] = [];

  constructor() {
    super((t) => new ort.Tensor(t.type, t.data, t.dims));
  }

  /** Starts onnxruntime's WebAssembly now (a failure shows again, with its reason, on the first model). */
  warmUp(): void {
    ort.InferenceSession.create(identityModel(), { executionProviders: ['wasm'] }).then(
      (session) => session.release(),
      () => undefined,
    );
  }

  protected async createSession(model: ModelSpec): Promise<ort.InferenceSession> {
    this.fetched.push(model);
    return ort.InferenceSession.create(await fetchModel(model), {
      executionProviders: ['wasm'],
      graphOptimizationLevel: 'all',
      // An 8-bit graph's int8 weights folded back to float at load, as on the server
      // (src/inference/onnx.ts): otherwise every run dequantizes them (measured here, the 8-bit
      // image model 12 ms a prediction against the float one's 8 ms). No effect on a float graph.
      extra: { session: { disable_quant_qdq: '1' } },
    });
  }
}

export class BrowserModels {
  private readonly backend = new WebBackend();
  private cards: Promise<Map<FormName, ModelCard>> | null = null;
  /** The service worker did not control the page when this began (a first visit): it has not kept what is fetched. */
  private fetchedBeforeWorker = !throughWorker();
  private readonly loading = new Map<FormName, Promise<Predictor<unknown>>>();
  private readonly limits: InputLimits;

  /** `table`: the models this page serves (the table, src/models/index.ts). */
  constructor(
    private readonly settings: EngineSettings,
    private readonly table: readonly ModelDefinition[] = MODELS,
  ) {
    this.limits = { maxTextChars: settings.maxReviewChars };
    this.backend.warmUp();
  }

  private cardsByName(): Promise<Map<FormName, ModelCard>> {
    this.cards ??= fetchModelList()
      .then((models) => new Map(models.map((card) => [card.name, card])))
      .catch((err: unknown) => {
        this.cards = null; // try again on the next call
        throw err;
      });
    return this.cards;
  }

  private definition(name: FormName): ModelDefinition {
    const def = byName(this.table, name);
    if (def === undefined) throw notFound(`No model "${name}".`);
    return def;
  }

  /** The predictor for `name`, loading its model once (concurrent callers share the load). */
  predictor(name: FormName): Promise<Predictor<unknown>> {
    let hit = this.loading.get(name);
    if (hit === undefined) {
      hit = this.load(this.definition(name));
      hit.catch(() => this.loading.delete(name));
      this.loading.set(name, hit);
    }
    return hit;
  }

  private async load(def: ModelDefinition): Promise<Predictor<unknown>> {
    const { name } = def;
    const served = (await this.cardsByName()).get(name);
    if (served === undefined) throw new Error(`the server lists no "${name}" model`);
    const card = cardFor(served, this.settings.precision);
    await this.backend.load([{ name, version: card.version, path: modelUrl(card), sha256: card.artifact.sha256 }]);
    return def.createPredictor(card, this.backend, {
      decodeImage: browserDecoder({ maxPixels: this.settings.maxPixels }),
    });
  }

  /** Every model: what the page needs to keep working offline. */
  async loadAll(): Promise<void> {
    for (const def of this.table) await this.predictor(def.name);
  }

  /**
   * Once the service worker controls the page: fetches again, through it, what was fetched before
   * (the first visit does not wait for the worker), so that it keeps the model list and the model
   * files for offline use. The HTTP cache answers (a revalidation: nothing is downloaded twice).
   */
  async keepOffline(): Promise<void> {
    if (!this.fetchedBeforeWorker || !throughWorker()) return;
    await Promise.all([fetchModelList(), ...this.backend.fetched.map(fetchModel)]);
    this.fetchedBeforeWorker = false; // kept (on failure, the next ready() tries again)
  }

  /**
   * The API's answer for `input`, computed here; rejects with the API's error for bad input. A
   * fields model takes one value, for its first field (a number or a text); an image model a Blob.
   */
  async predict(model: FormName, input: unknown, options: PredictOptions = {}): Promise<Prediction> {
    const def = this.definition(model);
    if (def.input.kind === 'fields') {
      const value = inputFromValue(def, this.limits, input);
      return (await this.predictor(model)).predict(value, options);
    }
    if (!(input instanceof Blob)) throw missingImage();
    if (input.size > this.settings.maxUploadBytes) throw fileTooLarge(this.settings.maxUploadBytes);
    const bytes = new Uint8Array(await input.arrayBuffer());
    return (await this.predictor(model)).predict(bytes, options);
  }
}
