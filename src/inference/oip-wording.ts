/**
 * What the model tier's failures mean for the person waiting (the RemoteBackend's words): every
 * failure reaches people as "unavailable" (503 with Retry-After) and plain words, never as a 500
 * or a hang. The codes are in src/errors.ts; the HTTP layer turns them into statuses.
 */
import { AppError, inputTooLarge, unavailable } from '../errors';
import { type Reply, ResponseTooLarge, TimedOut, header } from './oip-transport';

export const notAnswering = (): AppError =>
  unavailable('model_server_unavailable', 'Predictions are unavailable right now: the model server is not answering. Try again in a few seconds.', 2);
export const timedOut = (ms: number): AppError =>
  unavailable('model_server_timeout', `The model server did not answer within ${Math.round(ms / 100) / 10} s. Try again in a moment.`, 2);
export const modelServerError = (): AppError =>
  unavailable('model_server_error', 'The model server could not make this prediction. Try again in a moment.', 2);
export const unusable = (): AppError =>
  unavailable('model_server_changed', 'Predictions are unavailable right now: the model server runs a model this app cannot use. Try again later.', 30);

/**
 * A call that got no usable answer (after its retries, or at once with the circuit open): timed
 * out, an answer too large to read, or the model tier not answering (connection failed, or
 * the circuit open).
 */
export function callFailed(err: unknown, timeoutMs: number): AppError {
  if (err instanceof TimedOut) return timedOut(timeoutMs);
  if (err instanceof ResponseTooLarge) return modelServerError();
  return notAnswering();
}

/**
 * A non-200 answer to an inference: busy (503, with the model tier's Retry-After), the input too
 * large for it (413), or a failure of its own (anything else: logged by the caller).
 */
export function inferenceRefused(reply: Reply): AppError {
  if (reply.status === 503) return unavailable('overloaded', 'The model server is busy with other predictions. Try again in a moment.', retryAfter(reply) ?? 1);
  if (reply.status === 413) return inputTooLarge('too_large_for_model_server', 'This input is too large for the model server. Try a smaller one.');
  return modelServerError();
}

function retryAfter(reply: Reply): number | undefined {
  const v = Number(header(reply, 'retry-after'));
  return Number.isFinite(v) && v >= 0 ? Math.min(v, 60) : undefined;
}
