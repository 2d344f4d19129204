/**
 * The batch command against hostile files and servers (issue 22, findings 5 and 6), run for real
 * (spawned): --resume on a file that is not its output, links out of an input folder, FIFOs and
 * devices, and a --url server that answers with a redirect.
 */
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import { cellImage } from '../helpers/app';
import { type CliResult, csvRows, runCli, startCli } from '../helpers/cli';
import { sleep } from '../helpers/async';

jest.setTimeout(90_000);

let dir: string;
const at = (...parts: string[]): string => path.join(dir, ...parts);

beforeAll(() => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'ml-forms-hardening-'));
});

afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

/** Runs the command, killing it (SIGKILL) if it has not ended within `ms`: a hang fails the test instead of the suite. */
async function runWithin(ms: number, args: string[]): Promise<CliResult & { ms: number }> {
  const started = Date.now();
  const { child, done } = startCli(args);
  child.stdin.end();
  const timer = setTimeout(() => child.kill('SIGKILL'), ms);
  try {
    return { ...(await done), ms: Date.now() - started };
  } finally {
    clearTimeout(timer);
  }
}

/** A server on 127.0.0.1 that records every request it gets; `answer` writes the response. */
async function recordingServer(
  answer: (req: http.IncomingMessage, body: Buffer, res: http.ServerResponse) => void,
): Promise<{ url: string; requests: { method?: string; url?: string; body: Buffer }[]; close: () => Promise<void> }> {
  const requests: { method?: string; url?: string; body: Buffer }[] = [];
  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const body = Buffer.concat(chunks);
      requests.push({ method: req.method, url: req.url, body });
      answer(req, body, res);
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const { port } = server.address() as { port: number };
  return {
    url: `http://127.0.0.1:${port}`,
    requests,
    close: () => new Promise<void>((r) => server.close(() => r())),
  };
}

const json = (res: http.ServerResponse, status: number, value: unknown): void => {
  res.writeHead(status, { 'content-type': 'application/json' });
  res.end(JSON.stringify(value));
};

describe('--resume never changes a file it refuses', () => {
  it.each([
    [
      'a 58-byte notes file whose last line has no line break',
      'Shopping, Tuesday\nmilk,2 litres\neggs,12\ncall the plumber 9',
    ],
    ['a one-line file without a line break', 'just one line of someone else’s text'],
    ['our header without its line break (a header cut short is not a header)', 'input,value,error'],
    ['our header, then a row with the wrong number of cells', 'input,value,error\n1,18.78,\nnot,a,row,of,ours\n3,2'],
    ['a file of blank lines', '\n\n\n'],
  ])('%s: exit 2, the file byte-identical', async (_name, text) => {
    const out = at(`refused-${Math.random().toString(36).slice(2)}.csv`);
    fs.writeFileSync(out, text);
    const before = fs.readFileSync(out);
    const statBefore = fs.statSync(out);
    const run = await runCli(['predict', 'regression', '-', '--out', out, '--resume', '--quiet'], { input: '5\n6\n' });
    expect(run.code).toBe(2);
    expect(run.stderr).toMatch(/not an output of this command; choose another --out/);
    expect(fs.readFileSync(out).equals(before)).toBe(true);
    expect(fs.statSync(out).mtimeMs).toBe(statBefore.mtimeMs);
  });

  it('a JSON Lines file with only a line cut short: exit 2, unchanged', async () => {
    const out = at('cut-only.jsonl');
    fs.writeFileSync(out, '{"input":"1","val');
    const run = await runCli(['predict', 'regression', '-', '--out', out, '--resume', '--quiet'], { input: '5\n' });
    expect(run.code).toBe(2);
    expect(fs.readFileSync(out, 'utf8')).toBe('{"input":"1","val');
  });

  it('our file with its last row cut short inside a quoted field: that row is dropped and predicted again, the rest kept', async () => {
    const out = at('cut-quoted.csv');
    fs.writeFileSync(out, 'input,value,error\n1,18.78,\n"2\nstill inside the quotes');
    const run = await runCli(['predict', 'regression', '-', '--out', out, '--resume', '--quiet'], {
      input: '5\n6\n7\n',
    });
    expect(run.code).toBe(0);
    const rows = csvRows(fs.readFileSync(out, 'utf8'));
    expect(rows.map((r) => r[0])).toEqual(['input', '1', '2', '3']);
    expect(rows[1]).toEqual(['1', '18.78', '']);
    expect(rows.slice(2).every((r) => r.length === 3 && Number.isFinite(Number(r[1])) && r[2] === '')).toBe(true);
  });

  it('a FIFO as --out with --resume: exit 2 at once, nothing opened for writing', async () => {
    const fifo = at('out.fifo');
    execFileSync('mkfifo', [fifo]);
    const run = await runWithin(20_000, ['predict', 'regression', '-', '--out', fifo, '--resume', '--quiet']);
    expect(run.code).toBe(2);
    expect(run.stderr).toMatch(/is a named pipe \(FIFO\), not a file --resume can complete/);
  });

  it('--out in a folder that does not exist: exit 2 naming the folder (it crashed with an abort before)', async () => {
    const out = at('no-such-folder/rows.csv');
    const run = await runWithin(20_000, ['predict', 'regression', '-', '--out', out, '--quiet']);
    expect(run.code).toBe(2);
    expect(run.stderr).toContain(`cannot write ${out}: no folder ${path.dirname(out)}`);
  });
});

