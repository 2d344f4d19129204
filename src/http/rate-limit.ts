/**
 * A per-client rate limit for the routes that cost CPU: the predictions (page forms, JSON API, the
 * batch post) and, when it exists, feedback. express-rate-limit counts requests per client address
 * in a fixed one-minute window in memory; over the limit, the request goes no further (its body is
 * not even read) and the app's one error handler answers 429 `rate_limited` with Retry-After: JSON
 * for programs, the page with the message beside the form for browsers.
 *
 * Which client: `req.ip`, i.e. Express's reading of X-Forwarded-For under app.set('trust proxy', 1)
 * (app.ts). Heroku's router appends the address that connected to it as the LAST entry; anything
 * before it came from the client, who can write whatever it likes there. Trusting exactly one hop
 * takes that last entry, the one the router wrote; trusting more (or `true`, the left-most) would
 * let any client pick a fresh address per request, or pose as 127.0.0.1 to skip the limit. Served
 * without a proxy in front, the same setting would let a client choose its address, so deploy it
 * behind one (as on Heroku). IPv6 clients are counted per /56, the library's default: one host
 * holds a whole prefix.
 *
 * Loopback clients (127.0.0.0/8, ::1, ::ffff:127.x) are not limited unless RATE_LIMIT_LOOPBACK=1:
 * benchmarks and health checks run there. The decision uses that same req.ip, never the socket's
 * address: behind the router every connection comes from the router, and what counts is the
 * address it wrote, which is never loopback for a client on the internet.
 *
 * Several HTTP processes (WEB_CONCURRENCY > 1, node:cluster) each keep their own counts in memory:
 * there is no shared store on a dyno. Each process allows its share, RATE_LIMIT_PER_MINUTE divided
 * by the number of processes (rounded up). The cluster hands new connections to the processes in
 * turn, so a client's requests spread over them and it gets about the configured number in all;
 * a client that keeps one connection alive reaches one process and gets only that share, stricter
 * than configured, never looser. A shared store (Redis) would make it exact across dynos too.
 */
import type { RequestHandler } from 'express';
import { rateLimit } from 'express-rate-limit';
import { type Config, isLoopback } from '../config';
import { AppError } from '../errors';

const WINDOW_MS = 60_000;

export type RateLimitConfig = Pick<Config, 'rateLimitPerMinute' | 'rateLimitLoopback' | 'httpProcesses'>;

/** What a limiter counts: its words in the 429's message, and its limit when not RATE_LIMIT_PER_MINUTE. */
export interface Budget {
  what: string;
  perMinute?: number;
}

const PREDICTIONS: Budget = { what: 'predictions' };

/** The requests one process lets a client make per minute: its share of the configured limit. */
export const perProcessLimit = (config: RateLimitConfig): number => Math.ceil(config.rateLimitPerMinute / Math.max(1, config.httpProcesses));

/**
 * The limiter, as middleware to put before a route's own (its body parsers included): [] when
 * RATE_LIMIT_PER_MINUTE is 0. One limiter is one budget: give every route it guards the same one,
 * so a client's page posts, API calls and batches count together. A new route that should be
 * limited (POST /api/feedback) spreads it before its handlers and names `rate_limited` among its
 * errors (see `rateLimited` in src/http/routes.ts).
 */
export function clientRateLimit(config: RateLimitConfig, budget: Budget = PREDICTIONS): RequestHandler[] {
  const perMinute = budget.perMinute ?? config.rateLimitPerMinute;
  if (perMinute === 0) return [];
  const limit = perProcessLimit({ ...config, rateLimitPerMinute: perMinute });
  return [
    rateLimit({
      windowMs: WINDOW_MS,
      limit,
      // RateLimit and RateLimit-Policy on every answer, so a careful client can pace itself; Retry-After on the 429.
      standardHeaders: 'draft-7',
      legacyHeaders: false,
      // A request whose socket is gone has no address (and nobody to answer).
      skip: (req) => req.ip === undefined || (!config.rateLimitLoopback && isLoopback(req.ip)),
      handler: (req, _res, next) => {
        const reset = (req as { rateLimit?: { resetTime?: Date } }).rateLimit?.resetTime;
        const seconds = reset === undefined ? WINDOW_MS / 1000 : Math.max(1, Math.ceil((reset.getTime() - Date.now()) / 1000));
        next(
          new AppError(
            'rate_limited',
            `Too many ${budget.what} from your address (at most ${perMinute} a minute). Try again in ${seconds} s.`,
            { retryAfter: seconds },
          ),
        );
      },
    }),
  ];
}
