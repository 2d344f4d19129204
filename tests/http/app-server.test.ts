/**
 * The HTTP server the app listens with (src/http/serve.ts appServer): requests and responses are
 * born with the Express app's prototypes, so Express's per-request Object.setPrototypeOf changes
 * nothing (bench/README.md "Requests born with Express's prototypes"), and Express works as before.
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import express from 'express';
import { appServer, bornWith } from '../../src/http/serve';

async function listening(server: http.Server): Promise<string> {
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
}

function close(server: http.Server): Promise<void> {
  server.closeAllConnections();
  return new Promise((resolve) => server.close(() => resolve()));
}

describe('appServer', () => {
  const app = express();
  app.get('/hello', (req, res) => {
    res.json({ q: req.query.q, agent: req.get('x-test'), xhr: req.xhr });
  });
  /** What each request and response was born as, seen before Express sees them. */
  const seen: { request: unknown; response: unknown; isMessage: boolean; isResponse: boolean }[] = [];
  let server: http.Server;
  let base: string;

  beforeAll(async () => {
    server = appServer(app);
    server.prependListener('request', (req: http.IncomingMessage, res: http.ServerResponse) => {
      seen.push({
        request: Object.getPrototypeOf(req),
        response: Object.getPrototypeOf(res),
        isMessage: req instanceof http.IncomingMessage,
        isResponse: res instanceof http.ServerResponse,
      });
    });
    base = await listening(server);
  });
  afterAll(() => close(server));

  it("gives requests and responses the app's prototypes from birth, still Node's own kinds", async () => {
    seen.length = 0;
    await fetch(`${base}/hello`);
    expect(seen).toEqual([{ request: app.request, response: app.response, isMessage: true, isResponse: true }]);
  });

  it('answers through Express as before: its request helpers, res.json, the default 404', async () => {
    const ok = await fetch(`${base}/hello?q=cells`, { headers: { 'x-test': 'yes' } });
    expect(ok.status).toBe(200);
    expect(ok.headers.get('content-type')).toMatch(/^application\/json/);
    expect(await ok.json()).toEqual({ q: 'cells', agent: 'yes', xhr: false });
    const missing = await fetch(`${base}/nothing`);
    expect(missing.status).toBe(404);
  });

  it('serves many requests on one kept-alive connection (each gets a fresh, initialised object)', async () => {
    const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
    try {
      const bodies = await Promise.all(
        Array.from(
          { length: 20 },
          (_, i) =>
            new Promise<string>((resolve, reject) => {
              http
                .get(`${base}/hello?q=${i}`, { agent }, (res) => {
                  let body = '';
                  res.setEncoding('utf8');
                  res.on('data', (c: string) => (body += c));
                  res.on('end', () => resolve(body));
                })
                .on('error', reject);
            }),
        ),
      );
      expect(bodies.map((b) => (JSON.parse(b) as { q: string }).q)).toEqual(
        Array.from({ length: 20 }, (_, i) => String(i)),
      );
    } finally {
      agent.destroy();
    }
  });

  it("a server made with Node's defaults does not (what the test above would see without appServer)", async () => {
    const plain = http.createServer(app);
    let born: unknown = null;
    plain.prependListener('request', (req: http.IncomingMessage) => (born = Object.getPrototypeOf(req)));
    const url = await listening(plain);
    try {
      await fetch(`${url}/hello`);
      expect(born).toBe(http.IncomingMessage.prototype);
    } finally {
      await close(plain);
    }
  });
});

describe('bornWith', () => {
  it("builds the base's object with the given prototype", () => {
    function Point(this: { x: number }, x: number): void {
      this.x = x;
    }
    const proto = {
      double(this: { x: number }): number {
        return this.x * 2;
      },
    };
    const Born = bornWith(Point as unknown as new (x: number) => object, proto) as unknown as new (x: number) => {
      x: number;
      double(): number;
    };
    const p = new Born(21);
    expect(Object.getPrototypeOf(p)).toBe(proto);
    expect(p.x).toBe(21);
    expect(p.double()).toBe(42);
  });

  it('declines a class (it cannot be called on an object): null, and the server uses Node’s own', () => {
    class Message {}
    expect(bornWith(Message, {})).toBeNull();
  });
});