describe('an input folder with links out of it, a FIFO and a device', () => {
  let inbox: string;
  let hostname: Buffer;
  beforeAll(async () => {
    hostname = fs.readFileSync('/etc/hostname');
    inbox = at('inbox');
    fs.mkdirSync(path.join(inbox, 'sub'), { recursive: true });
    fs.writeFileSync(path.join(inbox, 'a.png'), await cellImage('png'));
    fs.symlinkSync('a.png', path.join(inbox, 'c.png')); // inside the folder: read
    fs.symlinkSync('../a.png', path.join(inbox, 'sub', 'd.png')); // inside too, from a subfolder
    fs.symlinkSync('/etc/hostname', path.join(inbox, 'b.png'));
    fs.symlinkSync('/etc', path.join(inbox, 'etc-dir'));
    fs.symlinkSync('/dev/zero', path.join(inbox, 'zero.png'));
    fs.symlinkSync('..', path.join(inbox, 'sub', 'up')); // a loop: not walked
  });

  const rowsByName = (stdout: string): Map<string, string[]> =>
    new Map(
      csvRows(stdout)
        .slice(1)
        .map((r) => [path.relative(inbox, r[0] as string), r]),
    );

  it('in process: links inside are read; links out of it are outside_folder rows; /etc is not walked', async () => {
    const run = await runWithin(60_000, ['predict', 'malaria', inbox]);
    const rows = rowsByName(run.stdout);
    expect([...rows.keys()]).toEqual(['a.png', 'b.png', 'c.png', 'etc-dir', 'sub/d.png', 'zero.png']);
    for (const name of ['a.png', 'c.png', 'sub/d.png']) {
      expect(rows.get(name)?.[5]).toBe('');
      expect(rows.get(name)?.slice(1, 5)).toEqual(rows.get('a.png')?.slice(1, 5));
    }
    for (const name of ['b.png', 'etc-dir', 'zero.png'])
      expect(rows.get(name)?.[5]).toBe(`outside_folder: This link points outside ${inbox}; it was not followed.`);
    expect(run.code).toBe(1);
  });

  it('--url: only the files inside the folder are posted, nothing from /etc or /dev', async () => {
    const server = await recordingServer((req, _body, res) => {
      if (req.url === '/api/models')
        return json(res, 200, { models: [{ name: 'malaria', labels: ['parasitized', 'uninfected'] }] });
      json(res, 200, {
        model: 'malaria',
        version: '1',
        label: 'uninfected',
        confidence: 0.9,
        scores: { parasitized: 0.1, uninfected: 0.9 },
        statement: '…',
      });
    });
    try {
      const run = await runWithin(60_000, ['predict', 'malaria', inbox, '--url', server.url, '--quiet']);
      const posts = server.requests.filter((r) => r.method === 'POST');
      expect(posts).toHaveLength(3); // a.png, c.png, sub/d.png
      const image = fs.readFileSync(path.join(inbox, 'a.png'));
      for (const post of posts) {
        expect(post.body.includes(image)).toBe(true);
        expect(post.body.includes(hostname)).toBe(false);
      }
      const rows = rowsByName(run.stdout);
      expect(rows.get('b.png')?.[5]).toMatch(/^outside_folder: /);
      expect(rows.get('etc-dir')?.[5]).toMatch(/^outside_folder: /);
      expect(run.code).toBe(1);
    } finally {
      await server.close();
    }
  });

  it('a link to a FIFO inside the folder, and the FIFO itself: not_a_file rows, and the run ends promptly', async () => {
    const pipes = at('pipes');
    fs.mkdirSync(pipes);
    fs.writeFileSync(path.join(pipes, 'a.png'), await cellImage('png'));
    execFileSync('mkfifo', [path.join(pipes, 'fifo')]);
    fs.symlinkSync('fifo', path.join(pipes, 'link.png'));
    const result = await runWithin(30_000, ['predict', 'malaria', pipes]);
    expect(result.signal).toBeNull(); // not killed by the timer: it did not hang
    const rows = new Map(
      csvRows(result.stdout)
        .slice(1)
        .map((r) => [path.basename(r[0] as string), r]),
    );
    expect(rows.get('fifo')?.[5]).toBe('not_a_file: This is a named pipe (FIFO), not a regular file; it was not read.');
    expect(rows.get('link.png')?.[5]).toBe(
      'not_a_file: This is a named pipe (FIFO), not a regular file; it was not read.',
    );
    expect(rows.get('a.png')?.[5]).toBe('');
    expect(result.code).toBe(1);
  });

  it.each([
    ['/dev/zero named on the command line', () => '/dev/zero', 'a device'],
    [
      'a link to /dev/zero named on the command line',
      () => (fs.symlinkSync('/dev/zero', at('zero-link.png')), at('zero-link.png')),
      'a device',
    ],
    [
      'a FIFO named on the command line',
      () => (execFileSync('mkfifo', [at('named.fifo')]), at('named.fifo')),
      'a named pipe (FIFO)',
    ],
  ])('%s: a not_a_file row, nothing read, exit 1', async (_name, make, what) => {
    const input = make();
    const run = await runWithin(30_000, ['predict', 'malaria', input, '--quiet']);
    expect(run.signal).toBeNull();
    expect(csvRows(run.stdout)).toEqual([
      ['input', 'label', 'confidence', 'score_parasitized', 'score_uninfected', 'error'],
      [input, '', '', '', '', `not_a_file: This is ${what}, not a regular file; it was not read.`],
    ]);
    expect(run.code).toBe(1);
  });

  it('SIGTERM still ends a run (one waiting for more standard input): at once, whole rows written, exit 130', async () => {
    const out = at('sigterm.csv');
    const { child, done } = startCli(['predict', 'regression', '-', '--out', out, '--quiet']);
    child.stdin.write('5\n6\n'); // and standard input stays open
    for (
      let i = 0;
      i < 400 && !(fs.existsSync(out) && fs.readFileSync(out, 'utf8').startsWith('input,value,error\n'));
      i++
    )
      await sleep(50);
    await sleep(300);
    const sent = Date.now();
    child.kill('SIGTERM');
    const timer = setTimeout(() => child.kill('SIGKILL'), 20_000);
    const run = await done;
    clearTimeout(timer);
    expect(run.code).toBe(130);
    expect(Date.now() - sent).toBeLessThan(10_000);
    const ids = csvRows(fs.readFileSync(out, 'utf8')).map((r) => r[0]);
    expect(ids).toEqual(['input', '1', '2'].slice(0, ids.length));
  });
});

