/**
 * One HTTP exchange with a model tier (INFERENCE_URL), nothing more: keep-alive connections (one
 * pool), a timeout on every call, a bearer token, and a cap on the size of an answer. Retries and
 * the circuit breaker wrap this transport (./retry, ./breaker); what a failure means for the person
 * waiting is the backend's business (./remote, ./oip-wording).
 *
 * It rejects with an error that says what happened, so a wrapper can decide what is worth a retry:
 * ConnectionFailed (the model tier did not take the call: refused, reset, dropped mid-answer),
 * TimedOut (it may still be running there) or ResponseTooLarge (not read further).
 */
import http from 'node:http';
import https from 'node:https';

export interface TransportOptions {
  /** The model tier, e.g. http://127.0.0.1:8000 (a path prefix is kept). */
  url: string;
  /** Sent as `Authorization: Bearer <token>`. */
  token?: string;
  /** Connections kept to the model tier. Default 64. */
  maxSockets?: number;
  /** Largest answer read, in bytes. Default MAX_RESPONSE_BYTES. */
  maxResponseBytes?: number;
}

export interface Reply {
  status: number;
  headers: http.IncomingHttpHeaders;
  body: Buffer;
}

export interface Payload {
  body: Buffer;
  headers: http.OutgoingHttpHeaders;
}

/** The model tier could not be reached, or dropped the connection (worth a retry). */
export class ConnectionFailed extends Error {}
/** No answer within the call's timeout (not worth a retry: the call may still be running there). */
export class TimedOut extends Error {}
/** The model tier's answer is larger than maxResponseBytes: not read further, not retried. */
export class ResponseTooLarge extends Error {}

/**
 * Default largest answer: an inference answer here is a few floats per image (32 per batch at
 * most), a card or metadata a few KB; 4 MB is far above any of them. A model tier gone wrong (or
 * a proxy's page in its place) cannot make this process buffer without bound.
 */
export const MAX_RESPONSE_BYTES = 4 * 1024 * 1024;

export class OipTransport {
  private readonly base: URL;
  private readonly agent: http.Agent;
  private readonly protocol: typeof http | typeof https;

  constructor(private readonly options: TransportOptions) {
    this.base = new URL(options.url.endsWith('/') ? options.url : `${options.url}/`);
    this.protocol = this.base.protocol === 'https:' ? https : http;
    const AgentClass = this.base.protocol === 'https:' ? https.Agent : http.Agent;
    this.agent = new AgentClass({ keepAlive: true, maxSockets: options.maxSockets ?? 64, scheduling: 'lifo' });
  }

  /** One HTTP exchange, no retry. Rejects with ConnectionFailed, TimedOut or ResponseTooLarge. */
  request(method: string, path: string, payload: Payload | undefined, timeoutMs: number): Promise<Reply> {
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
      const req = this.protocol.request(new URL(path, this.base), { method, headers, agent: this.agent }, (res) => {
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

  /** Drops the kept connections. */
  close(): void {
    this.agent.destroy();
  }
}

/** A header's (first) value. */
export function header(reply: Reply, name: string): string | undefined {
  const v = reply.headers[name];
  return Array.isArray(v) ? v[0] : v;
}

/** The model tier's {"error": "…"} (Triton, KServe), or the start of whatever it sent. */
export function errorText(reply: Reply): string {
  const text = reply.body.toString('utf8', 0, Math.min(reply.body.length, 500));
  try {
    const e = (JSON.parse(text) as { error?: unknown }).error;
    if (typeof e === 'string') return e;
  } catch {
    // not JSON (a proxy's page)
  }
  return text;
}
