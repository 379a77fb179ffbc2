/**
 * The deployment package and its registrations: the esbuild bundle the Functions host loads
 * (scripts/build-azure.ts) starts, and registers one HTTP function per route of the table plus the
 * OpenAPI document, the catch-all, the queue trigger and the timer. Outside the host the
 * `@azure/functions` library names each registration it skips, which is what is read here.
 */
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { functionsRoute, httpRegistrations } from '../../functions/azure/handlers/http';
import { buildAzurePackage } from '../../scripts/build-azure';
import { matchRoute } from '../../scripts/hosts/functions-host';
import { routes } from '../../shared/http/routes';

describe('the Azure Functions package', () => {
  let outDir: string;
  let bundle: string;

  beforeAll(() => {
    outDir = fs.mkdtempSync(path.join(os.tmpdir(), 'reccert-azpkg-'));
    bundle = buildAzurePackage(outDir);
  });

  afterAll(() => {
    fs.rmSync(outDir, { recursive: true, force: true });
  });

  it('is one bundle the host finds through package.json main, with host.json routing /v1 at the root', () => {
    const manifest = JSON.parse(fs.readFileSync(path.join(outDir, 'package.json'), 'utf8'));
    const host = JSON.parse(fs.readFileSync(path.join(outDir, 'host.json'), 'utf8'));

    expect(path.join(outDir, manifest.main)).toBe(bundle);
    expect(manifest.dependencies).toBeUndefined();
    expect(host.extensions.http.routePrefix).toBe('');
    expect(host.extensions.queues.maxDequeueCount).toBe(5);
  });

  it('loads on its own (outside the repository) and registers every function', () => {
    // From a folder without node_modules: the bundle must carry everything it needs.
    const run = spawnSync(process.execPath, ['-e', `require(${JSON.stringify(bundle)})`], {
      cwd: outDir,
      encoding: 'utf8',
    });
    const registered = [...run.stderr.matchAll(/register function "([^"]+)"/g)].map((m) => m[1]);

    expect(run.status).toBe(0);
    expect(registered.sort()).toEqual(
      [
        ...httpRegistrations().map((r) => r.name),
        'ivrAssignmentConsumer',
        'expiryScanDaily',
        'startRecordingJob',
        'getRecordingJob',
        'recordingJobWorker',
      ].sort(),
    );
  });

  it('registers the notice queue function when a webhook is set', () => {
    const run = spawnSync(process.execPath, ['-e', `require(${JSON.stringify(bundle)})`], {
      cwd: outDir,
      encoding: 'utf8',
      env: { ...process.env, RECCERT_WEBHOOK_URL: 'https://hooks.example.com/reccert' },
    });
    const registered = [...run.stderr.matchAll(/register function "([^"]+)"/g)].map((m) => m[1]);

    expect(run.status).toBe(0);
    expect(registered).toContain('expiryNoticeWebhook');
  });
});

describe('the HTTP registrations', () => {
  it('register each route of the table once, with its method and template, plus openapi and a catch-all', () => {
    const registrations = httpRegistrations();

    for (const route of routes) {
      expect(registrations.filter((r) => r.name === route.operationId)).toEqual([
        { name: route.operationId, methods: [route.method], route: functionsRoute(route.path) },
      ]);
    }
    expect(registrations.map((r) => r.route)).toEqual(
      expect.arrayContaining(['v1/openapi.json', 'v1/{*path}']),
    );
    expect(new Set(registrations.map((r) => r.name)).size).toBe(registrations.length);
  });

  it('route like the host: literal segments before parameters, the catch-all last', () => {
    expect(matchRoute('POST', '/v1/tenants/acme/certificates/preview')?.registration.name).toBe(
      'previewCertificate',
    );
    expect(matchRoute('GET', '/v1/tenants/acme/certificates/abc')).toEqual({
      registration: expect.objectContaining({ name: 'getCertificate' }),
      params: { tenantId: 'acme', certificateId: 'abc' },
    });
    expect(matchRoute('PUT', '/v1/tenants/acme/certificates')?.registration.name).toBe('unmatchedRoute');
    expect(matchRoute('GET', '/elsewhere')).toBeUndefined();
  });
});