describe('--url does not follow redirects', () => {
  let target: Awaited<ReturnType<typeof recordingServer>>;
  beforeAll(async () => {
    target = await recordingServer((_req, _body, res) =>
      json(res, 200, { model: 'regression', version: '1', value: 1, statement: '…', models: [] }),
    );
  });
  afterAll(() => target.close());
  afterEach(() => target.requests.splice(0));

  it('a 307 to another server on the predictions: the other server receives nothing, each row is a redirected error', async () => {
    const redirecting = await recordingServer((req, _body, res) => {
      if (req.url === '/api/models') return json(res, 200, { models: [{ name: 'regression', labels: [] }] });
      res.writeHead(307, { location: `${target.url}/api/predict/regression` });
      res.end();
    });
    try {
      const run = await runCli(['predict', 'regression', '-', '--url', redirecting.url, '--quiet'], {
        input: '5\n6\n',
      });
      expect(target.requests).toEqual([]);
      expect(redirecting.requests.filter((r) => r.method === 'POST')).toHaveLength(2); // each sent once, not retried
      const message = `redirected: ${redirecting.url} answered 307 Temporary Redirect (to ${target.url}/api/predict/regression); redirects are not followed: give --url the address that answers.`;
      expect(csvRows(run.stdout)).toEqual([
        ['input', 'value', 'error'],
        ['1', '', message],
        ['2', '', message],
      ]);
      expect(run.code).toBe(1);
    } finally {
      await redirecting.close();
    }
  });

  it('a 302 on /api/models: exit 2 naming the redirect, the other server receives nothing', async () => {
    const redirecting = await recordingServer((_req, _body, res) => {
      res.writeHead(302, { location: `${target.url}/api/models` });
      res.end();
    });
    try {
      const run = await runCli(['predict', 'regression', '-', '--url', redirecting.url], { input: '5\n' });
      expect(run.code).toBe(2);
      expect(run.stderr).toMatch(
        /answered 302 Found \(to http:\/\/127\.0\.0\.1:\d+\/api\/models\); redirects are not followed/,
      );
      expect(target.requests).toEqual([]);
    } finally {
      await redirecting.close();
    }
  });
});
