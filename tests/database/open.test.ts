/**
 * DATABASE_URL → store (src/database/open.ts): the accepted forms, TLS for Postgres, a description
 * without the password, and nothing contacted or created before the first call.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { describeUrl, openStore, parseDatabaseUrl } from '../../src/database/open';
import { DatabaseUnavailable } from '../../src/database/types';
import { freePort } from '../helpers/postgres';

const ROOT = '/srv/app';

describe('parseDatabaseUrl', () => {
  test('unset or blank: the SQLite file in the project’s data folder', () => {
    expect(parseDatabaseUrl(undefined, ROOT)).toEqual({ kind: 'sqlite', file: '/srv/app/data/ml-forms.sqlite' });
    expect(parseDatabaseUrl('  ', ROOT)).toEqual({ kind: 'sqlite', file: '/srv/app/data/ml-forms.sqlite' });
  });

  test('sqlite:///absolute/path and sqlite::memory:; a relative path is refused', () => {
    expect(parseDatabaseUrl('sqlite:///var/lib/ml/log.sqlite', ROOT)).toEqual({
      kind: 'sqlite',
      file: '/var/lib/ml/log.sqlite',
    });
    expect(parseDatabaseUrl('sqlite::memory:', ROOT)).toEqual({ kind: 'sqlite', file: ':memory:' });
    expect(() => parseDatabaseUrl('sqlite://data/log.sqlite', ROOT)).toThrow(/absolute path/);
  });

  test('Heroku Postgres: TLS without certificate verification; loopback and sslmode=disable: none', () => {
    const heroku = parseDatabaseUrl('postgres://u:secret@ec2-1-2-3-4.compute-1.amazonaws.com:5432/d8abc', ROOT);
    expect(heroku).toMatchObject({ kind: 'postgres', ssl: { rejectUnauthorized: false } });
    expect(parseDatabaseUrl('postgresql://u@127.0.0.1:5432/db', ROOT)).toMatchObject({ ssl: false });
    expect(parseDatabaseUrl('postgres://u@localhost/db', ROOT)).toMatchObject({ ssl: false });
    expect(parseDatabaseUrl('postgres://u@db.example.com/db?sslmode=disable', ROOT)).toMatchObject({ ssl: false });
    expect(parseDatabaseUrl('postgres://u@db.example.com/db?sslmode=verify-full', ROOT)).toMatchObject({
      ssl: { rejectUnauthorized: true },
    });
  });

  test('ssl parameters are taken out of the URL pg sees (they would override the ssl option); others stay', () => {
    const target = parseDatabaseUrl('postgres://u:p@db.example.com:6543/db?sslmode=require&application_name=x', ROOT);
    expect(target).toMatchObject({ kind: 'postgres', ssl: { rejectUnauthorized: false } });
    const cs = (target as { connectionString: string }).connectionString;
    expect(cs).not.toMatch(/sslmode/);
    expect(cs).toMatch(/application_name=x/);
    expect(cs).toMatch(/^postgres:\/\/u:p@db\.example\.com:6543\/db/);
  });

  test('anything else: an error naming the accepted forms, never echoing the URL', () => {
    const attempt = () => parseDatabaseUrl('mysql://admin:hunter2@db/prod', ROOT);
    expect(attempt).toThrow(/unsupported scheme "mysql:".*sqlite:\/\/\/absolute\/path\.sqlite.*postgres:\/\//);
    expect(attempt).not.toThrow(/hunter2/);
  });
});

test('describeUrl: user, host and database, never the password', () => {
  expect(describeUrl('postgres://alice:s3cr%40t@db.example.com:5432/app?sslmode=require')).toBe(
    'Postgres alice@db.example.com:5432/app',
  );
  expect(describeUrl('postgres://:onlypass@db/app')).not.toMatch(/onlypass/);
  expect(describeUrl(undefined)).toBe('SQLite data/ml-forms.sqlite (default)');
  expect(describeUrl('sqlite:///tmp/x.sqlite')).toBe('SQLite /tmp/x.sqlite');
  expect(describeUrl('mysql://root:pw@h/db')).not.toMatch(/pw/);
});

test('openStore (SQLite): nothing is created before the first call', async () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'ml-forms-open-'));
  try {
    const store = await openStore(undefined, { projectRoot: dir });
    expect(store.kind).toBe('sqlite');
    expect(fs.existsSync(path.join(dir, 'data'))).toBe(false);
    await store.migrate();
    expect(fs.existsSync(path.join(dir, 'data', 'ml-forms.sqlite'))).toBe(true);
    await store.close();
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

test('openStore (Postgres): opens without the server; a call fails fast with DatabaseUnavailable', async () => {
  const port = await closedPort();
  const store = await openStore(`postgres://nobody:pw@127.0.0.1:${port}/none`, { projectRoot: ROOT });
  expect(store.kind).toBe('postgres');
  expect(store.description).toBe(`Postgres nobody@127.0.0.1:${port}/none`);
  const started = Date.now();
  await expect(store.ping()).rejects.toBeInstanceOf(DatabaseUnavailable);
  expect(Date.now() - started).toBeLessThan(2_500);
  await store.close();
});

test('openStore: an unsupported URL is refused before any driver loads', async () => {
  await expect(openStore('redis://h:6379', { projectRoot: ROOT })).rejects.toThrow(/accepted/);
});

/** A port nothing listens on (it was free a moment ago). */
const closedPort = freePort;
