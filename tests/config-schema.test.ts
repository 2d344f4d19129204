/**
 * The declared environment of src/config-schema.ts, through loadConfig: every variable that can
 * hold a bad value stops start-up with a ConfigError naming it, what it must be and what it got;
 * a blank value means unset; the defaults that depend on other settings.
 */
import { VARIABLES } from '../src/config-schema';
import { ConfigError, loadConfig } from '../src/config';

/** Variables any text is good for: addresses, folders, tokens, a list of model names. */
const FREE_TEXT = ['HOST', 'MODELS_DIR', 'METRICS_TOKEN', 'INFERENCE_TOKEN', 'INFERENCE_INLINE', 'ADMIN_TOKEN'];

const whole = (min: number, max: number) => `must be a whole number from ${min} to ${max}`;
const decimal = (min: number, max: number) => `must be a number from ${min} to ${max}`;

/** [variable, a bad value, what it must be]: one row per variable that has a rule. */
const BAD: [string, string, string][] = [
  ['NODE_ENV', 'staging', 'must be production, development or test'],
  ['ROLE', 'both', 'must be web or models'],
  ['PORT', '70000', whole(0, 65535)],
  ['MAX_UPLOAD_MB', '-1', decimal(0.001, 100)],
  ['MAX_BATCH_FILES', '2.5', whole(1, 10_000)],
  ['MAX_BATCH_MB', 'lots', decimal(0.001, 1024)],
  ['BATCH_CONCURRENCY', '0', whole(1, 64)],
  ['MAX_IMAGE_MEGAPIXELS', '300', decimal(0.01, 268)],
  ['DECODE_BUDGET_MB', 'Infinity', decimal(0.01, 65_536)],
  ['DECODE_WAIT_MS', '-1', whole(0, 120_000)],
  ['MAX_REVIEW_CHARS', '0', whole(1, 1_000_000)],
  ['MAX_BODY_KB', '1e6', whole(1, 10_240)],
  ['REQUEST_TIMEOUT_MS', '99', whole(100, 120_000)],
  ['HEROKU_AVAILABLE_PARALLELISM', 'many', whole(1, 1024)],
  ['WEB_CONCURRENCY', '0', whole(1, 64)],
  ['CLUSTER_MODELS', 'shared', 'must be each or host'],
  ['INFERENCE_WORKERS', '-2', whole(0, 64)],
  ['QUEUE_LIMIT', '0', whole(1, 100_000)],
  ['RATE_LIMIT_PER_MINUTE', '1.5', whole(0, 1_000_000)],
  ['RATE_LIMIT_LOOPBACK', 'yes', 'must be 0 or 1'],
  ['INFERENCE_REPLICAS', 'a=0', 'must look like "model=1,other=2" (model names, each with a whole number ≥ 1)'],
  ['ONNX_THREADS', '0', whole(1, 64)],
  ['ONNX_RUNS_PER_TURN', 'many', whole(0, 1024)],
  ['SHARP_CONCURRENCY', '65', whole(0, 64)],
  ['INFERENCE_NICE', '20', whole(0, 19)],
  ['INFERENCE_URL', 'ftp://tier', 'must be an http:// or https:// URL'],
  ['INFERENCE_TIMEOUT_MS', '49', whole(50, 120_000)],
  ['INFERENCE_RETRIES', '11', whole(0, 10)],
  ['MODEL_MAX_BODY_MB', '0', decimal(0.001, 2048)],
  ['MODEL_MAX_JSON_MB', '-0.25', decimal(0.001, 2048)],
  ['MODEL_BODY_BUDGET_MB', 'x', decimal(0.001, 16_384)],
  ['ALLOW_NO_TOKEN', 'true', 'must be 0 or 1'],
  ['SHUTDOWN_GRACE_MS', '60001', whole(0, 60_000)],
  ['LOG_LEVEL', 'loud', 'must be fatal, error, warn, info, debug, trace or silent'],
  ['DATABASE_URL', 'mysql://db/x', 'must be sqlite:///absolute/path.sqlite or postgres://user:password@host:port/database'],
  ['PREDICTION_LOG', 'on', 'must be 0 or 1'],
  ['KEEP_INPUTS_MINUTES', '-1', whole(0, 1440)],
  ['RETENTION_DAYS', '0', whole(1, 3650)],
  ['FEEDBACK_PER_MINUTE', 'lots', whole(0, 100_000)],
];

