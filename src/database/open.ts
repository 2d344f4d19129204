/**
 * DATABASE_URL → a Store. Unset: an SQLite file in the project's data/ folder, nothing to set up;
 * `sqlite:///absolute/path.sqlite`: that file; `postgres://…` or `postgresql://…` (what Heroku
 * Postgres sets): Postgres. Each driver is imported only when its URL is used, so a process loads
 * one native module, not both. Nothing is contacted here: the stores connect on their first call,
 * so the app starts (and keeps answering predictions) while the database is down.
 */
import path from 'node:path';
import type { PoolConfig } from 'pg';
import type { Logger } from '../log';
import type { Store } from './types';

export const DEFAULT_SQLITE_FILE = path.join('data', 'ml-forms.sqlite');

export const ACCEPTED_FORMS =
  'unset (SQLite at data/ml-forms.sqlite), sqlite:///absolute/path.sqlite, sqlite::memory:, postgres://… or postgresql://…';

/** URL parameters about TLS: removed before pg sees the URL, which would let them override `ssl`. */
const SSL_PARAMS = ['ssl', 'sslmode', 'sslcert', 'sslkey', 'sslrootcert', 'sslpassword', 'uselibpqcompat'];

export type Target =
  | { kind: 'sqlite'; file: string }
  | { kind: 'postgres'; connectionString: string; ssl: PoolConfig['ssl']; description: string };

function isPostgres(url: string): boolean {
  return /^postgres(ql)?:\/\//i.test(url);
}

/** Loopback needs no TLS (a local or CI server has no certificate); an empty host is a Unix socket. */
function isLoopback(host: string): boolean {
  const h = host.replace(/^\[|\]$/g, '').toLowerCase();
  return h === '' || h === 'localhost' || h === '::1' || /^127\./.test(h);
}

/**
 * TLS for a Postgres URL. Heroku Postgres requires TLS with a certificate its clients cannot verify
 * (no CA to pin), hence rejectUnauthorized: false; sslmode=verify-ca/verify-full asks for a check,
 * sslmode=disable (or a loopback host) for none.
 */
function sslFor(url: URL): PoolConfig['ssl'] {
  const mode = url.searchParams.get('sslmode')?.toLowerCase();
  if (mode === 'disable') return false;
  if (mode === 'verify-ca' || mode === 'verify-full') return { rejectUnauthorized: true };
  if (isLoopback(url.hostname) && mode !== 'require') return false;
  return { rejectUnauthorized: false };
}

/** Where `url` points, or an Error naming the accepted forms (never echoing the URL: it may hold a password). */
export function parseDatabaseUrl(url: string | undefined, projectRoot: string): Target {
  if (url === undefined || url.trim() === '')
    return { kind: 'sqlite', file: path.join(projectRoot, DEFAULT_SQLITE_FILE) };
  const trimmed = url.trim();
  if (trimmed === 'sqlite::memory:') return { kind: 'sqlite', file: ':memory:' };
  if (trimmed.startsWith('sqlite://')) {
    const file = trimmed.slice('sqlite://'.length);
    if (!path.isAbsolute(file))
      throw new Error(`DATABASE_URL: a SQLite URL needs an absolute path (three slashes); accepted: ${ACCEPTED_FORMS}`);
    return { kind: 'sqlite', file: path.normalize(file) };
  }
  if (isPostgres(trimmed)) {
    let parsed: URL;
    try {
      parsed = new URL(trimmed);
    } catch {
      throw new Error(`DATABASE_URL: not a valid postgres:// URL; accepted: ${ACCEPTED_FORMS}`);
    }
    const ssl = sslFor(parsed);
    for (const name of SSL_PARAMS) parsed.searchParams.delete(name);
    return { kind: 'postgres', connectionString: parsed.toString(), ssl, description: describeUrl(trimmed) };
  }
  const scheme = /^([a-z][a-z0-9+.-]*):/i.exec(trimmed)?.[1];
  throw new Error(`DATABASE_URL: unsupported ${scheme ? `scheme "${scheme}:"` : 'value'}; accepted: ${ACCEPTED_FORMS}`);
}

/** DATABASE_URL for the log: the SQLite file, or Postgres's user, host, port and database; never a password. */
export function describeUrl(url: string | undefined): string {
  if (url === undefined || url.trim() === '') return `SQLite ${DEFAULT_SQLITE_FILE} (default)`;
  const trimmed = url.trim();
  if (trimmed === 'sqlite::memory:') return 'SQLite in memory';
  if (trimmed.startsWith('sqlite://')) return `SQLite ${trimmed.slice('sqlite://'.length)}`;
  if (isPostgres(trimmed)) {
    try {
      const u = new URL(trimmed);
      const user = u.username ? `${decodeURIComponent(u.username)}@` : '';
      return `Postgres ${user}${u.host}${u.pathname}`;
    } catch {
      return 'Postgres (unparseable URL)';
    }
  }
  return 'unsupported DATABASE_URL';
}

export interface OpenOptions {
  /** The folder data/ml-forms.sqlite is in when DATABASE_URL is unset. */
  projectRoot: string;
  log?: Logger;
}

/** The store DATABASE_URL names; throws (before loading any driver) when the URL is not one of the accepted forms. */
export async function openStore(url: string | undefined, options: OpenOptions): Promise<Store> {
  const target = parseDatabaseUrl(url, options.projectRoot);
  if (target.kind === 'sqlite') {
    const { SqliteStore } = await import('./sqlite');
    return new SqliteStore(target.file);
  }
  const { PostgresStore } = await import('./postgres');
  return new PostgresStore({ ...target, log: options.log });
}
