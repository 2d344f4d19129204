/** Starts server.ts as a real child process (tsx), on a free port, and waits until it is ready. */
import { type ChildProcessWithoutNullStreams, spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { sleep } from './async';

export interface ServerProcess {
  child: ChildProcessWithoutNullStreams;
  url: string;
  logs: string[];
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null; at: number }>;
}

const ROOT = path.join(__dirname, '..', '..');

/**
 * The node flags of `npm start` (package.json's start script: the heap and semi-space limits a
 * dyno runs with), for tests that measure memory as deployed.
 */
export const START_FLAGS: string[] = (
  (JSON.parse(fs.readFileSync(path.join(__dirname, '..', '..', 'package.json'), 'utf8')) as { scripts: { start: string } })
    .scripts.start.split(/\s+/)
    .filter((word) => word.startsWith('--'))
);

/**
 * A prediction log of the server's own, a fresh SQLite file, unless `env` names one (or turns it
 * off): never the project's data/ml-forms.sqlite.
 */
function ownLog(env: Record<string, string>): Record<string, string> {
  if (env.DATABASE_URL !== undefined || env.PREDICTION_LOG !== undefined) return {};
  return { DATABASE_URL: `sqlite://${path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'ml-forms-server-')), 'log.sqlite')}` };
}

/**
 * Starts server.ts with `env`; ready once `readyPath` answers 200 (the model tier: /v2/health/ready).
 * On loopback (HOST=127.0.0.1) unless `env` says otherwise: the model tier starts there without
 * INFERENCE_TOKEN. `nodeArgs` go before the script (e.g. START_FLAGS).
 */
export async function startServer(
  env: Record<string, string> = {},
  timeoutMs = 30_000,
  readyPath = '/readyz',
  nodeArgs: string[] = [],
): Promise<ServerProcess> {
  const child = spawn(process.execPath, [...nodeArgs, '--import', 'tsx', 'server.ts'], {
    cwd: ROOT,
    env: { ...process.env, NODE_ENV: 'production', PORT: '0', HOST: '127.0.0.1', LOG_LEVEL: 'info', ...ownLog(env), ...env },
  });
  const logs: string[] = [];
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null; at: number }>((resolve) =>
    child.on('exit', (code, signal) => resolve({ code, signal, at: Date.now() })),
  );
  let buffered = '';
  const port = await new Promise<number>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`server did not start:\n${logs.join('\n')}`)), timeoutMs);
    const onData = (data: Buffer): void => {
      buffered += data.toString();
      const lines = buffered.split('\n');
      buffered = lines.pop() ?? '';
      for (const line of lines) {
        logs.push(line);
        const m = /"port":(\d+)/.exec(line);
        if (m) {
          clearTimeout(timer);
          resolve(Number(m[1]));
        }
      }
    };
    child.stdout.on('data', onData);
    child.stderr.on('data', (d: Buffer) => logs.push(d.toString()));
    void exited.then(() => reject(new Error(`server exited during start-up:\n${logs.join('\n')}`)));
  });
  const url = `http://127.0.0.1:${port}`;
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    const res = await fetch(`${url}${readyPath}`).catch(() => null);
    if (res?.status === 200) return { child, url, logs, exited };
    await sleep(50);
  }
  child.kill('SIGKILL');
  throw new Error(`server never became ready:\n${logs.join('\n')}`);
}
