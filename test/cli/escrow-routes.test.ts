/**
 * The escrow and backup commands against the service's escrow routes (PUT/GET escrow-certificate,
 * GET key-backup; issue 15). Everything the CLI does without those routes is tested in
 * backup-open.test.ts and backup-restore.test.ts; this file needs a server that has them.
 */
import { readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { LocalRuntime } from '../../functions/local/server';
import { certificate, cliToken, startRuntime, writeEscrow } from './backup-fixture';
import { errorLine, openssl, reccert, tempDir } from './cli';

const NOW = new Date();

describe('reccert escrow and backup against the escrow routes', () => {
  let source: { runtime: LocalRuntime; dataDir: string };
  let fresh: { runtime: LocalRuntime; dataDir: string };
  let sourceToken: string;
  let freshToken: string;

  beforeAll(async () => {
    source = await startRuntime();
    fresh = await startRuntime();
    sourceToken = await cliToken(source.dataDir, 'acme', ['admin', 'decrypt']);
    freshToken = await cliToken(fresh.dataDir, 'acme', ['admin', 'decrypt']);
  });

  afterAll(async () => {
    await source?.runtime.close();
    await fresh?.runtime.close();
  });

  const service = (url: string, token: string) => ['--url', url, '--tenant', 'acme', '--token', token];

  async function assign(url: string, token: string, profileId: string, certificateId: string): Promise<void> {
    const headers = { authorization: `Bearer ${token}`, 'content-type': 'application/json' };
    const put = await fetch(`${url}/v1/tenants/acme/ivr-profiles/${profileId}/recording-certificate`, {
      method: 'PUT',
      headers,
      body: JSON.stringify({ certificateId }),
    });
    expect(put.status).toBe(202);
    for (let i = 0; i < 100; i++) {
      const get = await fetch(`${url}/v1/tenants/acme/ivr-profiles/${profileId}`, { headers });
      if (
        get.status === 200 &&
        ((await get.json()) as { activeCertificateId: string }).activeCertificateId === certificateId
      )
        return;
      await new Promise((r) => setTimeout(r, 100));
    }
    throw new Error(`assignment of ${certificateId} was not applied`);
  }

  it('registers the escrow certificate, backs up every key, opens it, and restores a fresh deployment that plays old recordings', async () => {
    const dir = tempDir();
    const escrow = certificate('escrow', NOW);
    writeEscrow(dir, escrow);
    const before = certificate('before', NOW);
    const pkcs1 = certificate('pkcs1', NOW);
    const encrypted = certificate('encrypted', NOW);
    writeFileSync(join(dir, 'before.pem'), before.certPem);
    writeFileSync(join(dir, 'before.key'), before.keyPem);
    writeFileSync(join(dir, 'pkcs1.pem'), pkcs1.certPem);
    writeFileSync(join(dir, 'pkcs1.key'), pkcs1.key.export({ type: 'pkcs1', format: 'pem' }));
    writeFileSync(join(dir, 'encrypted.pem'), encrypted.certPem);
    writeFileSync(
      join(dir, 'encrypted.key'),
      encrypted.key.export({ type: 'pkcs8', format: 'pem', cipher: 'aes-256-cbc', passphrase: 's3cret' }),
    );
    const url = source.runtime.url;
    expect(
      (await reccert(['upload', ...service(url, sourceToken), 'before.pem', 'before.key'], { cwd: dir }))
        .code,
    ).toBe(0);

    const set = await reccert(['escrow', 'set', ...service(url, sourceToken), 'escrow.pem'], { cwd: dir });

    expect(set.stderr).toBe('');
    expect(set.code).toBe(0);
    expect(set.stdout).toMatch(/^Escrow certificate registered\.$/m);
    expect(set.stdout).toMatch(/^Escrowed keys: +1$/m);
    expect(set.stdout).toMatch(/^Not escrowed: +0$/m);

    expect(
      (await reccert(['upload', ...service(url, sourceToken), 'pkcs1.pem', 'pkcs1.key'], { cwd: dir })).code,
    ).toBe(0);
    const upload = [
      'upload',
      ...service(url, sourceToken),
      'encrypted.pem',
      'encrypted.key',
      '--password-file',
      '-',
    ];
    expect((await reccert(upload, { cwd: dir, input: 's3cret\n' })).code).toBe(0);
    await assign(url, sourceToken, 'record', before.id);
    await assign(url, sourceToken, 'record', pkcs1.id);
    writeFileSync(join(dir, 'call.wav'), Buffer.from('RIFF a recording made before the backup'));
    expect(
      (await reccert(['encrypt', '--cert', 'before.pem', 'call.wav', 'call.cms'], { cwd: dir })).code,
    ).toBe(0);

    const show = await reccert(['escrow', 'show', ...service(url, sourceToken), '--json'], { cwd: dir });
    expect(show.code).toBe(0);
    expect(JSON.parse(show.stdout)).toMatchObject({ escrowedKeys: 3, notEscrowed: [] });

    const download = await reccert(
      ['backup', 'download', ...service(url, sourceToken), '--out', 'backup.cms'],
      { cwd: dir },
    );
    expect(download.code).toBe(0);
    expect(statSync(join(dir, 'backup.cms')).mode & 0o777).toBe(0o600);
    const plain = openssl(
      [
        'cms',
        '-decrypt',
        '-binary',
        '-inform',
        'DER',
        '-in',
        'backup.cms',
        '-inkey',
        'escrow.key',
        '-recip',
        'escrow.pem',
      ],
      { cwd: dir },
    );
    expect(plain).toMatch(/^reccert-backup: 1$/m);
    for (const made of [before, pkcs1, encrypted]) expect(plain).toContain(`certificateId: ${made.id}`);

    const opened = await reccert(
      ['backup', 'open', '--escrow-key', 'escrow.key', 'backup.cms', '--out', 'keys', '--json'],
      {
        cwd: dir,
      },
    );
    expect(opened.code).toBe(0);
    const checks = JSON.parse(opened.stdout).certificates.map((c: { keyCheck: string }) => c.keyCheck);
    expect(checks).toEqual(['matches', 'matches', 'matches']);
    expect(readFileSync(join(dir, 'keys', `${before.id}.pem`), 'utf8')).toBe(before.certPem);

    const restored = await reccert(
      ['backup', 'restore', ...service(fresh.runtime.url, freshToken), 'keys', '--json'],
      { cwd: dir },
    );
    expect(restored.code).toBe(0);
    const headers = { authorization: `Bearer ${freshToken}` };
    const profile = await fetch(`${fresh.runtime.url}/v1/tenants/acme/ivr-profiles/record`, { headers });
    expect(await profile.json()).toMatchObject({
      activeCertificateId: pkcs1.id,
      previousCertificateIds: [before.id],
    });
    const played = await fetch(`${fresh.runtime.url}/v1/tenants/acme/recordings/decrypt`, {
      method: 'POST',
      headers: { ...headers, 'content-type': 'application/cms' },
      body: readFileSync(join(dir, 'call.cms')),
    });
    expect(played.status).toBe(200);
    expect(Buffer.from(await played.arrayBuffer()).toString()).toBe(
      'RIFF a recording made before the backup',
    );
  });

  it('says NO_ESCROW_CERTIFICATE when there is no escrow certificate to back up to', async () => {
    const dir = tempDir();
    const token = await cliToken(fresh.dataDir, 'no-escrow');
    const args = [
      'backup',
      'download',
      '--url',
      fresh.runtime.url,
      '--tenant',
      'no-escrow',
      '--token',
      token,
      '--out',
      'b.cms',
    ];

    const result = await reccert(args, { cwd: dir });

    expect(result.code).toBe(1);
    expect(errorLine(result)).toMatch(/^NO_ESCROW_CERTIFICATE: /);
  });
});
