/**
 * A throwaway Postgres server (Debian's postgresql package) for the tests: a fresh cluster in a
 * temporary folder, trust authentication, listening on 127.0.0.1 on a free port. It can be stopped
 * and started again on the same port, to play an outage. As root the server runs as the postgres
 * user (it refuses to run as root). Without postgresql installed it returns null, and the Postgres
 * tests skip; in CI (which installs it) that is an error instead, so they cannot silently not run.
 */
import { execFile } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';

const run = promisify(execFile);

export interface TestPostgres {
  url: string;
  /** Stops the server (fast mode: clients are disconnected). */
  stop(): Promise<void>;
  /** Starts it again on the same port. */
  start(): Promise<void>;
  /** Stops it if running and removes its folder. */
  destroy(): Promise<void>;
}

/** The newest installed server's bin folder (/usr/lib/postgresql/<major>/bin), or null. */
function postgresBin(): string | null {
  const root = '/usr/lib/postgresql';
  const majors = fs.existsSync(root) ? fs.readdirSync(root).filter((v) => /^\d+$/.test(v)) : [];
  majors.sort((a, b) => Number(b) - Number(a));
  for (const major of majors) {
    const bin = path.join(root, major, 'bin');
    if (fs.existsSync(path.join(bin, 'initdb')) && fs.existsSync(path.join(bin, 'pg_ctl'))) return bin;
  }
  return null;
}

/** A port free a moment ago on 127.0.0.1 (nothing listens on it once it resolves). */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as net.AddressInfo;
      server.close(() => resolve(port));
    });
  });
}

/**
 * Whether the Postgres tests can run, known before any test starts (for `describe.skip`); throws
 * in CI when postgresql is missing.
 */
export function postgresInstalled(): boolean {
  if (postgresBin()) return true;
  if (process.env.CI) throw new Error('postgresql is not installed (CI installs it: apt-get install postgresql)');
  return false;
}

export async function startPostgres(): Promise<TestPostgres | null> {
  if (!postgresInstalled()) return null;
  const bin = postgresBin() as string;
  const asRoot = process.getuid?.() === 0;
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'ml-forms-pg-'));
  const data = path.join(dir, 'data');
  const port = await freePort();
  /** Runs a server binary, as the postgres user when we are root. */
  const pg = (tool: string, args: string[]) =>
    asRoot
      ? run('runuser', ['-u', 'postgres', '--', path.join(bin, tool), ...args], { cwd: dir })
      : run(path.join(bin, tool), args, { cwd: dir });
  if (asRoot) await run('chown', ['-R', 'postgres:', dir]);
  // --no-sync: the cluster is thrown away; the server itself still fsyncs as in production.
  await pg('initdb', ['-D', data, '-A', 'trust', '-U', 'postgres', '-E', 'UTF8', '--no-locale', '--no-sync']);
  const options = `-p ${port} -c listen_addresses=127.0.0.1 -k ${dir} -c max_connections=40`;
  const start = async (): Promise<void> => {
    await pg('pg_ctl', ['-D', data, '-l', path.join(dir, 'server.log'), '-o', options, '-w', '-t', '30', 'start']);
  };
  const stop = async (): Promise<void> => {
    await pg('pg_ctl', ['-D', data, '-m', 'fast', '-w', '-t', '30', 'stop']);
  };
  await start();
  return {
    url: `postgres://postgres@127.0.0.1:${port}/postgres`,
    start,
    stop,
    async destroy() {
      if (fs.existsSync(path.join(data, 'postmaster.pid'))) {
        await pg('pg_ctl', ['-D', data, '-m', 'immediate', '-w', 'stop']).catch(() => undefined);
      }
      fs.rmSync(dir, { recursive: true, force: true });
    },
  };
}
