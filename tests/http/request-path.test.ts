/** src/http/request-path.ts: which model of the app's table a request is for. */
import express, { type Request } from 'express';
import request from 'supertest';
import { MODELS } from '../../src/models';
import type { ModelDefinition } from '../../src/models/model';
import { predictRoute, serveTable } from '../../src/http/request-path';

const at = (url: string): Request => ({ originalUrl: url, url }) as unknown as Request;
const [first] = MODELS;
const fieldsModel = MODELS.find((m) => m.input.kind === 'fields') as ModelDefinition;
const imageModel = MODELS.find((m) => m.input.kind === 'image') as ModelDefinition;
/** A model of a test's own table, by another name. */
const extra = { ...fieldsModel, name: 'extra' } as ModelDefinition;

describe('predictRoute', () => {
  it('reads the model, and whether the request came through the API, for each model of the table', () => {
    for (const m of MODELS) {
      expect(predictRoute(at(`/predict/${m.name}`), MODELS)).toEqual({ model: m.name, api: false, batch: false });
      expect(predictRoute(at(`/api/predict/${m.name}/?explain=1`), MODELS)).toEqual({ model: m.name, api: true, batch: false });
    }
  });

  it('knows a many-images route only for an image model', () => {
    expect(predictRoute(at(`/api/predict/${imageModel.name}/batch`), MODELS)).toEqual({ model: imageModel.name, api: true, batch: true });
    expect(predictRoute(at(`/api/predict/${fieldsModel.name}/batch`), MODELS)).toBeNull();
  });

  it('is null for a name outside the table and for other paths', () => {
    expect(predictRoute(at('/predict/extra'), MODELS)).toBeNull();
    expect(predictRoute(at('/api/predict/'), MODELS)).toBeNull();
    expect(predictRoute(at(`/api/predict/${first?.name}/more`), MODELS)).toBeNull();
    expect(predictRoute(at('/api/models'), MODELS)).toBeNull();
  });

  it('reads against the table the app serves (serveTable), as the request log and the metrics do', async () => {
    const app = express();
    serveTable(app, [...MODELS, extra]);
    app.post(/.*/, (req, res) => {
      res.json(predictRoute(req));
    });
    const res = await request(app).post('/api/predict/extra');
    expect(res.body).toEqual({ model: 'extra', api: true, batch: false });
  });
});
