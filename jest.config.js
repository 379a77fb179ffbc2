// One jest run, one project per kind of test. A project whose folder holds a global-setup.ts
// starts (and its teardown stops) the real parts it needs: moto, Lowkey Vault, Azurite, Chromium.
const fs = require('node:fs');
const path = require('node:path');

const transform = { '^.+\\.tsx?$': ['@swc/jest', { jsc: { target: 'es2022' } }] };

const kinds = [
  { name: 'unit', timeout: 30_000 },
  { name: 'contract', timeout: 60_000 },
  { name: 'recording', timeout: 300_000 },
  { name: 'cli', timeout: 60_000 },
  { name: 'aws', timeout: 120_000 },
  { name: 'azure', timeout: 120_000 },
  { name: 'infra', timeout: 300_000 },
  { name: 'browser', timeout: 120_000 },
  { name: 'reliability', timeout: 300_000 },
];

const only = process.env.RECCERT_TEST_PROJECTS?.split(',').filter(Boolean);

module.exports = {
  testTimeout: 60_000,
  projects: kinds
    .filter((k) => fs.existsSync(path.join(__dirname, 'test', k.name)))
    .filter((k) => !only || only.includes(k.name))
    .map((k) => {
      const dir = path.join(__dirname, 'test', k.name);
      const setup = path.join(dir, 'global-setup.ts');
      const teardown = path.join(dir, 'global-teardown.ts');
      return {
        displayName: k.name,
        testEnvironment: 'node',
        transform,
        testMatch: [`<rootDir>/test/${k.name}/**/*.test.ts`],
        ...(fs.existsSync(setup) ? { globalSetup: setup } : {}),
        ...(fs.existsSync(teardown) ? { globalTeardown: teardown } : {}),
        slowTestThreshold: 30,
      };
    }),
};
