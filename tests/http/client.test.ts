/**
 * A client generated from /openapi.json works: openapi-typescript turns the document into types (api.ts),
 * tests/client/calls.ts (an openapi-fetch program against those types) type-checks strictly with
 * them, then calls every endpoint of a running app and gets what the document promises.
 */
import { execFile } from 'node:child_process';
import fs from 'node:fs';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import type { Server } from 'node:http';
import { promisify } from 'node:util';
import { buildApp, cellImage } from '../helpers/app';

const run = promisify(execFile);
const ROOT = path.join(__dirname, '..', '..');
const bin = (...p: string[]): string => path.join(ROOT, 'node_modules', ...p);

let server: Server;
let baseUrl: string;
let dir: string;
beforeAll(async () => {
  const { app } = await buildApp();
  server = app.listen(0, '127.0.0.1');
  await new Promise((resolve) => server.once('listening', resolve));
  baseUrl = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  // Inside the project, so the program resolves openapi-fetch and typescript from node_modules.
  fs.mkdirSync(bin('.cache'), { recursive: true });
  dir = fs.mkdtempSync(bin('.cache', 'openapi-client-'));
});
afterAll(async () => {
  await new Promise((resolve) => server.close(resolve));
  fs.rmSync(dir, { recursive: true, force: true });
});

it('generates, type-checks and calls every endpoint successfully', async () => {
  const doc = await (await fetch(`${baseUrl}/openapi.json`)).text();
  fs.writeFileSync(path.join(dir, 'openapi.json'), doc);
  await run(process.execPath, [bin('openapi-typescript', 'bin', 'cli.js'), 'openapi.json', '-o', 'api.ts'], { cwd: dir });
  fs.copyFileSync(path.join(ROOT, 'tests', 'client', 'calls.ts'), path.join(dir, 'calls.ts'));
  fs.writeFileSync(path.join(dir, 'package.json'), JSON.stringify({ type: 'module', private: true }));
  fs.writeFileSync(
    path.join(dir, 'tsconfig.json'),
    JSON.stringify({
      // skipLibCheck skips node_modules' declarations only: the generated api.ts is checked.
      compilerOptions: { strict: true, noEmit: true, skipLibCheck: true, target: 'es2022', module: 'nodenext', moduleResolution: 'nodenext', lib: ['es2023'], types: ['node'] },
      files: ['calls.ts', 'api.ts'],
    }),
  );

  const typecheck = await run(process.execPath, [bin('typescript', 'bin', 'tsc'), '-p', dir]).catch((err: { stdout: string }) => err);
  expect(typecheck.stdout).toBe('');

  const image = path.join(dir, 'cell.png');
  fs.writeFileSync(image, await cellImage('png'));
  const { stdout } = await run(process.execPath, ['--import', 'tsx', path.join(dir, 'calls.ts'), baseUrl, image], { cwd: ROOT });
  const calls = Object.fromEntries(
    stdout
      .trim()
      .split('\n')
      .map((line) => JSON.parse(line) as { call: string; status: number; summary: unknown })
      .map((c) => [c.call, c]),
  );
  expect(Object.values(calls).map((c) => [c.call, c.status])).toEqual([
    ['predictRegression json', 200],
    ['predictRegression form', 200],
    ['predictRegression bad', 400],
    ['predictMalaria multipart', 200],
    ['predictMalaria raw', 200],
    ['predictSentiment', 200],
    ['listModels', 200],
    ['health', 200],
    ['readiness', 200],
    ['metrics', 200],
    ['openApiDocument', 200],
    ['docs', 200],
  ]);
  expect(calls['predictRegression json']?.summary).toBe(11); // the fake backend: 2x + 1
  expect(calls['predictRegression form']?.summary).toBe(11);
  expect(calls['predictRegression bad']?.summary).toEqual({ code: 'invalid_x', expected: 'invalid_x', foreign: 'missing_review' });
  expect(calls['predictMalaria multipart']?.summary).toBe('uninfected');
  expect(typeof calls['predictMalaria raw']?.summary).toBe('number');
  expect(calls['predictSentiment']?.summary).toEqual({ negative: 0.8, positive: 0.2 });
  expect(calls['listModels']?.summary).toEqual([expect.stringMatching(/^regression /), expect.stringMatching(/^malaria /), expect.stringMatching(/^sentiment /)]);
  expect(calls['health']?.summary).toBe('ok');
  expect(calls['readiness']?.summary).toBe('ready');
  expect(calls['metrics']?.summary).toBe(true);
  expect(calls['openApiDocument']?.summary).toBe('3.1.0');
  expect(calls['docs']?.summary).toBe(true);
}, 120_000);