describe('config schema: bad values', () => {
  it('has a bad-value case for every declared variable but the free-text ones', () => {
    expect([...BAD.map(([name]) => name), ...FREE_TEXT].sort()).toEqual([...VARIABLES].sort());
  });

  it.each(BAD)('%s=%j stops start-up naming the variable, the rule and the value', (name, value, must) => {
    expect(() => loadConfig({ [name]: value })).toThrow(ConfigError);
    // A database URL's password is never echoed: only its scheme.
    const got = name === 'DATABASE_URL' ? `${value.slice(0, value.indexOf(':') + 1)}…` : value;
    expect(() => loadConfig({ [name]: value })).toThrow(`${name} ${must}, got "${got}"`);
  });

  it('does not echo a bad DATABASE_URL, which may hold a password', () => {
    expect(() => loadConfig({ DATABASE_URL: 'mysql://me:hunter2@db/x' })).toThrow('got "mysql:…"');
    expect(() => loadConfig({ DATABASE_URL: 'mysql://me:hunter2@db/x' })).not.toThrow(/hunter2/);
  });

  it('names every bad variable at once, not only the first', () => {
    expect(() => loadConfig({ PORT: 'eighty', QUEUE_LIMIT: '0' })).toThrow(
      `PORT ${whole(0, 65535)}, got "eighty"; QUEUE_LIMIT ${whole(1, 100_000)}, got "0"`,
    );
  });

  it('keeps INFERENCE_TIMEOUT_MS within REQUEST_TIMEOUT_MS', () => {
    expect(() => loadConfig({ REQUEST_TIMEOUT_MS: '5000', INFERENCE_TIMEOUT_MS: '6000' })).toThrow(
      'INFERENCE_TIMEOUT_MS must be a whole number from 50 to 5000 (REQUEST_TIMEOUT_MS), got "6000"',
    );
    expect(loadConfig({ REQUEST_TIMEOUT_MS: '5000', INFERENCE_TIMEOUT_MS: '5000' }).inferenceTimeoutMs).toBe(5000);
  });

  it('refuses an INFERENCE_URL that is not only a server address', () => {
    expect(() => loadConfig({ INFERENCE_URL: 'tier 8000' })).toThrow(
      'INFERENCE_URL must be a URL like http://127.0.0.1:8000, got "tier 8000"',
    );
    expect(() => loadConfig({ INFERENCE_URL: 'http://user@tier:8000' })).toThrow(
      /INFERENCE_URL must be the server's address only/,
    );
    expect(() => loadConfig({ INFERENCE_URL: 'http://tier:8000/?x=1' })).toThrow(
      /INFERENCE_URL must be the server's address only/,
    );
  });
});

describe('config schema: blank means unset', () => {
  const defaults = loadConfig({});

  it.each(VARIABLES.filter((name) => name !== 'INFERENCE_INLINE'))('%s blank or spaces: the default', (name) => {
    expect(loadConfig({ [name]: '' })).toEqual(defaults);
    expect(loadConfig({ [name]: '  ' })).toEqual(defaults);
  });

  it('INFERENCE_INLINE: unset is the default list, "" is none', () => {
    expect(defaults.inferenceInline).toEqual(['regression']);
    expect(loadConfig({ INFERENCE_INLINE: '' }).inferenceInline).toEqual([]);
    expect(loadConfig({ INFERENCE_INLINE: ' a, ,b ' }).inferenceInline).toEqual(['a', 'b']);
  });
});

describe('config schema: values and derived defaults', () => {
  it('converts MB and KB to bytes and megapixels to pixels', () => {
    const c = loadConfig({
      MAX_BODY_KB: '2',
      MODEL_MAX_BODY_MB: '1',
      MODEL_MAX_JSON_MB: '0.5',
      MODEL_BODY_BUDGET_MB: '3',
      MAX_IMAGE_MEGAPIXELS: '0.25',
    });
    expect(c).toMatchObject({
      maxBodyBytes: 2048,
      modelMaxBodyBytes: 1048576,
      modelMaxJsonBytes: 524288,
      modelBodyBudgetBytes: 3 * 1048576,
      maxImagePixels: 250_000,
    });
    expect(loadConfig({})).toMatchObject({
      modelMaxJsonBytes: 262144,
      modelBodyBudgetBytes: 80 * 1048576,
      modelMaxBodyBytes: 64 * 1048576,
    });
  });

  it('serves from one process on a model tier, and trims its address', () => {
    expect(loadConfig({ INFERENCE_URL: ' http://127.0.0.1:8000/ ' })).toMatchObject({
      inferenceUrl: 'http://127.0.0.1:8000',
      httpProcesses: 1,
    });
    expect(loadConfig({ INFERENCE_URL: 'http://tier:8000', WEB_CONCURRENCY: '2' }).httpProcesses).toBe(2);
  });

  it('waits for the model tier 10 s, or less when requests must answer sooner', () => {
    expect(loadConfig({}).inferenceTimeoutMs).toBe(10_000);
    expect(loadConfig({ REQUEST_TIMEOUT_MS: '3000' }).inferenceTimeoutMs).toBe(3000);
  });

  it('logs at info, silent under test, unless LOG_LEVEL says otherwise', () => {
    expect(loadConfig({}).logLevel).toBe('info');
    expect(loadConfig({ NODE_ENV: 'test' }).logLevel).toBe('silent');
    expect(loadConfig({ NODE_ENV: 'test', LOG_LEVEL: 'debug' }).logLevel).toBe('debug');
  });

  it('reads the flags, tokens and replicas', () => {
    const c = loadConfig({
      RATE_LIMIT_LOOPBACK: '1',
      RATE_LIMIT_PER_MINUTE: '0',
      METRICS_TOKEN: 'm',
      INFERENCE_TOKEN: 't',
      INFERENCE_REPLICAS: 'a=1, b=2',
    });
    expect(c).toMatchObject({
      rateLimitLoopback: true,
      rateLimitPerMinute: 0,
      metricsToken: 'm',
      inferenceToken: 't',
      inferenceReplicas: { a: 1, b: 2 },
    });
    expect(loadConfig({})).toMatchObject({
      rateLimitLoopback: false,
      rateLimitPerMinute: 120,
      allowNoToken: false,
      metricsToken: undefined,
    });
  });

  it('gives each configuration its own lists, so changing one leaves the next alone', () => {
    loadConfig({}).inferenceInline.push('x');
    loadConfig({}).inferenceReplicas.x = 1;
    expect(loadConfig({})).toMatchObject({ inferenceInline: ['regression'], inferenceReplicas: {} });
  });
});
