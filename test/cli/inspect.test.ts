import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { UploadFlow } from '../../shared/domain/types';
import { ValidationError } from '../../shared/errors';
import { validateUpload } from '../../shared/pki/validate';
import { errorLine, openssl, reccert, tempDir } from './cli';

const DOC_SUBJ = '/CN=Genesys Recording/C=US/ST=California/O=Genesys';

/** The product documentation's steps: `openssl genrsa` then `openssl req -new -x509`. */
function documentationPair(options: { traditional?: boolean; days?: number; extra?: string[] } = {}): string {
  const dir = tempDir();
  openssl(['genrsa', ...(options.traditional ? ['-traditional'] : []), '-out', 'tenant.key', '2048'], {
    cwd: dir,
  });
  openssl(
    [
      'req',
      '-new',
      '-x509',
      '-key',
      'tenant.key',
      '-out',
      'tenant.pem',
      '-days',
      String(options.days ?? 3650),
      '-subj',
      DOC_SUBJ,
      ...(options.extra ?? []),
    ],
    { cwd: dir },
  );
  return dir;
}

function read(dir: string, name: string): string {
  return readFileSync(join(dir, name), 'utf8');
}

/** What the service's validation says about the same files, in this process. */
function serviceCode(
  dir: string,
  cert: string,
  key: string | undefined,
  flow: UploadFlow,
  password?: string,
): string {
  try {
    validateUpload(
      {
        certificate: read(dir, cert),
        privateKey: key ? read(dir, key) : undefined,
        privateKeyPassword: password,
      },
      { flow, now: new Date(), requirePrivateKey: false },
    );
    return 'OK';
  } catch (error) {
    if (error instanceof ValidationError) return error.code;
    throw error;
  }
}

