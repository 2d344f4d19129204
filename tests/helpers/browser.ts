/**
 * What the browser tests (tests/e2e/) share: Debian's Chromium driven by playwright-core (never a
 * downloaded browser), and the app on a real port with the real models.
 */
import fs from 'node:fs';
import http from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import { type Browser, type BrowserContext, chromium, type Page } from 'playwright-core';
import { createApp } from '../../app';
import { loadConfig } from '../../src/config';
import { cspHeader } from '../../src/http/security';
import type { InferenceBackend } from '../../src/inference/backend';
import { OnnxBackend } from '../../src/inference/onnx';
import { type MonitoringParts, startMonitoring } from '../../src/monitoring/setup';
import { Registry } from '../../src/predictors/registry';

const AXE_SOURCE = fs.readFileSync(require.resolve('axe-core/axe.min.js'), 'utf8');

/** axe-core, evaluated through the DevTools protocol (a <script> tag would be blocked by the CSP). */
export async function seriousViolations(page: Page): Promise<string[]> {
  await page.evaluate(AXE_SOURCE);
  const violations = await page.evaluate<
    Array<{ id: string; impact: string; help: string; nodes: Array<{ target: string[] }> }>
  >(
    'axe.run(document, { resultTypes: ["violations"] }).then(r => r.violations.map(v => ({ id: v.id, impact: v.impact, help: v.help, nodes: v.nodes.map(n => ({ target: n.target })) })))',
  );
  return violations
    .filter((v) => v.impact === 'serious' || v.impact === 'critical')
    .map((v) => `${v.impact} ${v.id}: ${v.help} at ${v.nodes.map((n) => n.target.join(' ')).join(', ')}`);
}

export function launchChromium(): Promise<Browser> {
  return chromium.launch({
    executablePath: process.env.CHROMIUM ?? '/usr/bin/chromium',
    args: [
      '--headless',
      '--no-sandbox',
      '--disable-gpu',
      '--disable-quic',
      '--no-first-run',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
    ],
  });
}

export interface TestServer {
  base: string;
  port: number;
  registry: Registry;
  /** The prediction log, feedback and /monitor, when asked for (`monitoring: true`); null otherwise. */
  monitoring: MonitoringParts | null;
  /** Bytes written to clients so far (headers and bodies, as sent: compressed where it was). */
  bytesSent(): number;
  /** Closes the listener and every open connection, as a server that went away. */
  stop(): Promise<void>;
}

/** The app with the real models (or `backend`) on 127.0.0.1 (`port` 0: any free port). */
export async function startTestServer(
  options: {
    port?: number;
    env?: Record<string, string>;
    /** Answers some requests itself (a benchmark's own page) and returns true; the app answers the rest. */
    intercept?: (req: http.IncomingMessage, res: http.ServerResponse) => boolean;
    /** The models' backend: the real models unless a test gives its own (one with a chosen answer, say). */
    backend?: InferenceBackend;
    /**
     * The prediction log, feedback and /monitor (issue 26) as server.ts starts them, on the
     * database `env`'s DATABASE_URL names (give a fresh sqlite:/// file: unset means the
     * project's data/ file). Off by default.
     */
    monitoring?: boolean;
  } = {},
): Promise<TestServer> {
  // A test's log never lands in the project's own data/ml-forms.sqlite.
  if (options.monitoring === true && (options.env?.DATABASE_URL ?? '') === '') throw new Error('startTestServer: monitoring needs env.DATABASE_URL (a fresh sqlite:/// file)');
  const config = loadConfig({ NODE_ENV: 'test', ...options.env });
  const registry = new Registry(options.backend ?? new OnnxBackend(), config.modelsDir, { maxPixels: config.maxImagePixels });
  await registry.load();
  const silent = { info: () => undefined, warn: () => undefined, error: () => undefined, fatal: () => undefined };
  const monitoring = options.monitoring === true ? await startMonitoring(config, { registry, log: silent }) : null;
  await monitoring?.modelsLoaded();
  const app = createApp({ config, registry, monitoring });
  const intercept = options.intercept;
  const server = http.createServer(intercept === undefined ? app : (req, res) => intercept(req, res) || app(req, res));
  await new Promise<void>((resolve) => server.listen(options.port ?? 0, '127.0.0.1', resolve));
  const port = (server.address() as AddressInfo).port;
  const open = new Set<Socket>();
  let closedBytes = 0;
  server.on('connection', (socket) => {
    open.add(socket);
    socket.on('close', () => {
      open.delete(socket);
      closedBytes += socket.bytesWritten;
    });
  });
  return {
    base: `http://127.0.0.1:${port}`,
    port,
    registry,
    monitoring,
    bytesSent: () => [...open].reduce((sum, s) => sum + s.bytesWritten, closedBytes),
    stop: async () => {
      const closed = new Promise<void>((resolve) => server.close(() => resolve()));
      server.closeAllConnections();
      await closed;
      await monitoring?.close();
      await registry.close();
    },
  };
}

/** A page in a context of its own, and the console errors and uncaught exceptions seen so far. */
export interface Tab {
  page: Page;
  context: BrowserContext;
  errors: string[];
}

const CSP = cspHeader();

/**
 * `url` in a new context, JavaScript on or off. The app's own CSP (helmet) may or may not be on; the
 * production policy is added to every document, so a violation shows up as a console error either
 * way. Chromium does not hand an intercepted request's uploaded files to the interceptor, so a
 * multipart post is let through untouched (its page is the same template as the others).
 */
export async function openPage(
  browser: Browser,
  url: string,
  options: {
    js: boolean;
    viewport: { width: number; height: number };
    /** HTTP Basic credentials the context answers a challenge with (/monitor's ADMIN_TOKEN). */
    httpCredentials?: { username: string; password: string };
  },
): Promise<Tab> {
  const context = await browser.newContext({
    javaScriptEnabled: options.js,
    viewport: options.viewport,
    ...(options.httpCredentials === undefined ? {} : { httpCredentials: options.httpCredentials }),
  });
  await context.route('**/*', async (route) => {
    const request = route.request();
    if (request.resourceType() !== 'document' || /multipart/.test(request.headers()['content-type'] ?? '')) return route.continue();
    const response = await route.fetch({ maxRedirects: 0 });
    return route.fulfill({ response, headers: { ...response.headers(), 'content-security-policy': CSP } });
  });
  const page = await context.newPage();
  const errors: string[] = [];
  page.on('console', (msg) => {
    if (msg.type() === 'error') errors.push(msg.text());
  });
  page.on('pageerror', (err) => errors.push(String(err)));
  await page.goto(url);
  return { page, context, errors };
}

/**
 * axe needs script to run, so a JavaScript-off page is checked as a copy: its HTML, without the
 * enhancement script, loaded into a JavaScript-on page at the same origin (`base`, so the CSS applies).
 */
export async function seriousViolationsNoJs(browser: Browser, base: string, page: Page): Promise<string[]> {
  const html = (await page.content()).replace(/<script\b[^>]*><\/script>/g, '');
  const context = await browser.newContext({ viewport: page.viewportSize() ?? { width: 1280, height: 900 } });
  const copy = await context.newPage();
  await copy.goto(`${base}/healthz`);
  await copy.setContent(html, { waitUntil: 'load' });
  const found = await seriousViolations(copy);
  await context.close();
  return found;
}
