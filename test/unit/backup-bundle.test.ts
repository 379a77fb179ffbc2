import { createPublicKey } from 'node:crypto';
import {
  type BackupBundle,
  BackupFormatError,
  formatBackupBundle,
  parseBackupBundle,
} from '../../shared/escrow/backup-bundle';
import { makePair, openssl, rsaKey, tempDir, writeTemp } from '../helpers/pki';

function sampleBundle(): BackupBundle {
  const withKey = makePair({ key: rsaKey('bundle-a') });
  const withoutKey = makePair({ key: rsaKey('bundle-b') });
  return {
    tenantId: 't1',
    createdAt: '2026-06-01T00:00:00.000Z',
    profiles: [
      { profileId: 'record', activeCertificateId: 'a'.repeat(32), previousCertificateIds: ['b'.repeat(32)] },
    ],
    screenRecordingCertificateIds: ['a'.repeat(32)],
    entries: [
      {
        certificateId: 'a'.repeat(32),
        alias: 'voice 2026',
        status: 'active',
        notAfter: '2027-06-01T00:00:00.000Z',
        activeIn: { ivrProfiles: ['record'], screenRecording: true },
        certificatePem: withKey.certPem,
        privateKeyDer: withKey.key.export({ type: 'pkcs8', format: 'der' }),
      },
      {
        certificateId: 'b'.repeat(32),
        alias: 'voice 2025\n-----BEGIN PRIVATE KEY-----',
        status: 'retired',
        notAfter: '2026-07-01T00:00:00.000Z',
        activeIn: { ivrProfiles: [], screenRecording: false },
        certificatePem: withoutKey.certPem,
        notEscrowedReason: 'the key is held in Key Vault and cannot be exported',
      },
    ],
  };
}

describe('backup bundle', () => {
  it('reads back what it writes: entries, keys, history and where each certificate is active', () => {
    const bundle = sampleBundle();

    const parsed = parseBackupBundle(formatBackupBundle(bundle));

    expect(parsed.tenantId).toBe('t1');
    expect(parsed.profiles).toEqual(bundle.profiles);
    expect(parsed.screenRecordingCertificateIds).toEqual(['a'.repeat(32)]);
    expect(parsed.entries).toHaveLength(2);
    const [first, second] = parsed.entries;
    expect(first?.privateKeyDer?.equals(bundle.entries[0]!.privateKeyDer!)).toBe(true);
    expect(first?.activeIn).toEqual({ ivrProfiles: ['record'], screenRecording: true });
    expect(second?.privateKeyDer).toBeUndefined();
    expect(second?.notEscrowedReason).toBe('the key is held in Key Vault and cannot be exported');
  });

  it('carries an escrow copy the service cannot open as a CMS block that openssl reads with -inform PEM', () => {
    const bundle = sampleBundle();
    const copy = Buffer.from([0x30, 0x03, 0x02, 0x01, 0x00]);
    bundle.entries[1] = {
      ...bundle.entries[1]!,
      notEscrowedReason: undefined,
      escrowCopyCms: copy,
      escrowCopyFingerprintSha256: 'f'.repeat(64),
    } as (typeof bundle.entries)[number];

    const text = formatBackupBundle(bundle);
    const parsed = parseBackupBundle(text).entries[1]!;

    expect(text).toContain('-----BEGIN CMS-----');
    expect(text).toContain(
      `escrowed: sealed (the CMS block below is sealed to escrow certificate ${'f'.repeat(64)};`,
    );
    expect(parsed.escrowCopyCms?.equals(copy)).toBe(true);
    expect(parsed.escrowCopyFingerprintSha256).toBe('f'.repeat(64));
    expect(parsed.privateKeyDer).toBeUndefined();
    expect(parsed.notEscrowedReason).toBeUndefined();
  });

  it('keeps an alias from opening a PEM block of its own', () => {
    const text = formatBackupBundle(sampleBundle());

    expect(text.match(/-----BEGIN PRIVATE KEY-----/g)).toHaveLength(1);
    expect(parseBackupBundle(text).entries[1]?.alias).toBe('voice 2025 - - -BEGIN PRIVATE KEY- - -');
  });

  it('is read by stock openssl: the first certificate and key match', () => {
    const dir = tempDir();
    const file = writeTemp(dir, 'bundle.pem', formatBackupBundle(sampleBundle()));

    const certModulus = openssl(['x509', '-in', file, '-noout', '-modulus']);
    const keyModulus = openssl(['rsa', '-in', file, '-noout', '-modulus']);

    expect(certModulus).toBe(keyModulus);
    const expected = createPublicKey(rsaKey('bundle-a')).export({ format: 'jwk' }).n;
    expect(
      Buffer.from(expected ?? '', 'base64url')
        .toString('hex')
        .toUpperCase(),
    ).toBe(certModulus.trim().replace('Modulus=', ''));
  });

  it('refuses text that is not a reccert backup', () => {
    expect(() => parseBackupBundle('-----BEGIN CERTIFICATE-----\n')).toThrow(BackupFormatError);
  });

  it('refuses an entry whose fields are missing', () => {
    const text = formatBackupBundle(sampleBundle()).replace(/^status: retired\n/m, '');

    expect(() => parseBackupBundle(text)).toThrow(/no "status:" line/);
  });
});
