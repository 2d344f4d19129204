/**
 * The engine choice: where the models run, on the server (the default, as without JavaScript) or in
 * this browser (/?engine=browser). Bundled by src/build/browser.ts to /engine/engine-<hash>.js and
 * loaded by views/index.ejs as a module; without JavaScript none of this exists and the page is the
 * plain form page.
 *
 * It adds the choice to the page header and `window.mlForms` for scripts, tests and the page script (page.ts):
 *   mlForms.predict(model, input, { engine, explain }) → the API's JSON answer (with `explanation`
 *     when `explain` is true, as the API's ?explain=1 gives), or rejects with the API's
 *     error (`code`, `message`, `status`) for bad input; `model` is the name of one of the page's
 *     forms (form.model-form[data-model]); `input` is the value of a fields model's first field (a
 *     number or string for a number field, a string for a text field) or an image Blob/File for an
 *     image model.
 *   mlForms.engine          'server' | 'browser', the page's current choice
 *   mlForms.precision       '8-bit' | 'float': the model files the browser engine downloads, the
 *                           8-bit versions by default (a quarter of the size, the same labels on
 *                           >= 99 % of the validation inputs), the float files the server runs
 *                           with /?engine=browser&precision=float (src/browser/settings.ts)
 *   mlForms.setEngine(e)    change it (the URL follows, so a reload keeps it)
 *   mlForms.ready()         resolves once the browser engine has every model and, where the
 *                           browser allows, the service worker keeps them for offline use
 * In browser mode nothing is sent anywhere: the runtime and the models are downloaded once (and
 * checked against the sha256 in their cards), then every prediction is computed on this device.
 * The switch says beforehand how much that download is (src/browser/download.ts).
 */
import type { FormName } from '../errors';
import type { Prediction } from '../predictors/types';
import type { BrowserModels } from './runtime';
import { downloadText, fetchDownloadSizes } from './download';
import { PredictError, formOf, predictOnServer } from './server-api';
import { type EngineSettings, type Precision, readSettings } from './settings';

export type Engine = 'server' | 'browser';

/** What mlForms.predict takes besides the input: where it runs, and whether the answer says why (`explanation`). */
export interface PredictCall {
  engine?: Engine;
  explain?: boolean;
}

export interface MlForms {
  readonly engine: Engine;
  readonly precision: Precision;
  setEngine(engine: Engine): void;
  predict(model: FormName, input: unknown, options?: PredictCall): Promise<Prediction>;
  ready(): Promise<void>;
}

declare global {
  interface Window {
    mlForms?: MlForms;
  }
}

/**
 * The JSON API's HTTP status per error kind: src/http/status.ts, written in by the build
 * (src/build/browser.ts) so that this module imports nothing of the HTTP layer.
 */
declare const __ERROR_STATUS__: Readonly<Record<string, number>>;

const STATUS = {
  server: 'Your inputs are sent to the server, which runs the models and answers.',
  loading: 'Downloading the runtime and the models, once…',
  ready: 'The models run in this browser: nothing you enter leaves this device.',
  offline: 'The models run in this browser: nothing you enter leaves this device, and this page works offline.',
  unsupported: 'This browser cannot run the models itself: that needs WebAssembly and a secure (https://) page.',
  failed: 'The models could not be loaded in this browser',
} as const;

function browserSupported(): boolean {
  return typeof WebAssembly === 'object' && window.isSecureContext && crypto.subtle !== undefined;
}

/** The content-hashed URL of onnxruntime's WebAssembly, set by src/build/browser.ts. */
declare const __ORT_WASM_URL__: string;

/**
 * Starts the 2.3 MB WebAssembly's download now, alongside the runtime chunk's, not once the runtime
 * asks for it; onnxruntime's own fetch (same URL, mode and credentials) then gets this one.
 */
function preloadWasm(): void {
  const link = document.createElement('link');
  link.rel = 'preload';
  link.as = 'fetch';
  link.crossOrigin = 'anonymous';
  link.href = __ORT_WASM_URL__;
  document.head.append(link);
}

