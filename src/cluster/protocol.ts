/**
 * Messages between the model host (the cluster's primary process, which holds the models) and the
 * HTTP processes (its workers). They travel over Node's IPC channel with `serialization:
 * 'advanced'` (the structured clone algorithm), so typed arrays arrive as typed arrays.
 * Every message carries `mlf` so it can't be confused with prom-client's or Node's own.
 */
import { AppError, isErrorCode } from '../errors';
import type { NamedTensors } from '../inference/backend';
import type { MetricsText } from '../metrics';

/** HTTP process → model host. */
export type WorkerRequest =
  | { mlf: 'hello' }
  | { mlf: 'infer'; id: number; model: string; inputs: NamedTensors; outputs?: readonly string[] }
  | { mlf: 'metrics'; id: number };

/** Model host → HTTP process. */
export type HostMessage =
  | { mlf: 'ready'; description: string }
  | { mlf: 'load-failed'; message: string }
  | { mlf: 'result'; id: number; outputs: NamedTensors }
  | { mlf: 'error'; id: number; error: WireError }
  | ({ mlf: 'metrics'; id: number } & MetricsText)
  /** Model host → HTTP process: your metrics, as prom-client JSON, for the cluster-wide /metrics. */
  | { mlf: 'collect'; id: number };

/** HTTP process → model host: the answer to `collect`. */
export interface CollectReply {
  mlf: 'collected';
  id: number;
  metrics: unknown[];
}

/** An error as it crosses the process boundary. AppErrors keep their code (hence kind) and Retry-After. */
export interface WireError {
  message: string;
  code?: string;
  retryAfter?: number;
}

export function toWire(err: unknown): WireError {
  if (err instanceof AppError) return { message: err.message, code: err.code, retryAfter: err.retryAfter };
  return { message: err instanceof Error ? err.message : String(err) };
}

export function fromWire(wire: WireError): Error {
  if (isErrorCode(wire.code)) return new AppError(wire.code, wire.message, { retryAfter: wire.retryAfter });
  return new Error(wire.message);
}

export function isMessage<T extends { mlf: string }>(msg: unknown): msg is T {
  return typeof msg === 'object' && msg !== null && typeof (msg as { mlf?: unknown }).mlf === 'string';
}
