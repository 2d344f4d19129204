/** @type {import('jest').Config} */
const project = {
  testEnvironment: '<rootDir>/tests/helpers/node-environment.js',
  roots: ['<rootDir>/tests'],
  testMatch: ['**/*.test.ts'],
  // Every answer from the app is checked against its OpenAPI document (tests/helpers/openapi-check.ts).
  setupFilesAfterEnv: ['<rootDir>/tests/helpers/setup-after-env.ts'],
  testPathIgnorePatterns: ['/node_modules/', '/tests/e2e/'],
  transform: { '^.+\\.ts$': ['ts-jest', { tsconfig: 'tsconfig.json' }] },
};

module.exports = {
  testTimeout: 20000,
  projects: [
    { ...project, displayName: 'app' },
    // The HTTP tests once more with the models on a model tier behind the OIP v2 client
    // (web tier + model tier, as INFERENCE_URL deploys them).
    {
      ...project,
      displayName: 'split',
      testMatch: ['<rootDir>/tests/http/**/*.test.ts'],
      setupFiles: ['<rootDir>/tests/helpers/split-env.js'],
      setupFilesAfterEnv: [...project.setupFilesAfterEnv, '<rootDir>/tests/helpers/split-mode.ts'],
    },
  ],
};
