/**
 * Test timeouts follow the work (issue 13, #19): on a loaded 2-core machine the schemathesis run
 * was cut at jest's global 60 s, because the per-project timeouts in jest.config.js were never
 * handed to jest-circus (which reads only the global one).
 */
import { resolve } from 'node:path';

interface ProjectConfig {
  displayName: string;
  setupFilesAfterEnv?: string[];
  globals?: { __RECCERT_PROJECT_TIMEOUT_MS__?: number };
}

const CONFIG = resolve(__dirname, '..', '..', 'jest.config.js');

function loadConfig(env: Record<string, string | undefined>): { projects: ProjectConfig[] } {
  const saved = { ...process.env };
  Object.assign(process.env, env);
  for (const [k, v] of Object.entries(env)) if (v === undefined) delete process.env[k];
  try {
    jest.resetModules();
    return require(CONFIG) as { projects: ProjectConfig[] };
  } finally {
    process.env = saved;
  }
}

const timeoutOf = (config: { projects: ProjectConfig[] }, name: string) =>
  config.projects.find((p) => p.displayName === name)?.globals?.__RECCERT_PROJECT_TIMEOUT_MS__;

describe('jest project timeouts', () => {
  it('regression #19: this test runs with its own project timeout, not the 60 s global one', () => {
    const applied = (globalThis as Record<symbol, unknown>)[Symbol.for('TEST_TIMEOUT_SYMBOL')];
    expect(applied).toBe(
      (globalThis as { __RECCERT_PROJECT_TIMEOUT_MS__?: number }).__RECCERT_PROJECT_TIMEOUT_MS__,
    );
    expect(applied).toBeGreaterThanOrEqual(60_000);
  });

  it('regression #19: every project applies its timeout, and the heavy ones get minutes', () => {
    const config = loadConfig({
      RECCERT_TEST_PROJECTS: undefined,
      RECCERT_TEST_TIMEOUT_SCALE: undefined,
      RECCERT_FUZZ_SCALE: undefined,
    });
    for (const project of config.projects) {
      expect(project.setupFilesAfterEnv?.some((f) => f.endsWith('project-timeout.ts'))).toBe(true);
      expect(timeoutOf(config, project.displayName)).toBeGreaterThanOrEqual(60_000);
    }
    for (const heavy of ['recording', 'infra', 'reliability', 'security'])
      expect(timeoutOf(config, heavy)).toBeGreaterThanOrEqual(300_000);
  });

  it('stretches with RECCERT_TEST_TIMEOUT_SCALE, and the fuzzers with RECCERT_FUZZ_SCALE', () => {
    const base = loadConfig({
      RECCERT_TEST_PROJECTS: undefined,
      RECCERT_TEST_TIMEOUT_SCALE: undefined,
      RECCERT_FUZZ_SCALE: undefined,
    });
    const slow = loadConfig({
      RECCERT_TEST_PROJECTS: undefined,
      RECCERT_TEST_TIMEOUT_SCALE: '3',
      RECCERT_FUZZ_SCALE: '10',
    });
    expect(timeoutOf(slow, 'contract')).toBe(3 * timeoutOf(base, 'contract')!);
    expect(timeoutOf(slow, 'reliability')).toBe(30 * timeoutOf(base, 'reliability')!);
  });
});
