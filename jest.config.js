// One jest run, one project per kind of test. A project whose folder holds a global-setup.ts
// starts (and its teardown stops) the real parts it needs: moto, Azurite, Chromium.
const fs = require('node:fs');
const path = require('node:path');

const transform = { '^.+\\.tsx?$': ['@swc/jest', { jsc: { target: 'es2022' } }] };

// Each project's timeout is sized to the heaviest work one of its tests or hooks starts (an
// emulator start, a CLI process, a fuzz run, the schemathesis run), with room for a slow, busy
// 2-core machine. RECCERT_TEST_TIMEOUT_SCALE stretches them all on a slower one; the reliability
// project's fuzzers also scale with RECCERT_FUZZ_SCALE, as their case counts do.
const kinds = [
  { name: 'unit', timeout: 60_000 },
  { name: 'contract', timeout: 120_000 },
  { name: 'recording', timeout: 300_000 },
  { name: 'cli', timeout: 120_000 },
  { name: 'aws', timeout: 120_000 },
  { name: 'azure', timeout: 120_000 },
  { name: 'infra', timeout: 300_000 },
  { name: 'browser', timeout: 120_000 },
  { name: 'reliability', timeout: 300_000, scaledBy: 'RECCERT_FUZZ_SCALE' },
  { name: 'security', timeout: 300_000 },
];

const positive = (value, fallback) => {
  const n = Number(value);
  return Number.isFinite(n) && n > 0 ? n : fallback;
};
const slowMachine = positive(process.env.RECCERT_TEST_TIMEOUT_SCALE, 1);

/** The timeout of a project's tests and hooks in ms. */
function timeoutOf(kind) {
  const work = kind.scaledBy ? Math.max(1, positive(process.env[kind.scaledBy], 1)) : 1;
  return Math.round(kind.timeout * slowMachine * work);
}

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
        // jest-circus applies only the global testTimeout; this setup file applies the project's (#19).
        setupFilesAfterEnv: [path.join(__dirname, 'test', 'helpers', 'project-timeout.ts')],
        globals: { __RECCERT_PROJECT_TIMEOUT_MS__: timeoutOf(k) },
      };
    }),
};
