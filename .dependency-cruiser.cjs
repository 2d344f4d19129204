/**
 * The dependency rules (npm run depcheck, a CI step): layers point one way — core ← adapters (Node:
 * sharp, onnxruntime, config, log, metrics; the browser) ← serving (web app src/http/, model tier
 * src/oip/, CLI) ← entry points (app.ts, server.ts, src/build/) — and no module imports itself
 * round a cycle. Statuses and Express belong to the serving layers: domain code raises errors with
 * a code (src/errors.ts), and src/http/status.ts alone turns them into statuses.
 */
/** @type {import('dependency-cruiser').IConfiguration} */
module.exports = {
  forbidden: [
    {
      name: 'no-circular',
      severity: 'error',
      comment: 'A cycle means two modules are one: split out what both need, or turn one edge around.',
      from: {},
      to: { circular: true },
    },
    {
      name: 'statuses-only-in-serving',
      severity: 'error',
      comment:
        'HTTP statuses are the serving layers\' business: other modules raise AppErrors with a code (src/errors.ts) ' +
        'and ask its kind. src/build/ is an entry point: it writes the table into the browser bundle.',
      from: { path: '^src/', pathNot: ['^src/http/', '^src/oip/', '^src/build/'] },
      to: { path: '^src/http/status\\.ts$' },
    },
    {
      name: 'express-only-in-serving',
      severity: 'error',
      comment: 'Only the web app and the model tier speak Express; logic never sees req/res.',
      // Known exception, narrowly: the request logger (src/log.ts) and the request metrics
      // (src/metrics.ts) still hold their Express middleware; they may import Express's types only,
      // until that middleware moves into the web app (issue 23, "Layers point one way").
      from: { path: '^src/', pathNot: ['^src/http/', '^src/oip/', '^src/log\\.ts$', '^src/metrics\\.ts$'] },
      to: { path: '^node_modules/(express|@types/express)/' },
    },
    {
      name: 'express-types-only-in-log-and-metrics',
      severity: 'error',
      comment: 'The exception above, kept to types: no Express code runs in the log or metrics modules.',
      from: { path: ['^src/log\\.ts$', '^src/metrics\\.ts$'] },
      to: { path: '^node_modules/(express|@types/express)/', dependencyTypesNot: ['type-only'] },
    },
    {
      name: 'core-is-isomorphic',
      severity: 'error',
      comment: 'src/core/ runs on the server, in the browser and in the CLI: it imports only src/core/ (no node:, no DOM library).',
      from: { path: '^src/core/' },
      to: { pathNot: '^src/core/' },
    },
    {
      name: 'models-are-isomorphic',
      severity: 'error',
      comment:
        'src/models/ (the table and each model\'s folder) is bundled for the browser and used by the server and the CLI: no Node modules, no serving or Node inference code. What differs per place (decoding images) is given to the predictor.',
      from: { path: '^src/models/' },
      to: {
        path: ['^src/http/', '^src/oip/', '^src/cli/', '^src/cluster/', '^src/browser/', '^src/inference/(?!backend\\.ts$)', '^src/(images|config|config-schema|log|metrics|sample-image)\\.ts$', '^node_modules/(sharp|onnxruntime-node|express)/'],
      },
    },
    {
      name: 'models-folders-stand-alone',
      severity: 'error',
      comment: 'A model\'s folder does not reach into another model\'s folder: only the table (src/models/index.ts) lists them.',
      from: { path: '^src/models/([^/]+)/' },
      to: { path: '^src/models/[^/]+/', pathNot: '^src/models/$1/' },
    },
    {
      name: 'models-no-node',
      severity: 'error',
      comment: 'The browser bundle imports the models table.',
      from: { path: '^src/models/' },
      to: { dependencyTypes: ['core'] },
    },
    {
      name: 'only-the-table-imports-model-folders',
      severity: 'error',
      comment: 'Everything outside src/models/ gets the models from the table (src/models/index.ts), never from a model\'s folder.',
      from: { path: '^(src/|app\\.ts$|server\\.ts$)', pathNot: '^src/models/' },
      to: { path: '^src/models/[^/]+/' },
    },
    {
      name: 'browser-no-node',
      severity: 'error',
      comment: 'The browser bundle cannot load Node modules.',
      from: { path: '^src/browser/' },
      to: { dependencyTypes: ['core'] },
    },
    {
      name: 'browser-not-serving-or-node-inference',
      severity: 'error',
      comment: 'The browser engine runs onnxruntime-web itself; the server side of the app is not in its bundle.',
      from: { path: '^src/browser/' },
      to: { path: ['^src/http/', '^src/oip/', '^src/cli/', '^src/inference/(onnx|pool|worker)\\.ts$'] },
    },
    {
      name: 'src-not-tests-or-bench',
      severity: 'error',
      comment: 'The app never depends on its tests or benchmarks.',
      from: { path: '^(src/|app\\.ts$|server\\.ts$)' },
      to: { path: '^(tests|bench)/' },
    },
  ],
  options: {
    doNotFollow: { path: 'node_modules' },
    // Type-only imports count: a type from the HTTP layer is a dependency on it too.
    tsPreCompilationDeps: true,
    tsConfig: { fileName: 'tsconfig.json' },
    enhancedResolveOptions: { exportsFields: ['exports'], conditionNames: ['import', 'require', 'node', 'default', 'types'] },
    reporterOptions: { text: { highlightFocused: true } },
  },
};
