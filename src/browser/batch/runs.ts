/**
 * A run of the multi-image table: the chosen images posted to POST /api/predict/<name>/batch (the
 * image model's) with the answer read as it streams in, or classified one at a time by the browser
 * engine. Either way each answer is handed on as a row's result; each run returns a function that
 * stops it, after which it reports nothing more (sending again replaces the run).
 */
import type { ImageResult } from '../../batch/table';
import { NETWORK_ERROR, serverFailed } from '../../core/messages';
import type { MlForms } from '../engine';
import type { Chosen } from './files';

/** The image model a run is for: its name and the multipart field its form sends the files in ("image"). */
export interface Model {
  name: string;
  field: string;
}

/** Where a run's answers go. */
export interface RunSink {
  add(result: ImageResult, index: number, file: File | undefined): void;
  finish(): void;
}

/** Where a posted run's answers go, with its upload's progress and how it failed. */
export interface PostSink extends RunSink {
  uploading(fraction: number): void;
  lost(done: number, total: number): void;
  fail(message: string): void;
}

/**
 * Sends the batch with XMLHttpRequest, not fetch: it reports the upload's progress (on a real
 * network the upload takes longest, and the server answers only once it has the whole post) and
 * hands over the answer as it arrives, one element per line (src/http/routes.ts).
 */
export function postBatch(model: Model, chosen: Chosen[], sink: PostSink, explain = false): () => void {
  const xhr = new XMLHttpRequest();
  let stopped = false;
  const body = new FormData();
  for (const c of chosen) body.append(model.field, c.file, c.name);

  let read = 0; // characters of the answer already turned into rows
  let index = 0;
  let closed = false;
  const consume = (complete: boolean): void => {
    const text = xhr.responseText;
    const end = complete ? text.length : text.lastIndexOf('\n') + 1;
    if (end <= read) return;
    for (const raw of text.slice(read, end).split('\n')) {
      const line = raw.trim().replace(/,$/, '');
      if (line === '' || line === '{"predictions":[') continue;
      if (line === ']}') closed = true;
      else sink.add(JSON.parse(line) as ImageResult, index, chosen[index++]?.file);
    }
    read = end;
  };
  xhr.upload.addEventListener('progress', (e) => {
    if (e.lengthComputable && !stopped) sink.uploading(e.loaded / e.total);
  });
  xhr.upload.addEventListener('load', () => {
    if (!stopped) sink.uploading(1);
  });
  xhr.addEventListener('progress', () => {
    if (!stopped && xhr.status === 200) consume(false);
  });
  xhr.addEventListener('load', () => {
    if (stopped) return;
    if (xhr.status !== 200) {
      let message: string | undefined;
      try {
        message = (JSON.parse(xhr.responseText) as { error?: { message?: string } }).error?.message;
      } catch {
        // not our JSON (a proxy's page): say so below
      }
      sink.fail(message ?? serverFailed(xhr.status));
      return;
    }
    consume(true);
    if (closed && index === chosen.length) sink.finish();
    else sink.lost(index, chosen.length);
  });
  xhr.addEventListener('error', () => {
    if (stopped) return;
    if (index === 0) sink.fail(NETWORK_ERROR);
    else sink.lost(index, chosen.length);
  });
  xhr.open('POST', `/api/predict/${encodeURIComponent(model.name)}/batch${explain ? '?explain=1' : ''}`);
  xhr.setRequestHeader('Accept', 'application/json');
  xhr.send(body);
  return () => {
    stopped = true;
    xhr.abort();
  };
}

/** The same rows from the browser engine, one image at a time, as the batch API would answer. */
export function classifyInBrowser(model: Model, chosen: Chosen[], mlForms: MlForms, sink: RunSink, explain = false): () => void {
  let stopped = false;
  void (async () => {
    for (const [index, c] of chosen.entries()) {
      let result: ImageResult;
      try {
        result = { file: c.name, ...(await mlForms.predict(model.name, c.file, { engine: 'browser', explain })) };
      } catch (err) {
        const { code, message } = err as { code: string; message: string }; // mlForms rejects with the API's error
        result = { file: c.name, error: { code, message } };
      }
      if (stopped) return; // sent again meanwhile
      sink.add(result, index, c.file);
    }
    sink.finish();
  })();
  return () => {
    stopped = true;
  };
}
