/**
 * Checks the Azure Bicep (infra/azure) with checkov, pinned in .venv-checkov/ by
 * scripts/emulators/checkov.sh, plus the rules of the design that checkov does not know about.
 * The Bicep CLI itself cannot be installed here (it ships outside the reachable registries), so
 * compilation is not checked; checkov parses Bicep on its own.
 */
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';

const ROOT = path.resolve(__dirname, '..', '..');
const BICEP_DIR = path.join(ROOT, 'infra', 'azure');
const MAIN = path.join(BICEP_DIR, 'main.bicep');

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

describe('infra/azure/main.bicep', () => {
  let report: CheckovReport;
  const source = fs.readFileSync(MAIN, 'utf8');

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

  it('creates exactly the tables and queues the adapters use', () => {
    for (const name of ['certificates', 'expiryindex', 'notifications', 'audit']) {
      expect(source).toContain(`'${name}'`);
    }
    for (const name of ['ivr-assignments', 'ivr-assignments-poison', 'expiry-notifications']) {
      expect(source).toContain(`'${name}'`);
    }
  });

  it('names every role assignment in a comment that says why', () => {
    const lines = source.split('\n');
    const assignments = lines
      .map((line, i) => ({ line, i }))
      .filter(({ line }) => /^resource \w+ 'Microsoft\.Authorization\/roleAssignments@/.test(line));

    expect(assignments.length).toBeGreaterThanOrEqual(5);
    for (const { i } of assignments) {
      expect(lines[i - 1]).toMatch(/^\/\/ /);
    }
    expect(source).not.toMatch(
      /'8e3af657-a8ff-443c-a75c-2fe8c4bcb635'|'b24988ac-6180-42a0-ab88-20f7382dd24c'/,
    );
  });
});
