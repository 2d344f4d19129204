/**
 * Floors for the form-post benchmark: what answering the number form costs before any of our
 * code runs. `npm run bench` starts this file as a server in each mode and loads it exactly like
 * the app (same wrk command, same body, same node flags):
 *
 *   node --import tsx bench/floor.ts <port> <mode> <bytes>
 *
 *   http                node:http alone: read the body, answer `bytes` of HTML
 *   express             Express 5: the same, through a POST route
 *   express-urlencoded  Express 5 + express.urlencoded(): the body parsed into req.body as the app does
 *
 * The answer is a fixed HTML string as long as the app's page with a prediction, so the socket
 * writes match; nothing is rendered, validated, logged, measured or inferred.
 */
import http from 'node:http';
import express from 'express';

const [portArg = '0', mode = 'http', bytesArg = '12000'] = process.argv.slice(2);
const page = `<!doctype html><html><body>${'x'.repeat(Math.max(0, Number(bytesArg) - 41))}</body></html>`;

function listen(server: http.Server): void {
  server.listen(Number(portArg), '127.0.0.1', () => {
    const { port } = server.address() as { port: number };
    console.log(`floor ${mode} listening on ${port}`);
  });
  process.on('SIGTERM', () => server.close(() => process.exit(0)));
}

if (mode === 'http') {
  listen(
    http.createServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => {
        Buffer.concat(chunks).toString('utf8');
        res.writeHead(200, { 'content-type': 'text/html; charset=utf-8', 'content-length': Buffer.byteLength(page) });
        res.end(page);
      });
    }),
  );
} else if (mode === 'express' || mode === 'express-urlencoded') {
  const app = express();
  app.disable('x-powered-by');
  app.disable('etag');
  if (mode === 'express-urlencoded') app.use(express.urlencoded({ extended: false, limit: '512kb' }));
  app.get('/', (_req, res) => {
    res.type('html').send(page);
  });
  app.post('/predict/regression', (_req, res) => {
    res.type('html').send(page);
  });
  listen(http.createServer(app));
} else {
  console.error(`unknown mode ${mode}: http | express | express-urlencoded`);
  process.exit(2);
}
