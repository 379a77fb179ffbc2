import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { stepsInPlace } from '../../cli/backup-restore';
import type { LocalRuntime } from '../../functions/local/server';
import { formatBackupBundle } from '../../shared/escrow/backup-bundle';
import { bundleOf, certificate, cliToken, entry, seal, startRuntime, writeEscrow } from './backup-fixture';
import { reccert, tempDir } from './cli';

const NOW = new Date();

describe('reccert backup restore', () => {
  let target: { runtime: LocalRuntime; dataDir: string };
  const tokens = new Map<string, string>();

  beforeAll(async () => {
    target = await startRuntime();
    tokens.set('acme', await cliToken(target.dataDir, 'acme'));
    tokens.set('beta', await cliToken(target.dataDir, 'beta'));
    tokens.set('gamma', await cliToken(target.dataDir, 'gamma'));
  });

  afterAll(async () => {
    await target?.runtime.close();
  });

  // biome-ignore lint/suspicious/noExplicitAny: JSON answers are checked field by field
  async function api(tenant: string, path: string): Promise<any> {
    const response = await fetch(`${target.runtime.url}/v1/tenants/${tenant}${path}`, {
      headers: { authorization: `Bearer ${tokens.get(tenant)}` },
    });
    expect(response.status).toBe(200);
    return response.json();
  }

  function restore(tenant: string, input: string, dir: string, extra: string[] = []) {
    const service = ['--url', target.runtime.url, '--tenant', tenant, '--token', tokens.get(tenant)!];
    return reccert(['backup', 'restore', ...service, input, ...extra], { cwd: dir });
  }

  const escrow = certificate('escrow', NOW);
  const first = certificate('first', NOW);
  const second = certificate('second', NOW);
  const active = certificate('active', NOW);
  const support = certificate('support', NOW);
  const screen = certificate('screen', NOW);
  const expired = certificate('expired', NOW, -400, -30);
  const vaulted = certificate('vaulted', NOW);
  const bundle = bundleOf(
    [
      entry(first, { status: 'retired' }),
      entry(second, { status: 'retired' }),
      entry(active, { profiles: ['record'] }),
      entry(support, { profiles: ['support'] }),
      entry(screen, { screen: true }),
      entry(expired, { status: 'expired' }),
      entry(vaulted, { notEscrowedReason: 'the Key Vault key is not exportable' }),
    ],
    {
      profiles: [
        {
          profileId: 'record',
          activeCertificateId: active.id,
          previousCertificateIds: [second.id, first.id],
        },
        { profileId: 'support', activeCertificateId: support.id, previousCertificateIds: [expired.id] },
      ],
      screenRecordingCertificateIds: [screen.id],
    },
  );

  it('reproduces the certificates and assignments in an empty deployment; a re-run changes nothing', async () => {
    const dir = tempDir();
    writeEscrow(dir, escrow);
    writeFileSync(join(dir, 'backup.cms'), await seal(formatBackupBundle(bundle), escrow.certPem));

    const result = await restore('acme', 'backup.cms', dir, ['--escrow-key', 'escrow.key', '--json']);

    expect(result.stderr).toBe('');
    expect(result.code).toBe(0);
    const report = JSON.parse(result.stdout);
    const outcome = (id: string) =>
      report.certificates.find((c: { certificateId: string }) => c.certificateId === id);
    for (const made of [first, second, active, support, screen])
      expect(outcome(made.id).result).toBe('uploaded');
    expect(outcome(expired.id)).toMatchObject({ result: 'skipped', code: 'CERTIFICATE_EXPIRED' });
    expect(outcome(expired.id).reason).toMatch(
      /stays in the backup: play old recordings with reccert decrypt --key/,
    );
    expect(outcome(vaulted.id)).toMatchObject({ result: 'skipped', code: 'PRIVATE_KEY_NOT_IN_BACKUP' });
    expect(report.failed).toBe(0);
    const record = await api('acme', '/ivr-profiles/record');
    const supportProfile = await api('acme', '/ivr-profiles/support');
    expect(record).toMatchObject({
      activeCertificateId: active.id,
      previousCertificateIds: [second.id, first.id],
    });
    expect(supportProfile).toMatchObject({ activeCertificateId: support.id, previousCertificateIds: [] });
    expect((await api('acme', '/screen-recording-certificates')).certificateIds).toEqual([screen.id]);
    const held = (await api('acme', '/certificates')).items.map((c: { id: string }) => c.id).sort();
    expect(held).toEqual([first.id, second.id, active.id, support.id, screen.id].sort());
    const newestAudit = (await api('acme', '/audit?limit=1')).items[0];

    // The second run starts from the folder `backup open` writes.
    expect(
      (
        await reccert(['backup', 'open', '--escrow-key', 'escrow.key', 'backup.cms', '--out', 'keys'], {
          cwd: dir,
        })
      ).code,
    ).toBe(0);
    const again = await restore('acme', 'keys', dir, ['--json']);

    expect(again.code).toBe(0);
    const rerun = JSON.parse(again.stdout);
    expect(new Set(rerun.certificates.map((c: { result: string }) => c.result))).toEqual(
      new Set(['exists', 'skipped']),
    );
    expect(new Set(rerun.assignments.map((a: { result: string }) => a.result))).toEqual(
      new Set(['in-place', 'skipped']),
    );
    expect(rerun.screenRecording).toMatchObject({ result: 'in-place', added: [] });
    expect(await api('acme', '/ivr-profiles/record')).toEqual(record);
    expect(await api('acme', '/ivr-profiles/support')).toEqual(supportProfile);
    expect((await api('acme', '/audit?limit=1')).items[0]).toEqual(newestAudit);
  });

  it('goes on after a refused certificate, says which and why, and exits 1', async () => {
    const dir = tempDir();
    const good = certificate('beta-good', NOW);
    const broken = certificate('beta-broken', NOW);
    writeEscrow(dir, escrow);
    const bad = bundleOf([entry(broken, { keyOf: good }), entry(good, { profiles: ['record'] })], {
      tenantId: 'beta',
      profiles: [{ profileId: 'record', activeCertificateId: good.id, previousCertificateIds: [broken.id] }],
    });
    writeFileSync(join(dir, 'backup.cms'), await seal(formatBackupBundle(bad), escrow.certPem));

    const result = await restore('beta', 'backup.cms', dir, ['--escrow-key', 'escrow.key']);

    expect(result.code).toBe(1);
    expect(result.stdout).toMatch(new RegExp(`^  failed ${broken.id}: KEY_MISMATCH: `, 'm'));
    expect(result.stdout).toMatch(new RegExp(`^IVR record: ${broken.id} skipped: `, 'm'));
    expect(result.stdout).toMatch(new RegExp(`^IVR record: ${good.id} applied$`, 'm'));
    expect(result.stdout).toMatch(/^1 step\(s\) failed; fix the cause and run the same command again\.$/m);
    expect((await api('beta', '/ivr-profiles/record')).activeCertificateId).toBe(good.id);
  });

  it('makes no replaced certificate active again when the active one of a profile has expired', async () => {
    const dir = tempDir();
    const older = certificate('gamma-older', NOW);
    const lapsed = certificate('gamma-lapsed', NOW, -400, -2);
    writeEscrow(dir, escrow);
    const gamma = bundleOf(
      [
        entry(older, { status: 'retired' }),
        entry(lapsed, { status: 'expired', profiles: ['record'], screen: true }),
      ],
      {
        tenantId: 'gamma',
        profiles: [
          { profileId: 'record', activeCertificateId: lapsed.id, previousCertificateIds: [older.id] },
        ],
        screenRecordingCertificateIds: [lapsed.id],
      },
    );
    writeFileSync(join(dir, 'backup.cms'), await seal(formatBackupBundle(gamma), escrow.certPem));

    const result = await restore('gamma', 'backup.cms', dir, ['--escrow-key', 'escrow.key', '--json']);

    expect(result.code).toBe(0);
    const report = JSON.parse(result.stdout);
    expect(report.assignments).toEqual([
      expect.objectContaining({
        certificateId: older.id,
        result: 'skipped',
        code: 'ACTIVE_CERTIFICATE_NOT_RESTORED',
      }),
      expect.objectContaining({
        certificateId: lapsed.id,
        result: 'skipped',
        code: 'ACTIVE_CERTIFICATE_NOT_RESTORED',
      }),
    ]);
    expect(report.screenRecording).toMatchObject({ result: 'in-place', skipped: [lapsed.id] });
    const profile = await fetch(`${target.runtime.url}/v1/tenants/gamma/ivr-profiles/record`, {
      headers: { authorization: `Bearer ${tokens.get('gamma')}` },
    });
    expect(profile.status).toBe(404);
  });

  it('refuses a folder that backup open did not write', async () => {
    const dir = tempDir();

    const result = await restore('acme', '.', dir);

    expect(result.code).toBe(1);
    expect(result.stderr).toMatch(
      /^NOT_A_BACKUP: '\.' is not a folder written by 'reccert backup open': it has no backup\.json$/m,
    );
  });
});

describe('stepsInPlace', () => {
  it('finds nothing in place on a fresh profile', () => {
    expect(stepsInPlace([], ['a', 'b'])).toBe(0);
  });

  it('finds every step in place after a complete run', () => {
    expect(stepsInPlace(['a', 'b'], ['a', 'b'])).toBe(2);
  });

  it('resumes an interrupted run after the steps it got through', () => {
    expect(stepsInPlace(['a'], ['a', 'b', 'c'])).toBe(1);
  });

  it('continues a history the deployment had before the restore', () => {
    expect(stepsInPlace(['x', 'a', 'b'], ['a', 'b', 'c'])).toBe(2);
    expect(stepsInPlace(['x'], ['a', 'b'])).toBe(0);
  });
});
