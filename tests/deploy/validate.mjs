/**
 * Validates Kubernetes manifests against the official OpenAPI schemas, with the kubernetes-models
 * package (each class's validate() runs ajv over the schema of its kind). An ES module because
 * kubernetes-models is one; tests/deploy/manifests.test.ts runs it as a child process.
 *
 *   node tests/deploy/validate.mjs FILE.yaml…   → one JSON line: [{file, index, kind, name, result}]
 * result: "valid", "invalid: <ajv's message>", or "not built in: <apiVersion>" for a custom
 * resource (KServe's InferenceService), which these schemas do not cover.
 */
import fs from 'node:fs';
import { parseAllDocuments } from 'yaml';

/** The kubernetes-models module of an apiVersion: "v1" → kubernetes-models/v1, "apps/v1" → kubernetes-models/apps/v1. */
const modulePath = (apiVersion) => `kubernetes-models/${apiVersion}`;

const results = [];
for (const file of process.argv.slice(2)) {
  const docs = parseAllDocuments(fs.readFileSync(file, 'utf8'));
  for (const [index, doc] of docs.entries()) {
    if (doc.errors.length > 0) {
      results.push({ file, index, kind: '?', name: '?', result: `invalid: YAML: ${doc.errors[0].message}` });
      continue;
    }
    const object = doc.toJS();
    if (object === null || object === undefined) continue;
    const { apiVersion = '', kind = '', metadata = {} } = object;
    let Model;
    try {
      Model = (await import(modulePath(apiVersion)))[kind];
    } catch {
      Model = undefined;
    }
    let result;
    if (Model === undefined) result = `not built in: ${apiVersion} ${kind}`;
    else {
      try {
        new Model(object).validate();
        result = 'valid';
      } catch (err) {
        result = `invalid: ${err instanceof Error ? err.message : String(err)}`;
      }
    }
    results.push({ file, index, kind, name: metadata.name ?? '', result });
  }
}
process.stdout.write(JSON.stringify(results) + '\n');
