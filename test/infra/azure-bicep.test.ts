/**
 * Checks the Azure Bicep (infra/azure: main.bicep and the modules it composes) with checkov,
 * pinned in .venv-checkov/ by scripts/emulators/checkov.sh, plus the rules of the design that
 * checkov does not know about. The Bicep CLI itself cannot be installed here (it ships outside
 * the reachable registries), so compilation is not checked; checkov parses Bicep on its own (a
 * syntax error is a parsing error), and the wiring between main.bicep and its modules (params
 * passed, outputs read) is checked here instead.
 */
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';

const ROOT = path.resolve(__dirname, '..', '..');
const BICEP_DIR = path.join(ROOT, 'infra', 'azure');
const MAIN = path.join(BICEP_DIR, 'main.bicep');

/** main.bicep and every module, with their text. */
const FILES = [
  'main.bicep',
  ...fs
    .readdirSync(path.join(BICEP_DIR, 'modules'))
    .filter((f) => f.endsWith('.bicep'))
    .map((f) => `modules/${f}`),
].map((file) => ({ file, text: fs.readFileSync(path.join(BICEP_DIR, file), 'utf8') }));

/** The names a Bicep file declares with `param` or `output`. */
function declared(text: string, keyword: 'param' | 'output'): string[] {
  return [...text.matchAll(new RegExp(`^${keyword} (\\w+) `, 'gm'))].map((m) => m[1]!).sort();
}

interface CheckovCheck {
  check_id: string;
  resource: string;
  check_result: { result: string; suppress_comment?: string };
}

interface CheckovReport {
  summary: { passed: number; failed: number; skipped: number; parsing_errors: number };
  results: { passed_checks: CheckovCheck[]; failed_checks: CheckovCheck[]; skipped_checks: CheckovCheck[] };
}

