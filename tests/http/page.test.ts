/** Page assembly from parts rendered once: frames with holes, bytes joined, and the guard against freezing request data. */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { Request, Response } from 'express';
import { Frame, PageRenderer, joinParts } from '../../src/http/page';
import { renderPage } from '../../src/http/view';
import { loadConfig } from '../../src/config';
import { MODELS } from '../../src/models';
import type { Registry } from '../../src/predictors/registry';

describe('Frame', () => {
  it('keeps the fixed text and fills each hole per call', () => {
    const frame = Frame.parse('<a>\u0000one\u0000<b>\u0000two\u0000</b>');
    expect(joinParts(frame.fill((name) => `[${name}]`)).toString()).toBe('<a>[one]<b>[two]</b>');
    expect(joinParts(frame.fill((name) => (name === 'one' ? ['x', Buffer.from('y')] : ''))).toString()).toBe('<a>xy<b></b>');
  });
});

describe('PageRenderer', () => {
  it("renders a template at an absolute path (a model's own card), whose partials are still views/partials/", () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'views-abs-'));
    try {
      fs.mkdirSync(path.join(dir, 'views', 'partials'), { recursive: true });
      fs.writeFileSync(path.join(dir, 'views', 'partials', 'inner.ejs'), '<i><%= word %></i>');
      fs.writeFileSync(path.join(dir, 'card.ejs'), "<b><%- partial('inner', { word: 'in' }) %></b>");
      const page = new PageRenderer(path.join(dir, 'views'));
      expect(page.render(path.join(dir, 'card.ejs'), {})).toBe('<b><i>in</i></b>');
      expect(page.render(path.join(dir, 'card'), {})).toBe('<b><i>in</i></b>');
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('joinParts', () => {
  it('encodes text and copies bytes into one buffer of the exact length', () => {
    const out = joinParts([Buffer.from('é'), '映画 😀', '', Buffer.alloc(0), 'z']);
    expect(out.toString()).toBe('é映画 😀z');
    expect(out.length).toBe(Buffer.byteLength('é映画 😀z'));
  });
});

describe('renderPage with views that read request data outside a slot', () => {
  let dir: string;
  beforeAll(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'views-'));
    fs.mkdirSync(path.join(dir, 'partials'));
    fs.writeFileSync(path.join(dir, 'index.ejs'), "<main><%- section('regression') %><%- section('malaria') %></main>");
    // A card drawing the input through its slot, and one reading it straight from the locals.
    fs.writeFileSync(path.join(dir, 'partials', 'regression.ejs'), '<input value="<%- slot(\'x\') %>">');
    fs.writeFileSync(path.join(dir, 'partials', 'malaria.ejs'), '<p><%= inputs.imageName %></p>');
  });
  afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

  const deps = (cache: boolean) => ({
    registry: { ready: true, cards: () => [], definitions: MODELS } as unknown as Registry,
    config: loadConfig({ NODE_ENV: 'test' }),
    page: new PageRenderer(dir, { cache }),
  });
  const req = { get: () => 'localhost', protocol: 'http' } as unknown as Request;
  const res = () => {
    const sent: { body?: Buffer } = {};
    const r = { status: () => r, set: () => r, send: (b: Buffer) => ((sent.body = b), r) };
    return { res: r as unknown as Response, sent };
  };

  it('fails loudly when parts are reused, instead of freezing one request into every page', () => {
    expect(() => renderPage(req, res().res, deps(true), { inputs: { fields: { x: '5' } } })).toThrow(/inputs\.imageName is per-request data/);
  });

  it('renders a card whose input goes through its slot', () => {
    const { res: r, sent } = res();
    const d = deps(true);
    fs.writeFileSync(path.join(dir, 'partials', 'malaria.ejs'), '<p></p>');
    renderPage(req, r, d, { inputs: { fields: { x: '<5>' } }, active: 'regression' });
    expect(sent.body?.toString()).toBe('<main><input value="&lt;5&gt;"><p></p></main>');
  });
});
