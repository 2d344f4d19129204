/**
 * deploy/'s Kubernetes manifests (issue 27): every object validates against the official
 * Kubernetes OpenAPI schemas (kubernetes-models, run by tests/deploy/validate.mjs, offline), and
 * does what the README says: Indexed Jobs whose completions match --shards, retried per index,
 * a weekly CronJob that forbids overlapping runs, a model tier with its health probes. The
 * shards' shell scripts are then run here as the pods run them (the models in process, a temp
 * folder for /data), and the last one's merge writes the one output.
 */
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { parseAllDocuments } from 'yaml';
import { cellImage } from '../helpers/cell-image';
import { ROOT, csvRows, runCli } from '../helpers/cli';

jest.setTimeout(120_000);

const DEPLOY = path.join(ROOT, 'deploy');
const files = fs
  .readdirSync(DEPLOY)
  .filter((f) => f.endsWith('.yaml'))
  .map((f) => path.join(DEPLOY, f));

interface Validated {
  file: string;
  index: number;
  kind: string;
  name: string;
  result: string;
}

function validate(paths: string[]): Validated[] {
  const out = execFileSync(process.execPath, [path.join(__dirname, 'validate.mjs'), ...paths], { cwd: ROOT });
  return JSON.parse(out.toString()) as Validated[];
}

/* eslint-disable @typescript-eslint/no-explicit-any -- manifests are free-form YAML */
const objects: any[] = files.flatMap((f) =>
  parseAllDocuments(fs.readFileSync(f, 'utf8'))
    .map((d) => d.toJS() as any)
    .filter((o) => o !== null)
    .map((o) => ({ ...o, file: path.basename(f) })),
);
const jobSpecs = (): { name: string; spec: any }[] => [
  ...objects.filter((o) => o.kind === 'Job').map((o) => ({ name: o.metadata.name as string, spec: o.spec })),
  ...objects
    .filter((o) => o.kind === 'CronJob')
    .map((o) => ({ name: o.metadata.name as string, spec: o.spec.jobTemplate.spec })),
];
const script = (spec: any): string => (spec.template.spec.containers[0].args as string[]).join('\n');

describe('deploy/*.yaml against the Kubernetes schemas', () => {
  it('validates every built-in object (only the KServe custom resource is outside these schemas)', () => {
    const results = validate(files);
    expect(results.length).toBeGreaterThanOrEqual(10);
    for (const r of results) {
      if (r.kind === 'InferenceService') expect(r.result).toMatch(/^not built in/);
      else expect(`${path.basename(r.file)} ${r.kind} ${r.name}: ${r.result}`).toMatch(/: valid$/);
    }
    expect(new Set(results.map((r) => r.kind))).toEqual(
      new Set(['PersistentVolumeClaim', 'Job', 'CronJob', 'Deployment', 'Service', 'InferenceService']),
    );
  });

  it('the validator refuses what the API server would: a wrong type, an unknown enum value, a missing required field', () => {
    const bad = path.join(os.tmpdir(), `ml-forms-bad-${process.pid}.yaml`);
    const text = fs.readFileSync(path.join(DEPLOY, 'batch-cronjob.yaml'), 'utf8');
    try {
      fs.writeFileSync(
        bad,
        [
          text.replace('completions: 4', 'completions: four'),
          text.replace('\n  concurrencyPolicy: Forbid', '\n  concurrencyPolicy: Never'),
          text.replace(/\n {2}schedule: .*\n/, '\n'),
        ].join('\n---\n'),
      );
      const results = validate([bad]);
      expect(results.map((r) => r.result)).toEqual([
        expect.stringMatching(/completions must be integer/),
        expect.stringMatching(/concurrencyPolicy must be equal to one of the allowed values/),
        expect.stringMatching(/spec must have required property schedule/),
      ]);
    } finally {
      fs.rmSync(bad, { force: true });
    }
  });
});

describe('what the manifests do', () => {
  it('every batch Job is Indexed, its completions the --shards of its command, each index retried on its own', () => {
    const indexed = jobSpecs().filter((j) => j.spec.completionMode === 'Indexed');
    expect(indexed.map((j) => j.name).sort()).toEqual(['ml-forms-batch', 'ml-forms-batch-url', 'ml-forms-weekly']);
    for (const { spec } of indexed) {
      expect(script(spec)).toContain(`--shards ${spec.completions} `);
      expect(script(spec)).toContain(`cells.part-*-of-${spec.completions}.jsonl`);
      expect(spec.backoffLimitPerIndex).toBe(3);
      expect(spec.template.spec.restartPolicy).toBe('Never');
      expect(spec.podFailurePolicy.rules[0]).toMatchObject({ action: 'FailIndex', onExitCodes: { values: [2] } });
    }
  });

  it('the weekly CronJob forbids overlapping runs and has a starting deadline', () => {
    const cron = objects.find((o) => o.kind === 'CronJob');
    expect(cron.spec).toMatchObject({
      schedule: '0 3 * * 0',
      concurrencyPolicy: 'Forbid',
      startingDeadlineSeconds: 3600,
    });
  });

  it('the model tier has its liveness and readiness probes on /v2/health/live and /v2/health/ready, behind a Service', () => {
    const models = objects.find((o) => o.kind === 'Deployment' && o.metadata.name === 'ml-forms-models');
    const container = models.spec.template.spec.containers[0];
    expect(container.livenessProbe.httpGet.path).toBe('/v2/health/live');
    expect(container.readinessProbe.httpGet.path).toBe('/v2/health/ready');
    const service = objects.find((o) => o.kind === 'Service' && o.metadata.name === 'ml-forms-models');
    expect(service.spec.selector).toEqual(models.spec.selector.matchLabels);
  });

  it("runs the shards' scripts as the pods do: the last shard's merge writes the unsharded output", async () => {
    const data = fs.mkdtempSync(path.join(os.tmpdir(), 'ml-forms-deploy-'));
    try {
      for (const label of ['parasitized', 'uninfected']) {
        fs.mkdirSync(path.join(data, 'cells', label), { recursive: true });
        for (let i = 0; i < 5; i++)
          fs.writeFileSync(
            path.join(data, 'cells', label, `c${i}.png`),
            await cellImage('png', { parasite: label === 'parasitized', size: 90 + 5 * i }),
          );
      }
      const job = objects.find((o) => o.kind === 'Job' && o.metadata.name === 'ml-forms-batch');
      // The pod's script with this machine's paths: /data → the temp folder, the built command → src under tsx.
      const local = script(job.spec)
        .replaceAll('/data', data)
        .replaceAll(
          'node dist/src/cli/main.js',
          `${process.execPath} --import tsx ${path.join(ROOT, 'src/cli/main.ts')}`,
        );
      const logs: string[] = [];
      for (let index = 0; index < job.spec.completions; index++) {
        logs.push(
          execFileSync('sh', ['-c', local], {
            cwd: ROOT,
            env: { ...process.env, NODE_ENV: 'production', RUN: 'run-1', JOB_COMPLETION_INDEX: String(index) },
            stdio: ['ignore', 'pipe', 'pipe'],
          }).toString(),
        );
      }
      expect(logs.slice(0, -1).join('')).toMatch(/merge not done yet/);
      const merged = fs.readFileSync(path.join(data, 'runs', 'run-1', 'cells.csv'), 'utf8');
      const whole = await runCli(['predict', 'malaria', path.join(data, 'cells'), '--concurrency', '1']);
      expect(csvRows(merged)).toHaveLength(11);
      expect(merged).toBe(whole.stdout);
    } finally {
      fs.rmSync(data, { recursive: true, force: true });
    }
  });
});
