/**
 * Parts 3 and 4 of `npm run bench`, the references for the form post: the walkthrough's Flask +
 * gunicorn on the same load (rendering ml-forms' own page, and its own one-line page), and floors,
 * servers that only answer a fixed page of the same size (bench/floor.ts).
 */
import { type Row, flaskOnPage, responseBytes, startFlask, startFloor, wrk } from '../lib';
import { LEVELS, SECONDS, type Targets, levels, warm } from './settings';

export type ReferenceResults = Awaited<ReturnType<typeof measureReferences>>;

/** Parts 3 and 4: `formPage` is the app's page after the form post (`pageBytes` long); `tmp` a scratch folder. */
export async function measureReferences(targets: Targets, tmp: string, formPage: string, pageBytes: number) {
  // 3. The walkthrough's stack on the same form post, same load generator, same levels: rendering
  // our page (saved above; Jinja fills in the statement and the input) and its own one-line page.
  const { modelPath: pkl, pageTemplate } = flaskOnPage(tmp, formPage);
  const flaskRows: Row[] = [];
  let flaskPeak = 0;
  let flaskPeakPss = 0;
  let flaskPageBytes = 0;
  const top = LEVELS[LEVELS.length - 1] as number;
  const flaskRuns = [
    { page: true, reload: true, note: "ml-forms' page, pickle loaded per request as the walkthrough", at: LEVELS },
    { page: true, reload: false, note: "ml-forms' page, pickle loaded once", at: [top] },
    { page: false, reload: true, note: 'the walkthrough\'s one-line page, pickle loaded per request', at: LEVELS },
  ];
  for (const run of flaskRuns) {
    const flask = await startFlask({ modelPath: pkl, reloadModel: run.reload, pageTemplate: run.page ? pageTemplate : undefined });
    const form = { ...targets.regressionForm, path: '/predict' };
    await warm(flask.base, [form]);
    if (run.page) flaskPageBytes = await responseBytes(flask.base, form);
    flaskRows.push(...(await levels(flask, form, 'Flask+gunicorn ×2 form POST /predict', run.at, run.note)));
    flaskPeak = Math.max(flaskPeak, flask.peakRss);
    flaskPeakPss = Math.max(flaskPeakPss, flask.peakPss);
    await flask.stop();
  }

  // 4. Floors: the same form post against servers that only answer a page of the same size.
  const floorRows: Row[] = [];
  for (const [mode, what] of [
    ['http', 'node:http, fixed page'],
    ['express', 'Express 5, fixed page'],
    ['express-urlencoded', 'Express 5 + urlencoded body parser, fixed page'],
  ] as const) {
    const f = await startFloor(mode, pageBytes);
    await warm(f.base, [targets.regressionForm]);
    floorRows.push({ ...(await wrk(f.base, targets.regressionForm, top, SECONDS, f.pid)), scenario: `floor: ${what} (one process)` });
    await f.stop();
  }
  return { flaskRows, flaskPeak, flaskPeakPss, flaskPageBytes, flaskRuns, floorRows };
}
