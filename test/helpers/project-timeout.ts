/**
 * Gives every test of a jest project that project's own timeout (jest.config.js passes it as a
 * global). jest-circus reads only the global `testTimeout`, so a project's timeout has to be set
 * here, before its tests start (issue 13, #19: the schemathesis run was cut at the 60 s default).
 */
const ms = (globalThis as { __RECCERT_PROJECT_TIMEOUT_MS__?: number }).__RECCERT_PROJECT_TIMEOUT_MS__;
if (typeof ms === 'number' && ms > 0) jest.setTimeout(ms);
