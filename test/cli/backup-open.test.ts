import { readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { formatBackupBundle } from '../../shared/escrow/backup-bundle';
import { bundleOf, certificate, entry, seal, writeEscrow } from './backup-fixture';
import { errorLine, filesIn, openssl, reccert, tempDir } from './cli';

const NOW = new Date();

function mode(path: string): number {
  return statSync(path).mode & 0o777;
}

/** `openssl x509 -modulus` and `openssl rsa -modulus` agree: the key is the certificate's. */
function opensslSaysMatches(dir: string, id: string): boolean {
  const cert = openssl(['x509', '-noout', '-modulus', '-in', `${id}.pem`], { cwd: dir });
  const key = openssl(['rsa', '-noout', '-modulus', '-in', `${id}.key`], { cwd: dir });
  return cert === key;
}

describe('reccert backup open', () => {
  const escrow = certificate('escrow', NOW);
  const active = certificate('active', NOW);
  const expired = certificate('expired', NOW, -400, -30);
  const vaulted = certificate('vaulted', NOW);
  const bundle = bundleOf(
    [
      entry(active, { profiles: ['record'] }),
      entry(expired, { status: 'expired' }),
      entry(vaulted, { notEscrowedReason: 'the Key Vault key is not exportable' }),
    ],
    {
      profiles: [
        { profileId: 'record', activeCertificateId: active.id, previousCertificateIds: [expired.id] },
      ],
    },
  );

  it('opens the sealed escrow copy a Key Vault deployment puts in the backup, and writes its key', async () => {
    const dir = tempDir();
    writeEscrow(dir, escrow);
    const vaultedKey = vaulted.key.export({ type: 'pkcs8', format: 'der' });
    const azureBundle = bundleOf([
      {
        ...entry(vaulted, { notEscrowedReason: 'held in Key Vault' }),
        notEscrowedReason: undefined,
        escrowCopyCms: await seal(vaultedKey, escrow.certPem),
      },
    ]);
    writeFileSync(join(dir, 'backup.cms'), await seal(formatBackupBundle(azureBundle), escrow.certPem));

    const result = await reccert(
      ['backup', 'open', '--escrow-key', 'escrow.key', 'backup.cms', '--out', 'keys'],
      {
        cwd: dir,
      },
    );

    expect(result.stderr).toBe('');
    expect(result.code).toBe(0);
    expect(filesIn(join(dir, 'keys'))).toEqual(
      [`${vaulted.id}.key`, `${vaulted.id}.pem`, 'backup.json'].sort(),
    );
    expect(opensslSaysMatches(join(dir, 'keys'), vaulted.id)).toBe(true);
  });

  it('writes each certificate and its key (0600, folder 0700) and a summary, every key matching', async () => {
    const dir = tempDir();
    writeEscrow(dir, escrow);
    writeFileSync(join(dir, 'backup.cms'), await seal(formatBackupBundle(bundle), escrow.certPem));

    const result = await reccert(
      [
        'backup',
        'open',
        '--escrow-key',
        'escrow.key',
        '--escrow-cert',
        'escrow.pem',
        'backup.cms',
        '--out',
        'keys',
      ],
      { cwd: dir },
    );

    expect(result.stderr).toBe('');
    expect(result.code).toBe(0);
    const keys = join(dir, 'keys');
    expect(mode(keys)).toBe(0o700);
    expect(filesIn(keys)).toEqual(
      [
        `${active.id}.key`,
        `${active.id}.pem`,
        `${expired.id}.key`,
        `${expired.id}.pem`,
        `${vaulted.id}.pem`,
        'backup.json',
      ].sort(),
    );
    for (const name of filesIn(keys)) expect(mode(join(keys, name))).toBe(0o600);
    expect(opensslSaysMatches(keys, active.id)).toBe(true);
    expect(opensslSaysMatches(keys, expired.id)).toBe(true);
    expect(readFileSync(join(keys, `${active.id}.pem`), 'utf8')).toBe(active.certPem);
    const summary = JSON.parse(readFileSync(join(keys, 'backup.json'), 'utf8'));
    expect(summary.profiles).toEqual(bundle.profiles);
    expect(
      summary.certificates.find((c: { certificateId: string }) => c.certificateId === vaulted.id),
    ).toMatchObject({
      keyFile: null,
      notEscrowedReason: 'the Key Vault key is not exportable',
    });
    expect(JSON.stringify(summary)).not.toMatch(/PRIVATE KEY/);
    expect(result.stdout).toMatch(new RegExp(`IVR profile record: ${active.id}, before: ${expired.id}`));
    expect(result.stdout).toMatch(/none: not escrowed \(the Key Vault key is not exportable\)/);
    expect(result.stdout).toMatch(/expired; not in use/);
    expect(result.stdout).not.toMatch(/PRIVATE KEY/);
  });

  it('opens a backup sealed by openssl cms -encrypt, without --escrow-cert', async () => {
    const dir = tempDir();
    writeEscrow(dir, escrow);
    writeFileSync(join(dir, 'bundle.txt'), formatBackupBundle(bundle));
    openssl(
      [
        'cms',
        '-encrypt',
        '-binary',
        '-aes-256-gcm',
        '-recip',
        'escrow.pem',
        '-keyopt',
        'rsa_padding_mode:oaep',
        '-keyopt',
        'rsa_oaep_md:sha256',
        '-keyopt',
        'rsa_mgf1_md:sha256',
        '-in',
        'bundle.txt',
        '-outform',
        'DER',
        '-out',
        'backup.cms',
      ],
      { cwd: dir },
    );

    const result = await reccert(
      ['backup', 'open', '--escrow-key', 'escrow.key', 'backup.cms', '--out', 'keys', '--json'],
      {
        cwd: dir,
      },
    );

    expect(result.code).toBe(0);
    const report = JSON.parse(result.stdout);
    expect(report.certificates.map((c: { keyCheck: string }) => c.keyCheck)).toEqual([
      'matches',
      'matches',
      'absent',
    ]);
    expect(opensslSaysMatches(join(dir, 'keys'), active.id)).toBe(true);
  });

  it('refuses with NO_MATCHING_KEY for another key and writes nothing', async () => {
    const dir = tempDir();
    writeEscrow(dir, certificate('stranger', NOW));
    writeFileSync(join(dir, 'backup.cms'), await seal(formatBackupBundle(bundle), escrow.certPem));

    const result = await reccert(
      ['backup', 'open', '--escrow-key', 'escrow.key', 'backup.cms', '--out', 'keys'],
      { cwd: dir },
    );

    expect(result.code).toBe(1);
    expect(errorLine(result)).toMatch(/^NO_MATCHING_KEY: /);
    expect(filesIn(dir)).toEqual(['backup.cms', 'escrow.key', 'escrow.pem']);
  });

  it('refuses a tampered backup with INTEGRITY_CHECK_FAILED and writes nothing', async () => {
    const dir = tempDir();
    writeEscrow(dir, escrow);
    const sealed = await seal(formatBackupBundle(bundle), escrow.certPem);
    sealed[sealed.length - 200]! ^= 0x01;
    writeFileSync(join(dir, 'backup.cms'), sealed);

    const result = await reccert(
      ['backup', 'open', '--escrow-key', 'escrow.key', 'backup.cms', '--out', 'keys'],
      { cwd: dir },
    );

    expect(result.code).toBe(1);
    expect(errorLine(result)).toMatch(/^INTEGRITY_CHECK_FAILED: /);
    expect(filesIn(dir)).toEqual(['backup.cms', 'escrow.key', 'escrow.pem']);
  });

  it('refuses a recording that is not a key backup with NOT_A_BACKUP', async () => {
    const dir = tempDir();
    writeEscrow(dir, escrow);
    writeFileSync(join(dir, 'call.cms'), await seal('RIFF....WAVEfmt ', escrow.certPem));

    const result = await reccert(
      ['backup', 'open', '--escrow-key', 'escrow.key', 'call.cms', '--out', 'keys'],
      { cwd: dir },
    );

    expect(result.code).toBe(1);
    expect(errorLine(result)).toMatch(/^NOT_A_BACKUP: this is not a reccert key backup/);
  });

  it('reports a key that does not belong to its certificate and exits 1', async () => {
    const dir = tempDir();
    writeEscrow(dir, escrow);
    const wrong = bundleOf([entry(active, { keyOf: vaulted })]);
    writeFileSync(join(dir, 'backup.cms'), await seal(formatBackupBundle(wrong), escrow.certPem));

    const result = await reccert(
      ['backup', 'open', '--escrow-key', 'escrow.key', 'backup.cms', '--out', 'keys'],
      { cwd: dir },
    );

    expect(result.code).toBe(1);
    expect(errorLine(result)).toMatch(/KEY_MISMATCH/);
    expect(opensslSaysMatches(join(dir, 'keys'), active.id)).toBe(false);
  });

  it('replaces nothing without --force, and everything with it', async () => {
    const dir = tempDir();
    writeEscrow(dir, escrow);
    writeFileSync(join(dir, 'backup.cms'), await seal(formatBackupBundle(bundle), escrow.certPem));
    const args = ['backup', 'open', '--escrow-key', 'escrow.key', 'backup.cms', '--out', 'keys'];
    expect((await reccert(args, { cwd: dir })).code).toBe(0);
    writeFileSync(join(dir, 'keys', 'backup.json'), 'mine');

    const again = await reccert(args, { cwd: dir });
    const forced = await reccert([...args, '--force'], { cwd: dir });

    expect(again.code).toBe(1);
    expect(errorLine(again)).toMatch(/^FILE_EXISTS: /);
    expect(forced.code).toBe(0);
    expect(readFileSync(join(dir, 'keys', 'backup.json'), 'utf8')).toMatch(/reccert-backup-folder: 1/);
    expect(filesIn(join(dir, 'keys')).filter((f) => f.startsWith('.'))).toEqual([]);
  });

  it('says which option is missing, and rejects the options of another subcommand', async () => {
    const noKey = await reccert(['backup', 'open', 'backup.cms', '--out', 'keys']);
    const foreign = await reccert([
      'backup',
      'open',
      '--escrow-key',
      'k',
      '--url',
      'http://127.0.0.1:1',
      'b.cms',
      '--out',
      'd',
    ]);
    const unknown = await reccert(['backup', 'close']);

    expect(noKey.code).toBe(2);
    expect(errorLine(noKey)).toMatch(/--escrow-key/);
    expect(errorLine(foreign)).toMatch(/backup open takes no --url/);
    expect(errorLine(unknown)).toMatch(/unknown subcommand 'close': download, open or restore/);
  });
});

describe('reccert escrow set', () => {
  it('refuses a file holding a private key before anything is sent', async () => {
    const dir = tempDir();
    const escrow = certificate('escrow', NOW);
    writeFileSync(join(dir, 'both.pem'), `${escrow.certPem}${escrow.keyPem}`);

    // Nothing listens on port 9: had the CLI sent the request, the error would be SERVICE_UNREACHABLE.
    const result = await reccert(
      ['escrow', 'set', '--url', 'http://127.0.0.1:9', '--tenant', 'acme', '--token', 'x.y.z', 'both.pem'],
      { cwd: dir },
    );

    expect(result.code).toBe(1);
    expect(errorLine(result)).toMatch(/^PRIVATE_KEY_NOT_SENT: 'both.pem' holds a private key/);
  });
});