/**
 * Registers the service worker (it keeps page, runtime and models for offline use) and resolves,
 * true, once it controls this page, so that everything fetched afterwards passes through it.
 */
async function offlineReady(): Promise<boolean> {
  if (!('serviceWorker' in navigator)) return false;
  const sw = navigator.serviceWorker;
  let registration: ServiceWorkerRegistration | undefined;
  try {
    registration = await sw.register('/sw.js', { scope: '/' });
  } catch {
    return false; // not allowed here: everything works, except offline
  }
  if (registration === undefined) return false; // what a browser with workers switched off may answer
  // Not `sw.ready`: it never settles when the worker fails to install (or is blocked).
  const worker = registration.installing ?? registration.waiting ?? registration.active;
  if (worker === null) return false;
  await new Promise<void>((resolve) => {
    const settled = (): boolean => worker.state === 'activated' || worker.state === 'redundant';
    if (settled()) return resolve();
    worker.addEventListener('statechange', () => {
      if (settled()) resolve();
    });
  });
  if (worker.state === 'redundant' && registration.active === null) return false;
  if (sw.controller !== null) return true;
  return new Promise((resolve) => {
    const timer = setTimeout(() => resolve(sw.controller !== null), 10_000);
    sw.addEventListener(
      'controllerchange',
      () => {
        clearTimeout(timer);
        resolve(true);
      },
      { once: true },
    );
    // A new worker claims open pages as it activates; one that was already active (this page was
    // force-reloaded, say) is asked to.
    registration.active?.postMessage('claim');
  });
}

class Page implements MlForms {
  private current: Engine;
  private models: Promise<BrowserModels> | null = null;
  private loaded: Promise<string> | null = null;
  /** The service worker's registration: true once it controls the page. */
  private offline: Promise<boolean> | null = null;
  private readonly status: HTMLElement;
  private readonly radios: Record<Engine, HTMLInputElement>;

  constructor(private readonly settings: EngineSettings) {
    const asked = new URLSearchParams(location.search).get('engine') === 'browser';
    this.current = asked && browserSupported() ? 'browser' : 'server';
    const choice = this.drawChoice();
    this.status = choice.status;
    this.radios = choice.radios;
    if (browserSupported()) {
      void fetchDownloadSizes().then((sizes) => {
        if (sizes === null) return;
        choice.download.textContent = downloadText(sizes, settings.precision);
        choice.download.hidden = false;
      });
    }
    if (!browserSupported()) {
      this.radios.browser.disabled = true;
      this.say(STATUS.unsupported);
    } else if (this.current === 'browser') {
      void this.ready().catch(() => undefined);
    } else {
      this.say(STATUS.server);
    }
  }

  get engine(): Engine {
    return this.current;
  }

  get precision(): Precision {
    return this.settings.precision;
  }

  setEngine(engine: Engine): void {
    if (engine === 'browser' && !browserSupported()) throw new Error(STATUS.unsupported);
    this.current = engine;
    this.radios[engine].checked = true;
    const url = new URL(location.href);
    if (engine === 'browser') url.searchParams.set('engine', 'browser');
    else url.searchParams.delete('engine');
    history.replaceState(history.state, '', url);
    if (engine === 'browser') void this.ready().catch(() => undefined);
    else this.say(STATUS.server);
  }

