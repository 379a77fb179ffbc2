import { createPrivateKey, generateKeyPairSync } from 'node:crypto';
import { join } from 'node:path';
import type { ErrorCode } from '../../shared/errors';
import { AppError } from '../../shared/errors';
import { toPem } from '../../shared/pki/pem';
import { type ValidationOptions, validateUpload } from '../../shared/pki/validate';
import {
  daysFrom,
  FIXED_NOW,
  makePair,
  openssl,
  opensslPair,
  opensslSelfSigned,
  rsaKey,
  tempDir,
  writeTemp,
} from '../helpers/pki';

const aws: ValidationOptions = { flow: 'aws', now: FIXED_NOW, requirePrivateKey: true };
const azure: ValidationOptions = { ...aws, flow: 'azure' };

function codeOf(fn: () => unknown): ErrorCode | undefined {
  try {
    fn();
  } catch (error) {
    if (error instanceof AppError) return error.code;
    throw error;
  }
  return undefined;
}

describe('validateUpload', () => {
  const pair = makePair();

  it('accepts a valid self-signed certificate with its PKCS#8 key and shows its details', () => {
    const result = validateUpload({ certificate: pair.certPem, privateKey: pair.keyPem }, aws);
    expect(result.details.subjectName).toBe('Genesys Recording');
    expect(result.details.subjectDN).toBe('O=Genesys,ST=California,C=US,CN=Genesys Recording');
    expect(result.details.keySize).toBe(2048);
    expect(result.details.selfSigned).toBe(true);
    expect(result.details.fingerprintSha256).toMatch(/^[0-9a-f]{64}$/);
    expect(result.warnings).toEqual([]);
    expect(result.privateKey?.format).toBe('pkcs8');
  });

  describe('certificate field', () => {
    it('refuses text that is not PEM with INVALID_PEM', () => {
      expect(codeOf(() => validateUpload({ certificate: 'hello', privateKey: pair.keyPem }, aws))).toBe(
        'INVALID_PEM',
      );
    });

    it('refuses a DER certificate with INVALID_PEM', () => {
      const derCert = Buffer.from(pair.certPem.split('\n').slice(1, -2).join(''), 'base64');
      expect(
        codeOf(() =>
          validateUpload({ certificate: derCert.toString('latin1'), privateKey: pair.keyPem }, aws),
        ),
      ).toBe('INVALID_PEM');
    });

    it('refuses a PEM block with broken base64 with INVALID_PEM', () => {
      const broken = pair.certPem.replace(/\n[A-Za-z0-9+/]{10}/, '\n!!!!!!!!!!');
      expect(codeOf(() => validateUpload({ certificate: broken, privateKey: pair.keyPem }, aws))).toBe(
        'INVALID_PEM',
      );
    });

    it('refuses a CSR with NOT_A_CERTIFICATE', () => {
      const dir = tempDir();
      const keyPath = writeTemp(dir, 'k.pem', pair.keyPem);
      const csr = openssl(['req', '-new', '-key', keyPath, '-subj', '/CN=csr']);
      expect(codeOf(() => validateUpload({ certificate: csr, privateKey: pair.keyPem }, aws))).toBe(
        'NOT_A_CERTIFICATE',
      );
    });

    it('refuses a private key in the certificate field with NOT_A_CERTIFICATE', () => {
      expect(codeOf(() => validateUpload({ certificate: pair.keyPem, privateKey: pair.keyPem }, aws))).toBe(
        'NOT_A_CERTIFICATE',
      );
    });

    it('refuses a CERTIFICATE block that holds no certificate with NOT_A_CERTIFICATE', () => {
      const fake = toPem('CERTIFICATE', Buffer.from('30030201ff', 'hex'));
      expect(codeOf(() => validateUpload({ certificate: fake, privateKey: pair.keyPem }, aws))).toBe(
        'NOT_A_CERTIFICATE',
      );
    });

    it('refuses two certificates with MULTIPLE_CERTIFICATES', () => {
      const other = makePair({ key: rsaKey('other') });
      expect(
        codeOf(() =>
          validateUpload({ certificate: pair.certPem + other.certPem, privateKey: pair.keyPem }, aws),
        ),
      ).toBe('MULTIPLE_CERTIFICATES');
    });

    it('refuses an empty certificate with VALIDATION_ERROR', () => {
      expect(codeOf(() => validateUpload({ certificate: '  ', privateKey: pair.keyPem }, aws))).toBe(
        'VALIDATION_ERROR',
      );
    });

    it('refuses an EC certificate with UNSUPPORTED_KEY_ALGORITHM', () => {
      const ec = generateKeyPairSync('ec', { namedCurve: 'P-256' }).privateKey;
      const cert = makePair({ key: ec });
      expect(codeOf(() => validateUpload({ certificate: cert.certPem, privateKey: cert.keyPem }, aws))).toBe(
        'UNSUPPORTED_KEY_ALGORITHM',
      );
    });

    it('refuses a 1024-bit key with KEY_TOO_SMALL', () => {
      const small = makePair({ key: rsaKey('small', 1024) });
      expect(
        codeOf(() => validateUpload({ certificate: small.certPem, privateKey: small.keyPem }, aws)),
      ).toBe('KEY_TOO_SMALL');
    });

    it('refuses an expired certificate with CERTIFICATE_EXPIRED', () => {
      const old = makePair({ notBefore: daysFrom(FIXED_NOW, -400), notAfter: daysFrom(FIXED_NOW, -1) });
      expect(codeOf(() => validateUpload({ certificate: old.certPem, privateKey: old.keyPem }, aws))).toBe(
        'CERTIFICATE_EXPIRED',
      );
    });

    it('refuses a certificate that is not yet valid with CERTIFICATE_NOT_YET_VALID', () => {
      const future = makePair({ notBefore: daysFrom(FIXED_NOW, 2), notAfter: daysFrom(FIXED_NOW, 400) });
      expect(
        codeOf(() => validateUpload({ certificate: future.certPem, privateKey: future.keyPem }, aws)),
      ).toBe('CERTIFICATE_NOT_YET_VALID');
    });

    it('accepts a certificate expiring within 30 days with EXPIRES_SOON', () => {
      const soon = makePair({ notAfter: daysFrom(FIXED_NOW, 10) });
      const result = validateUpload({ certificate: soon.certPem, privateKey: soon.keyPem }, aws);
      expect(result.warnings.map((w) => w.code)).toEqual(['EXPIRES_SOON']);
      expect(result.warnings[0]?.message).toContain('10 days');
    });

    it('refuses a self-signed certificate whose signature does not verify with INVALID_SIGNATURE', () => {
      const der = Buffer.from(pair.certPem.split('\n').slice(1, -2).join(''), 'base64');
      der[der.length - 5] = (der[der.length - 5] ?? 0) ^ 0xff;
      expect(
        codeOf(() =>
          validateUpload({ certificate: toPem('CERTIFICATE', der), privateKey: pair.keyPem }, aws),
        ),
      ).toBe('INVALID_SIGNATURE');
    });

    it('refuses a KeyUsage without keyEncipherment with KEY_USAGE_FORBIDS_ENCRYPTION', () => {
      const signOnly = makePair({ keyUsage: ['digitalSignature'] });
      expect(
        codeOf(() => validateUpload({ certificate: signOnly.certPem, privateKey: signOnly.keyPem }, aws)),
      ).toBe('KEY_USAGE_FORBIDS_ENCRYPTION');
    });

    it('accepts a certificate without a KeyUsage extension', () => {
      const noKu = makePair({ keyUsage: null });
      expect(() => validateUpload({ certificate: noKu.certPem, privateKey: noKu.keyPem }, aws)).not.toThrow();
    });

    it('warns NON_STANDARD_COUNTRY for a country that is not ISO 3166', () => {
      const uk = makePair({
        subject: [
          ['CN', 'x'],
          ['C', 'UK'],
        ],
      });
      const result = validateUpload({ certificate: uk.certPem, privateKey: uk.keyPem }, aws);
      expect(result.warnings.map((w) => w.code)).toEqual(['NON_STANDARD_COUNTRY']);
    });
  });

  describe('private key field', () => {
    it('requires a key on upload with PRIVATE_KEY_REQUIRED', () => {
      expect(codeOf(() => validateUpload({ certificate: pair.certPem }, aws))).toBe('PRIVATE_KEY_REQUIRED');
    });

    it('lets preview run without a key', () => {
      const result = validateUpload({ certificate: pair.certPem }, { ...aws, requirePrivateKey: false });
      expect(result.privateKey).toBeUndefined();
    });

    it('refuses garbage with INVALID_PRIVATE_KEY', () => {
      expect(codeOf(() => validateUpload({ certificate: pair.certPem, privateKey: 'not a key' }, aws))).toBe(
        'INVALID_PRIVATE_KEY',
      );
    });

    it('refuses a certificate in the key field with INVALID_PRIVATE_KEY', () => {
      expect(codeOf(() => validateUpload({ certificate: pair.certPem, privateKey: pair.certPem }, aws))).toBe(
        'INVALID_PRIVATE_KEY',
      );
    });

    it('refuses a key of another certificate with KEY_MISMATCH', () => {
      const other = rsaKey('other').export({ type: 'pkcs8', format: 'pem' }).toString();
      expect(codeOf(() => validateUpload({ certificate: pair.certPem, privateKey: other }, aws))).toBe(
        'KEY_MISMATCH',
      );
    });

    it('refuses an EC private key with UNSUPPORTED_KEY_ALGORITHM', () => {
      const ec = generateKeyPairSync('ec', { namedCurve: 'P-256' }).privateKey.export({
        type: 'pkcs8',
        format: 'pem',
      });
      expect(
        codeOf(() => validateUpload({ certificate: pair.certPem, privateKey: ec.toString() }, aws)),
      ).toBe('UNSUPPORTED_KEY_ALGORITHM');
    });

    it('accepts PKCS#1 on the aws flow', () => {
      const pkcs1 = pair.key.export({ type: 'pkcs1', format: 'pem' }).toString();
      expect(validateUpload({ certificate: pair.certPem, privateKey: pkcs1 }, aws).privateKey?.format).toBe(
        'pkcs1',
      );
    });

    it('refuses PKCS#1 on the azure flow with PKCS8_REQUIRED naming the openssl command', () => {
      const pkcs1 = pair.key.export({ type: 'pkcs1', format: 'pem' }).toString();
      try {
        validateUpload({ certificate: pair.certPem, privateKey: pkcs1 }, azure);
        throw new Error('accepted');
      } catch (error) {
        expect((error as AppError).code).toBe('PKCS8_REQUIRED');
        expect((error as AppError).message).toContain('openssl pkcs8 -topk8 -nocrypt');
      }
    });

    it('accepts an azure PEM bundle of certificate and PKCS#8 key in one part', () => {
      const result = validateUpload({ certificate: pair.certPem + pair.keyPem }, azure);
      expect(result.privateKey?.format).toBe('pkcs8');
      expect(result.certificatePem).not.toContain('PRIVATE KEY');
    });

    it('opens an encrypted PKCS#8 key with its password', () => {
      const encrypted = pair.key
        .export({ type: 'pkcs8', format: 'pem', cipher: 'aes-256-cbc', passphrase: 's3cret' })
        .toString();
      const result = validateUpload(
        { certificate: pair.certPem, privateKey: encrypted, privateKeyPassword: 's3cret' },
        aws,
      );
      expect(result.privateKey?.format).toBe('encrypted-pkcs8');
    });

    it('refuses an encrypted key without or with a wrong password with PRIVATE_KEY_ENCRYPTED', () => {
      const encrypted = pair.key
        .export({ type: 'pkcs8', format: 'pem', cipher: 'aes-256-cbc', passphrase: 's3cret' })
        .toString();
      expect(codeOf(() => validateUpload({ certificate: pair.certPem, privateKey: encrypted }, aws))).toBe(
        'PRIVATE_KEY_ENCRYPTED',
      );
      expect(
        codeOf(() =>
          validateUpload(
            { certificate: pair.certPem, privateKey: encrypted, privateKeyPassword: 'nope' },
            aws,
          ),
        ),
      ).toBe('PRIVATE_KEY_ENCRYPTED');
    });

    it.each([
      ['encrypted PKCS#8', { type: 'pkcs8' as const }],
      ['legacy encrypted PKCS#1', { type: 'pkcs1' as const }],
    ])(
      'regression: a wrong password whose garbage passes the padding check still gets PRIVATE_KEY_ENCRYPTED (%s)',
      (_name, { type }) => {
        // About one wrong password in 256 decrypts to bytes with valid padding, and OpenSSL then
        // fails in its key decoder instead of with "bad decrypt" (seen in CI as INVALID_PRIVATE_KEY).
        const encrypted = pair.key
          .export({ type, format: 'pem', cipher: 'aes-256-cbc', passphrase: 's3cret' })
          .toString();
        let unlucky: string | undefined;
        for (let i = 0; i < 20_000 && unlucky === undefined; i++) {
          try {
            createPrivateKey({ key: encrypted, format: 'pem', passphrase: `wrong-${i}` });
          } catch (error) {
            if (!/bad decrypt/i.test((error as Error).message)) unlucky = `wrong-${i}`;
          }
        }
        expect(unlucky).toBeDefined();

        const code = codeOf(() =>
          validateUpload(
            { certificate: pair.certPem, privateKey: encrypted, privateKeyPassword: unlucky },
            aws,
          ),
        );

        expect(code).toBe('PRIVATE_KEY_ENCRYPTED');
      },
    );

    it('warns PASSWORD_IGNORED when a password comes with an unencrypted key', () => {
      const result = validateUpload(
        { certificate: pair.certPem, privateKey: pair.keyPem, privateKeyPassword: 'x' },
        aws,
      );
      expect(result.warnings.map((w) => w.code)).toEqual(['PASSWORD_IGNORED']);
    });

    it('refuses a key whose private parts do not fit its modulus with INVALID_PRIVATE_KEY', () => {
      const jwk = pair.key.export({ format: 'jwk' });
      const other = rsaKey('other').export({ format: 'jwk' });
      const forged = createPrivateKey({ key: { ...other, n: jwk.n, e: jwk.e }, format: 'jwk' });
      const pem = forged.export({ type: 'pkcs8', format: 'pem' }).toString();
      expect(codeOf(() => validateUpload({ certificate: pair.certPem, privateKey: pem }, aws))).toBe(
        'INVALID_PRIVATE_KEY',
      );
    });
  });

  describe('interop with the openssl CLI', () => {
    const peer = opensslPair('/CN=Genesys Recording/C=US/ST=California/O=Genesys', 3650);

    function opensslField(args: string[]): string {
      return openssl(['x509', '-in', peer.certPath, '-noout', ...args]).trim();
    }

    it('shows the details exactly as openssl prints them', () => {
      const { details } = validateUpload(
        { certificate: peer.certPem, privateKey: peer.keyPem },
        { ...aws, now: new Date() },
      );
      expect(`subject=${details.subjectDN}`).toBe(opensslField(['-subject', '-nameopt', 'RFC2253,-esc_msb']));
      expect(`issuer=${details.issuerDN}`).toBe(opensslField(['-issuer', '-nameopt', 'RFC2253,-esc_msb']));
      expect(`serial=${details.serialNumber}`).toBe(opensslField(['-serial']));
      const fp = opensslField(['-fingerprint', '-sha256']).split('=')[1]!.replace(/:/g, '').toLowerCase();
      expect(details.fingerprintSha256).toBe(fp);
      expect(new Date(details.notAfter).getTime()).toBe(
        new Date(opensslField(['-enddate']).split('=')[1]!).getTime(),
      );
    });

    it.each([
      ['/CN=Zürich Aufnahme/C=CH/ST=Zürich/O=Müller & Söhne'],
      ['/CN=a\\,b+c/O=x\\;y<z>/OU= lead/L=trail /ST=#hash'],
      ['/CN=录音证书/O=テスト/C=JP'],
      ['/CN=multi+OU=valued/O=Org'],
      ['/emailAddress=ops@example.com/CN=with mail/DC=example/UID=u1'],
    ])('formats %s like openssl', (subj) => {
      const dir = tempDir();
      const keyPath = join(dir, 'k.pem');
      const certPath = join(dir, 'c.pem');
      openssl(['genrsa', '-out', keyPath, '2048']);
      opensslSelfSigned(keyPath, certPath, subj, 30, ['-multivalue-rdn']);
      const certificate = openssl(['x509', '-in', certPath]);
      const { details } = validateUpload(
        { certificate },
        { ...aws, now: new Date(), requirePrivateKey: false },
      );
      const expected = openssl([
        'x509',
        '-in',
        certPath,
        '-noout',
        '-subject',
        '-nameopt',
        'RFC2253,-esc_msb',
      ]).trim();
      expect(`subject=${details.subjectDN}`).toBe(expected);
    });

    it('accepts keys as openssl writes them: genrsa PKCS#8, -traditional PKCS#1, pkcs8 -topk8 with a password', () => {
      const now = new Date();
      const dir = peer.dir;
      const pkcs1 = openssl(['rsa', '-in', peer.keyPath, '-traditional']);
      const encPath = join(dir, 'enc.key');
      openssl(['pkcs8', '-topk8', '-in', peer.keyPath, '-out', encPath, '-passout', 'pass:pw']);
      const encrypted = require('node:fs').readFileSync(encPath, 'utf8') as string;
      expect(
        validateUpload({ certificate: peer.certPem, privateKey: peer.keyPem }, { ...aws, now }).privateKey
          ?.format,
      ).toBe('pkcs8');
      expect(
        validateUpload({ certificate: peer.certPem, privateKey: pkcs1 }, { ...aws, now }).privateKey?.format,
      ).toBe('pkcs1');
      expect(
        validateUpload(
          { certificate: peer.certPem, privateKey: encrypted, privateKeyPassword: 'pw' },
          { ...aws, now },
        ).privateKey?.format,
      ).toBe('encrypted-pkcs8');
    });
  });
});
