/**
 * The service worker (bundled by src/build/browser.ts to /sw.js; registered by the browser engine,
 * src/browser/engine.ts, once its models are loaded the first time the page runs in browser mode,
 * so that installing it does not slow the first answer; the page then fetches again through it the
 * model list and files it fetched before, which the HTTP cache answers). It keeps what the page
 * needs to load and predict with the server gone:
 *  - the page and its unhashed files (/ and public/'s: /style.css, /batch.js…): network
 *    first, the cached copy when the network fails, so an online visitor always gets the current page;
 *  - content-hashed files (/engine/*: the page script, the engine, the runtime chunk, onnxruntime's WebAssembly):
 *    cache first; they never change under the same name;
 *  - /api/models: network first;
 *  - model files (/models/<name>/<version>/model.onnx): cache first. The page checks each file's
 *    sha256 against /api/models and asks again with `cache: 'reload'` when it differs: that
 *    request goes to the network and replaces the cached copy. Caching a model drops the other
 *    versions of the same model: the cache holds what the page uses, the 8-bit version by
 *    default or the float one with ?precision=float (src/browser/runtime.ts), not both.
 *  /download.json (what the engine switch says the browser engine downloads) is one of the
 *  build's unhashed files: network first.
 * Everything else (form posts, the JSON API's predictions, /metrics) passes through untouched.
 */
export {}; // a module, so `self` below can be typed as the worker's scope
declare const self: ServiceWorkerGlobalScope;
/** Set by src/build/browser.ts: the files to fetch at install, and a digest of them. */
declare const __PRECACHE__: string[];
declare const __BUILD__: string;

const SHELL = `ml-forms-shell-${__BUILD__}`;
const DATA = 'ml-forms-data';
/** The page and its unhashed files as the build lists them (a hand-kept list missed /batch.*), and the model list. */
const NETWORK_FIRST = new Set([...__PRECACHE__.filter((url) => !url.startsWith('/engine/')), '/api/models']);
const MODEL_FILE = /^\/models\/([a-z]+)\/[\w.-]+\/model\.onnx$/;

/**
 * Fills this build's cache. A content-hashed file an older build's cache already holds is copied
 * from there (the 2.3 MB runtime is not downloaded again because the page script changed); the page and
 * its unhashed files are fetched afresh, bypassing the HTTP cache.
 */
async function precache(): Promise<void> {
  const cache = await caches.open(SHELL);
  await Promise.all(
    __PRECACHE__.map(async (url) => {
      const hashed = url.startsWith('/engine/');
      const kept = hashed ? await caches.match(url, { ignoreVary: true }) : undefined;
      if (kept !== undefined) return cache.put(url, kept);
      const response = await fetch(new Request(url, { cache: hashed ? 'default' : 'reload' }));
      if (!response.ok) throw new Error(`${url}: HTTP ${response.status}`);
      return cache.put(url, response);
    }),
  );
}

self.addEventListener('install', (event) => {
  event.waitUntil(precache().then(() => self.skipWaiting()));
});

self.addEventListener('activate', (event) => {
  event.waitUntil(
    caches
      .keys()
      .then((keys) =>
        Promise.all(keys.filter((k) => k.startsWith('ml-forms-shell-') && k !== SHELL).map((k) => caches.delete(k))),
      )
      .then(() => self.clients.claim()),
  );
});

self.addEventListener('message', (event) => {
  if (event.data === 'claim') event.waitUntil(self.clients.claim());
});

/** Which cache holds a URL: the page and its files go with this build, data outlives builds. */
function cacheFor(path: string): string {
  return path === '/api/models' || MODEL_FILE.test(path) ? DATA : SHELL;
}

async function put(cacheName: string, key: string, response: Response): Promise<void> {
  if (!response.ok || response.type !== 'basic') return;
  const cache = await caches.open(cacheName);
  const model = MODEL_FILE.exec(key);
  if (model !== null) {
    // One version per model: a new version (or a corrected file) replaces the old one.
    for (const old of await cache.keys()) {
      const path = new URL(old.url).pathname;
      if (path !== key && MODEL_FILE.exec(path)?.[1] === model[1]) await cache.delete(old);
    }
  }
  await cache.put(key, response);
}

async function networkFirst(request: Request, key: string): Promise<Response> {
  try {
    const response = await fetch(request);
    if (response.ok) await put(cacheFor(key), key, response.clone());
    return response;
  } catch (err) {
    const cached = await caches.match(key, { ignoreSearch: true, ignoreVary: true });
    if (cached !== undefined) return cached;
    throw err;
  }
}

async function cacheFirst(request: Request, key: string): Promise<Response> {
  if (request.cache !== 'reload') {
    const cached = await caches.match(key, { ignoreVary: true });
    if (cached !== undefined) return cached;
  }
  const response = await fetch(request);
  await put(cacheFor(key), key, response.clone());
  return response;
}

self.addEventListener('fetch', (event) => {
  const { request } = event;
  const url = new URL(request.url);
  if (request.method !== 'GET' || url.origin !== self.location.origin) return;
  const path = url.pathname;
  if (NETWORK_FIRST.has(path)) {
    // /?engine=browser and / are one page: the query only tells the script which engine to use.
    event.respondWith(networkFirst(request, path));
  } else if (path.startsWith('/engine/') || MODEL_FILE.test(path)) {
    event.respondWith(cacheFirst(request, path));
  }
});