describe('reccert inspect', () => {
  it('shows for the documentation commands the details openssl shows, on both flows', async () => {
    const dir = documentationPair();
    expect(read(dir, 'tenant.key')).toMatch(/^-----BEGIN PRIVATE KEY-----/);

    const aws = await reccert(['inspect', 'tenant.pem', 'tenant.key', '--json'], { cwd: dir });
    const azure = await reccert(['inspect', 'tenant.pem', 'tenant.key', '--flow', 'azure', '--json'], {
      cwd: dir,
    });

    expect(aws.code).toBe(0);
    expect(azure.code).toBe(0);
    const out = JSON.parse(aws.stdout);
    expect(out).toMatchObject({
      flow: 'aws',
      accepted: true,
      warnings: [],
      privateKey: { format: 'pkcs8', matchesCertificate: true },
    });
    expect(JSON.parse(azure.stdout).details).toEqual(out.details);
    const x509 = (flag: string[]) =>
      openssl(['x509', '-in', 'tenant.pem', '-noout', ...flag], { cwd: dir }).trim();
    expect(`serial=${out.details.serialNumber}`).toBe(x509(['-serial']));
    expect(`subject=${out.details.subjectDN}`).toBe(x509(['-subject', '-nameopt', 'RFC2253,-esc_msb']));
    expect(`issuer=${out.details.issuerDN}`).toBe(x509(['-issuer', '-nameopt', 'RFC2253,-esc_msb']));
    expect(x509(['-fingerprint', '-sha256']).split('=')[1]!.replace(/:/g, '').toLowerCase()).toBe(
      out.details.fingerprintSha256,
    );
    expect(out.details).toMatchObject({
      subjectName: 'Genesys Recording',
      keyAlgorithm: 'RSA',
      keySize: 2048,
      selfSigned: true,
    });
    // Same function, same answer: the CLI prints what the service's validation returns.
    const service = validateUpload(
      { certificate: read(dir, 'tenant.pem'), privateKey: read(dir, 'tenant.key') },
      { flow: 'aws', now: new Date(), requirePrivateKey: true },
    );
    expect(out.details).toEqual(service.details);
  });

  it('prints the details for people, with the verdict', async () => {
    const dir = documentationPair();

    const result = await reccert(['inspect', 'tenant.pem', 'tenant.key'], { cwd: dir });

    expect(result.code).toBe(0);
    expect(result.stdout).toMatch(/^Subject Name: +Genesys Recording$/m);
    expect(result.stdout).toMatch(/^Subject DN: +O=Genesys,ST=California,C=US,CN=Genesys Recording$/m);
    expect(result.stdout).toMatch(/^Serial Number: +[0-9A-F]+$/m);
    expect(result.stdout).toMatch(/^Private key: +PKCS#8, matches the certificate$/m);
    expect(result.stdout).toContain('The aws upload would accept this certificate and key.');
  });

  it('accepts a genrsa -traditional (PKCS#1) key on the AWS flow and refuses it on the Azure flow', async () => {
    const dir = documentationPair({ traditional: true });
    expect(read(dir, 'tenant.key')).toMatch(/^-----BEGIN RSA PRIVATE KEY-----/);

    const aws = await reccert(['inspect', 'tenant.pem', 'tenant.key', '--flow', 'aws'], { cwd: dir });
    const azure = await reccert(['inspect', 'tenant.pem', 'tenant.key', '--flow', 'azure'], { cwd: dir });

    expect(aws.code).toBe(0);
    expect(aws.stdout).toMatch(/^Private key: +PKCS#1, matches the certificate$/m);
    expect(azure.code).toBe(1);
    expect(errorLine(azure)).toMatch(/^PKCS8_REQUIRED: .*openssl pkcs8 -topk8 -nocrypt/);
  });

  it('opens a key encrypted with openssl pkcs8 -topk8 with its password, and refuses a wrong one', async () => {
    const dir = documentationPair();
    openssl(['pkcs8', '-topk8', '-in', 'tenant.key', '-out', 'enc.key', '-passout', 'pass:s3cret'], {
      cwd: dir,
    });
    writeFileSync(join(dir, 'pw'), 's3cret\n');

    const right = await reccert(['inspect', 'tenant.pem', 'enc.key', '--password-file', 'pw', '--json'], {
      cwd: dir,
    });
    const wrong = await reccert(['inspect', 'tenant.pem', 'enc.key', '--password', 'nope'], { cwd: dir });

    expect(right.code).toBe(0);
    expect(JSON.parse(right.stdout).privateKey).toEqual({
      format: 'encrypted-pkcs8',
      matchesCertificate: true,
    });
    expect(wrong.code).toBe(1);
    expect(errorLine(wrong)).toMatch(/^PRIVATE_KEY_ENCRYPTED: /);
  });

  it('accepts the Azure flow PEM bundle (certificate and PKCS#8 key in one file)', async () => {
    const dir = documentationPair();
    writeFileSync(join(dir, 'bundle.pem'), read(dir, 'tenant.pem') + read(dir, 'tenant.key'));

    const result = await reccert(['inspect', 'bundle.pem', '--flow', 'azure', '--json'], { cwd: dir });

    expect(result.code).toBe(0);
    expect(JSON.parse(result.stdout).privateKey).toEqual({ format: 'pkcs8', matchesCertificate: true });
  });

  it('warns, and still accepts, when the certificate expires within 30 days', async () => {
    const dir = documentationPair({ days: 10 });

    const result = await reccert(['inspect', 'tenant.pem', 'tenant.key'], { cwd: dir });
    const asJson = await reccert(['inspect', 'tenant.pem', '--json'], { cwd: dir });

    expect(result.code).toBe(0);
    expect(result.stderr).toBe('');
    expect(result.stdout).toMatch(/^warning EXPIRES_SOON: The certificate expires in \d+ days/m);
    expect(JSON.parse(asJson.stdout).warnings.map((w: { code: string }) => w.code)).toEqual(['EXPIRES_SOON']);
  });

  it('judges the dates as of --at', async () => {
    const dir = documentationPair({ days: 30 });

    const later = await reccert(
      ['inspect', 'tenant.pem', '--at', new Date(Date.now() + 40 * 86_400_000).toISOString()],
      { cwd: dir },
    );
    const earlier = await reccert(['inspect', 'tenant.pem', '--at', '2001-01-01'], { cwd: dir });

    expect(later.code).toBe(1);
    expect(errorLine(later)).toMatch(/^CERTIFICATE_EXPIRED: The certificate expired on /);
    expect(earlier.code).toBe(1);
    expect(errorLine(earlier)).toMatch(/^CERTIFICATE_NOT_YET_VALID: /);
  });

  describe('refuses with exit code 1 and the API error code, as the service would', () => {
    const cases: Array<[string, (dir: string) => { cert: string; key?: string; flow?: UploadFlow }, string]> =
      [
        [
          'a key where the certificate belongs',
          () => ({ cert: 'tenant.key', key: 'tenant.pem' }),
          'NOT_A_CERTIFICATE',
        ],
        [
          'a certificate signing request',
          (dir) => {
            openssl(['req', '-new', '-key', 'tenant.key', '-out', 'req.csr', '-subj', DOC_SUBJ], {
              cwd: dir,
            });
            return { cert: 'req.csr' };
          },
          'NOT_A_CERTIFICATE',
        ],
        [
          'a DER certificate',
          (dir) => {
            openssl(['x509', '-in', 'tenant.pem', '-outform', 'DER', '-out', 'tenant.der'], { cwd: dir });
            return { cert: 'tenant.der' };
          },
          'INVALID_PEM',
        ],
        [
          'a chain of two certificates',
          (dir) => {
            writeFileSync(join(dir, 'chain.pem'), read(dir, 'tenant.pem') + read(dir, 'tenant.pem'));
            return { cert: 'chain.pem' };
          },
          'MULTIPLE_CERTIFICATES',
        ],
        [
          'a key of another certificate',
          (dir) => {
            openssl(['genrsa', '-out', 'other.key', '2048'], { cwd: dir });
            return { cert: 'tenant.pem', key: 'other.key' };
          },
          'KEY_MISMATCH',
        ],
        [
          'a 1024-bit key',
          (dir) => {
            openssl(
              [
                'req',
                '-x509',
                '-newkey',
                'rsa:1024',
                '-nodes',
                '-keyout',
                'small.key',
                '-out',
                'small.pem',
                '-subj',
                DOC_SUBJ,
                '-days',
                '30',
              ],
              { cwd: dir },
            );
            return { cert: 'small.pem', key: 'small.key' };
          },
          'KEY_TOO_SMALL',
        ],
        [
          'an EC certificate',
          (dir) => {
            openssl(
              [
                'req',
                '-x509',
                '-newkey',
                'ec',
                '-pkeyopt',
                'ec_paramgen_curve:P-256',
                '-nodes',
                '-keyout',
                'ec.key',
                '-out',
                'ec.pem',
                '-subj',
                DOC_SUBJ,
                '-days',
                '30',
              ],
              { cwd: dir },
            );
            return { cert: 'ec.pem' };
          },
          'UNSUPPORTED_KEY_ALGORITHM',
        ],
        [
          'a KeyUsage without keyEncipherment',
          (dir) => {
            openssl(
              [
                'req',
                '-x509',
                '-key',
                'tenant.key',
                '-out',
                'sig.pem',
                '-subj',
                DOC_SUBJ,
                '-days',
                '30',
                '-addext',
                'keyUsage=critical,digitalSignature',
              ],
              { cwd: dir },
            );
            return { cert: 'sig.pem' };
          },
          'KEY_USAGE_FORBIDS_ENCRYPTION',
        ],
      ];

    it.each(cases)('%s', async (_name, setup, code) => {
      const dir = documentationPair();
      const { cert, key, flow = 'aws' } = setup(dir);

      const result = await reccert(['inspect', cert, ...(key ? [key] : []), '--flow', flow, '--json'], {
        cwd: dir,
      });

      expect(result.code).toBe(1);
      expect(errorLine(result)).toMatch(new RegExp(`^${code}: `));
      expect(JSON.parse(result.stdout).error.code).toBe(code);
      expect(serviceCode(dir, cert, key, flow)).toBe(code);
    });
  });

  it.each([
    ['an unknown flow', ['tenant.pem', '--flow', 'gcp'], /--flow must be aws or azure, not 'gcp'/],
    ['no certificate', [], /missing CERT/],
    ['a missing file', ['absent.pem'], /cannot read certificate file 'absent.pem': no such file/],
    ['a directory', ['.'], /is a directory/],
    ['a bad --at', ['tenant.pem', '--at', 'tomorrow'], /--at must be an ISO 8601 date/],
    ['three files', ['a', 'b', 'c'], /unexpected argument 'c'/],
  ])('refuses %s with exit code 2', async (_name, args, message) => {
    const dir = documentationPair();

    const result = await reccert(['inspect', ...args], { cwd: dir });

    expect(result.code).toBe(2);
    expect(errorLine(result)).toMatch(message);
  });
});