  async predict(model: FormName, input: unknown, options: PredictCall = {}): Promise<Prediction> {
    const form = formOf(model);
    if (form === null)
      throw new PredictError(__ERROR_STATUS__.not_found ?? 404, 'not_found', `No model "${String(model)}".`);
    const engine = options.engine ?? this.current;
    const explain = options.explain === true;
    if (engine === 'server') return predictOnServer(model, form, input, { explain });
    try {
      return await (await this.browserModels()).predict(model, input, { explain });
    } catch (err) {
      // The shared checks' AppErrors carry the API's code, kind and message; the status is the one
      // the API answers for that kind. (Not `instanceof AppError`: that would pull the error
      // catalogue into this module, which every page with JavaScript loads.)
      if (
        err instanceof Error &&
        'kind' in err &&
        typeof err.kind === 'string' &&
        'code' in err &&
        typeof err.code === 'string'
      ) {
        throw new PredictError(__ERROR_STATUS__[err.kind] ?? 500, err.code, err.message);
      }
      throw new PredictError(
        503,
        'engine_unavailable',
        `${STATUS.failed}: ${err instanceof Error ? err.message : String(err)}.`,
      );
    }
  }

  /**
   * Fetches the runtime and every model once, then, once the service worker controls the page,
   * has it keep what was fetched before it did (the first visit), for offline use.
   */
  ready(): Promise<void> {
    if (this.loaded === null) {
      this.say(STATUS.loading);
      const loading = this.browserModels().then(async (models) => {
        await models.loadAll();
        // Only now: installing it decodes the 14 MB WebAssembly again and writes it to its cache,
        // work that would slow the first answer.
        this.offline ??= offlineReady();
        const offline = await this.offline;
        if (offline) await models.keepOffline();
        return offline ? STATUS.offline : STATUS.ready;
      });
      loading.catch(() => {
        if (this.loaded === loading) this.loaded = null; // the next call tries again
      });
      this.loaded = loading;
    }
    return this.loaded.then(
      (text) => {
        if (this.current === 'browser') this.say(text);
      },
      (err: unknown) => {
        const why = err instanceof Error ? err.message : String(err);
        if (this.current === 'browser')
          this.say(`${STATUS.failed}: ${why}. Choose “On the server”, or reload to try again.`);
        throw err;
      },
    );
  }

  /**
   * The runtime chunk and its WebAssembly, fetched at once: nothing on the way to the first answer
   * waits for the service worker (ready() registers it once the models are loaded; it precaches
   * the runtime, and the page hands it the models it fetched before it took control).
   */
  private browserModels(): Promise<BrowserModels> {
    if (!browserSupported()) return Promise.reject(new PredictError(503, 'engine_unavailable', STATUS.unsupported));
    if (this.models === null) {
      preloadWasm();
      const models = import('./runtime').then(({ BrowserModels: Models }) => new Models(this.settings));
      models.catch(() => {
        if (this.models === models) this.models = null;
      });
      this.models = models;
    }
    return this.models;
  }

  private say(text: string): void {
    this.status.textContent = text;
  }

  private drawChoice(): { status: HTMLElement; download: HTMLElement; radios: Record<Engine, HTMLInputElement> } {
    const fieldset = document.createElement('fieldset');
    fieldset.className = 'engine-choice';
    const legend = document.createElement('legend');
    legend.textContent = 'Where the models run';
    const options = document.createElement('div');
    options.className = 'engine-options';
    const radio = (value: Engine, text: string): HTMLInputElement => {
      const label = document.createElement('label');
      const input = document.createElement('input');
      input.type = 'radio';
      input.name = 'engine';
      input.value = value;
      input.checked = value === this.current;
      input.addEventListener('change', () => {
        if (input.checked) this.setEngine(value);
      });
      label.append(input, ` ${text}`);
      options.append(label);
      return input;
    };
    const radios = { server: radio('server', 'On the server'), browser: radio('browser', 'In this browser') };
    const status = document.createElement('p');
    status.className = 'engine-status';
    status.id = 'engine-status';
    status.setAttribute('role', 'status');
    const download = document.createElement('p');
    download.className = 'engine-status';
    download.id = 'engine-download';
    download.hidden = true; // until the sizes are known
    radios.browser.setAttribute('aria-describedby', download.id);
    fieldset.append(legend, options, status, download);
    const header = document.querySelector('.site-header') ?? document.body;
    header.append(fieldset);
    return { status, download, radios };
  }
}

window.mlForms = new Page(readSettings(document));