function runCheckov(): CheckovReport {
  // --skip-download: no network here, and the built-in policies are what we pin.
  const out = execFileSync(
    'bash',
    [
      path.join(ROOT, 'scripts', 'emulators', 'checkov.sh'),
      '-d',
      BICEP_DIR,
      '--framework',
      'bicep',
      '--skip-download',
      '-o',
      'json',
    ],
    // checkov exits 1 when a check fails; the report still comes on stdout, read below.
    { cwd: ROOT, encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'], maxBuffer: 64 * 1024 * 1024 },
  );
  return JSON.parse(out) as CheckovReport;
}

function runCheckovKeepingReport(): CheckovReport {
  try {
    return runCheckov();
  } catch (error) {
    const stdout = (error as { stdout?: string }).stdout;
    if (stdout) return JSON.parse(stdout) as CheckovReport;
    throw error;
  }
}

describe('infra/azure (main.bicep and its modules)', () => {
  let report: CheckovReport;
  const source = FILES.map((f) => f.text).join('\n');

  beforeAll(() => {
    report = runCheckovKeepingReport();
  });

  it('passes checkov with no failed check and no parsing error', () => {
    const failed = report.results.failed_checks.map((c) => `${c.check_id} ${c.resource}`);

    expect(failed).toEqual([]);
    expect(report.summary.parsing_errors).toBe(0);
    expect(report.summary.passed).toBeGreaterThanOrEqual(30);
  });

  it('lets checkov see the vault, the storage account and the Function App', () => {
    const scanned = new Set(
      [...report.results.passed_checks, ...report.results.skipped_checks].map((c) => c.resource),
    );

    expect([...scanned]).toEqual(
      expect.arrayContaining([
        'Microsoft.KeyVault/vaults.vault',
        'Microsoft.Storage/storageAccounts.storage',
        'Microsoft.Web/sites.functionApp',
        'Microsoft.Web/serverfarms.plan',
      ]),
    );
  });

  it('justifies every skipped check inline', () => {
    const skips = [...source.matchAll(/\/\/checkov:skip=([A-Z0-9_]+):(.*)$/gm)].map((m) => ({
      id: m[1]!,
      reason: m[2]!.trim(),
    }));

    expect(skips.length).toBe(report.summary.skipped);
    for (const skip of skips) expect(skip.reason.length).toBeGreaterThan(40);
    for (const check of report.results.skipped_checks) {
      expect(check.check_result.suppress_comment?.length ?? 0).toBeGreaterThan(40);
    }
  });

  it('keeps the vault RBAC-only, soft-deleting and purge-protected', () => {
    expect(source).toMatch(/enableRbacAuthorization: true/);
    expect(source).toMatch(/enableSoftDelete: true/);
    expect(source).toMatch(/enablePurgeProtection: true/);
    expect(source).not.toMatch(/accessPolicies/);
  });

  it('uses identities only: no shared keys, no connection strings with keys', () => {
    expect(source).toMatch(/allowSharedKeyAccess: false/);
    expect(source).toMatch(/AzureWebJobsStorage__accountName/);
    expect(source).not.toMatch(/listKeys\(|AccountKey=|listSecrets\(/);
  });

  it("gives the Function App's CORS setting and the app the same origin list, a parameter", () => {
    const main = fs.readFileSync(MAIN, 'utf8');
    expect(main).toMatch(/^param corsOrigins array = \[\]$/m);
    expect(source).toMatch(/cors: \{\s*allowedOrigins: corsOrigins\s*supportCredentials: false\s*\}/);
    expect(source).toMatch(/name: 'RECCERT_CORS_ORIGINS'\s*value: join\(corsOrigins, ','\)/);
  });

  it('gives the app the issuer, audience, JWKS URI and the claim names of its tokens as settings', () => {
    const main = fs.readFileSync(MAIN, 'utf8');
    expect(main).toMatch(/^param jwtTenantClaim string = 'tenant'$/m);
    expect(main).toMatch(/^param jwtRolesClaim string = 'roles'$/m);
    for (const [setting, param] of [
      ['RECCERT_JWT_ISSUER', 'jwtIssuer'],
      ['RECCERT_JWT_AUDIENCE', 'jwtAudience'],
      ['RECCERT_JWKS_URI', 'jwksUri'],
      ['RECCERT_JWT_TENANT_CLAIM', 'jwtTenantClaim'],
      ['RECCERT_JWT_TENANTS_CLAIM', 'jwtTenantsClaim'],
      ['RECCERT_JWT_ROLES_CLAIM', 'jwtRolesClaim'],
    ]) {
      expect(source).toMatch(new RegExp(`name: '${setting}'\\s*value: ${param}\\n`));
    }
  });

  it('creates exactly the tables and queues the adapters use', () => {
    for (const name of ['certificates', 'expiryindex', 'notifications', 'audit', 'recordingjobs']) {
      expect(source).toContain(`'${name}'`);
    }
    for (const name of [
      'ivr-assignments',
      'ivr-assignments-poison',
      'expiry-notifications',
      'recording-jobs',
      'recording-jobs-poison',
    ]) {
      expect(source).toContain(`'${name}'`);
    }
  });

  it('gives recording jobs their account and containers as parameters, Blob Data Contributor on each container', () => {
    const main = fs.readFileSync(MAIN, 'utf8');
    expect(main).toMatch(/^param recordingsStorageAccountName string = ''$/m);
    expect(main).toMatch(/^param recordingContainers array = \[\]$/m);
    expect(source).toMatch(/name: 'RECCERT_BLOB_ENDPOINT'\s*value: recordingsBlobEndpoint\n/);
    expect(source).toMatch(/name: 'RECCERT_RECORDING_CONTAINERS'\s*value: join\(recordingContainers, ','\)/);
    expect(source).toMatch(
      /resource recordingsContributor [^\n]*\n\s*for \(entry, i\) in recordingContainers[\s\S]*?scope: recordingContainerRefs\[i\][\s\S]*?roles\.storageBlobDataContributor/,
    );
  });

  it('names every role assignment in a comment that says why', () => {
    const assignments = FILES.flatMap(({ file, text }) => {
      const lines = text.split('\n');
      return lines
        .map((line, i) => ({ file, line, previous: lines[i - 1] ?? '' }))
        .filter(({ line }) => /^resource \w+ 'Microsoft\.Authorization\/roleAssignments@/.test(line));
    });

    expect(assignments.length).toBeGreaterThanOrEqual(5);
    for (const { file, previous } of assignments) {
      expect({ file, previous }).toEqual({ file, previous: expect.stringMatching(/^\/\/ /) });
    }
    expect(source).not.toMatch(
      /'8e3af657-a8ff-443c-a75c-2fe8c4bcb635'|'b24988ac-6180-42a0-ab88-20f7382dd24c'/,
    );
  });

  it('composes modules that get exactly the params they declare and give the outputs main reads', () => {
    const main = fs.readFileSync(MAIN, 'utf8');
    const modules = [...main.matchAll(/^module (\w+) '([^']+)' = \{\n([\s\S]*?)^\}/gm)].map((m) => ({
      symbol: m[1]!,
      file: m[2]!,
      passed: [...(m[3] ?? '').matchAll(/^ {4}(\w+):/gm)].map((p) => p[1]!).sort(),
    }));

    expect(modules.map((m) => m.file).sort()).toEqual(
      FILES.map((f) => f.file)
        .filter((f) => f !== 'main.bicep')
        .sort(),
    );
    for (const { symbol, file, passed } of modules) {
      const text = fs.readFileSync(path.join(BICEP_DIR, file), 'utf8');
      expect({ file, passed }).toEqual({ file, passed: declared(text, 'param') });
      const read = [...main.matchAll(new RegExp(`\\b${symbol}\\.outputs\\.(\\w+)`, 'g'))].map((m) => m[1]!);
      expect({ file, missing: read.filter((o) => !declared(text, 'output').includes(o)) }).toEqual({
        file,
        missing: [],
      });
    }
    // One thing each: main names and composes, the modules hold the resources.
    expect(main).not.toMatch(/^resource /m);
    expect(declared(main, 'output')).toEqual([
      'adminPageHostName',
      'functionAppHostName',
      'functionAppName',
      'keyVaultUri',
      'staticWebAppName',
      'storageAccountName',
    ]);
  });

  describe('operations (issue 17)', () => {
    const text = (file: string) => FILES.find((f) => f.file === file)?.text ?? '';

    it('e-mails the operationsEmail parameter from an action group', () => {
      const main = fs.readFileSync(MAIN, 'utf8');
      const alerts = text('modules/alerts.bicep');

      expect(main).toMatch(/^param operationsEmail string = ''$/m);
      expect(alerts).toMatch(/resource actionGroup 'Microsoft\.Insights\/actionGroups@/);
      expect(alerts).toMatch(/emailAddress: operationsEmail/);
    });

    it('has alert rules, each acting on the action group, for the poison queues, failures, 5xx and the missed scan', () => {
      const alerts = text('modules/alerts.bicep');
      const rules = [
        ...alerts.matchAll(/^ {4}name: '([\w-]+)'\n {4}displayName: '([^']+)'[\s\S]*?query: '([^']+)'/gm),
      ].map((m) => ({ name: m[1]!, query: m[3]! }));

      expect(rules.map((r) => r.name)).toEqual([
        'poison-queue',
        'function-failures',
        'api-5xx',
        'missed-expiry-scan',
        'webhook-failing',
      ]);
      expect(alerts).toMatch(
        /resource alertRules 'Microsoft\.Insights\/scheduledQueryRules@[\s\S]*actionGroups: \[\s*actionGroup\.id\s*\]/,
      );
      expect(rules.find((r) => r.name === 'poison-queue')?.query).toContain('MaxDequeueCount');
      expect(rules.find((r) => r.name === 'api-5xx')?.query).toMatch(/resultCode\) >= 500/);
      // The scan's timer function (functions/azure/index.ts) must have succeeded within 26 hours.
      expect(rules.find((r) => r.name === 'missed-expiry-scan')?.query).toContain('"expiryScanDaily"');
      expect(alerts).toMatch(
        /window: 'PT26H'\n\s*query: 'requests \| where operation_Name == "expiryScanDaily"/,
      );
      const index = fs.readFileSync(path.join(ROOT, 'functions', 'azure', 'index.ts'), 'utf8');
      expect(index).toContain("app.timer('expiryScanDaily'");
    });

    it('has a workbook with the same figures as the alerts, and the product metrics', () => {
      const workbook = text('modules/workbook.bicep');

      expect(workbook).toMatch(/resource workbook 'Microsoft\.Insights\/workbooks@/);
      for (const title of [
        'API requests and 5xx',
        'API 5xx rate (%)',
        'API latency p99 (ms)',
        'Function failures',
        'Poison queue moves',
        'Uploads, decrypts, rewraps',
        'Daily expiry scan',
        'Webhook notices',
      ]) {
        expect(workbook).toContain(`title: '${title}'`);
      }
    });

    it('hosts the admin page on a Static Web App, whose headers carry the CSP', () => {
      const hosting = text('modules/hosting.bicep');

      expect(hosting).toMatch(/resource site 'Microsoft\.Web\/staticSites@/);
      expect(fs.readFileSync(MAIN, 'utf8')).toMatch(
        /^output adminPageHostName string = hosting\.outputs\.defaultHostname$/m,
      );
    });

    it('keeps the webhook signing key a secure parameter, a Key Vault secret and a Key Vault reference', () => {
      const main = fs.readFileSync(MAIN, 'utf8');
      const app = text('modules/functionapp.bicep');
      const webhook = text('modules/webhook.bicep');

      expect(main).toMatch(/@secure\(\)\nparam webhookSigningKey string = ''/);
      expect(webhook).toMatch(/@secure\(\)\nparam signingKey string/);
      expect(webhook).toMatch(/'Microsoft\.KeyVault\/vaults\/secrets@/);
      expect(app).toMatch(
        /name: 'RECCERT_WEBHOOK_SECRET'\s*value: '@Microsoft\.KeyVault\(SecretUri=\$\{webhookSecretUri\}\)'/,
      );
      expect(app).toMatch(/name: 'RECCERT_WEBHOOK_URL'\s*value: webhookUrl/);
      // Read by the app's identity on that secret only.
      expect(webhook).toMatch(/'4633458b-17de-408a-b874-0445c86b69e6'/);
      expect(webhook).toMatch(/scope: secret\n/);
    });

    it('runs the Function App on Node.js 22', () => {
      expect(text('modules/functionapp.bicep')).toMatch(/runtime: \{\s*name: 'node'\s*version: '22'\s*\}/);
    });
  });
});
