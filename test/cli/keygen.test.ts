import { readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { errorLine, filesIn, openssl, reccert, tempDir } from './cli';

const DOC_DN = ['--cn', 'Genesys Recording', '--country', 'US', '--state', 'California', '--org', 'Genesys'];

describe('reccert keygen', () => {
  it('writes a PKCS#8 key (mode 0600) and a v3 certificate that openssl accepts and verifies', async () => {
    const dir = tempDir();

    const result = await reccert(['keygen', ...DOC_DN, '--days', '3650', '--json'], { cwd: dir });

    expect(result.stderr).toBe('');
    expect(result.code).toBe(0);
    const out = JSON.parse(result.stdout);
    expect(out).toMatchObject({
      keyFile: 'tenant.key',
      certificateFile: 'tenant.pem',
      keyFormat: 'pkcs8',
      days: 3650,
    });
    const keyPath = join(dir, 'tenant.key');
    expect(statSync(keyPath).mode & 0o777).toBe(0o600);
    expect(readFileSync(keyPath, 'utf8')).toMatch(/^-----BEGIN PRIVATE KEY-----\n/);

    const text = openssl(['x509', '-in', 'tenant.pem', '-noout', '-text'], { cwd: dir });
    expect(text).toContain('Version: 3 (0x2)');
    expect(text).toContain('Public-Key: (2048 bit)');
    expect(text).toMatch(/X509v3 Key Usage: critical\s+Digital Signature, Key Encipherment/);
    expect(openssl(['pkey', '-in', 'tenant.key', '-check', '-noout'], { cwd: dir })).toContain(
      'Key is valid',
    );
    expect(openssl(['rsa', '-in', 'tenant.key', '-check', '-noout'], { cwd: dir })).toContain('RSA key ok');
    expect(openssl(['verify', '-CAfile', 'tenant.pem', 'tenant.pem'], { cwd: dir }).trim()).toBe(
      'tenant.pem: OK',
    );
    expect(
      openssl(['verify', '-x509_strict', '-CAfile', 'tenant.pem', 'tenant.pem'], { cwd: dir }).trim(),
    ).toBe('tenant.pem: OK');
    // The key belongs to the certificate.
    expect(openssl(['x509', '-in', 'tenant.pem', '-noout', '-modulus'], { cwd: dir })).toBe(
      openssl(['rsa', '-in', 'tenant.key', '-noout', '-modulus'], { cwd: dir }),
    );
    // The details reccert prints are what openssl prints.
    const subject = openssl(
      ['x509', '-in', 'tenant.pem', '-noout', '-subject', '-nameopt', 'RFC2253,-esc_msb'],
      { cwd: dir },
    );
    expect(subject.trim()).toBe('subject=O=Genesys,ST=California,C=US,CN=Genesys Recording');
    expect(out.details.subjectDN).toBe('O=Genesys,ST=California,C=US,CN=Genesys Recording');
    expect(out.details.issuerDN).toBe(out.details.subjectDN);
    expect(out.details.subjectName).toBe('Genesys Recording');
    const serial = openssl(['x509', '-in', 'tenant.pem', '-noout', '-serial'], { cwd: dir });
    expect(serial.trim()).toBe(`serial=${out.details.serialNumber}`);
    const fingerprint = openssl(['x509', '-in', 'tenant.pem', '-noout', '-fingerprint', '-sha256'], {
      cwd: dir,
    });
    expect(fingerprint.split('=')[1]!.replace(/:/g, '').trim().toLowerCase()).toBe(
      out.details.fingerprintSha256,
    );
    const days = (Date.parse(out.details.notAfter) - Date.now()) / 86_400_000;
    expect(days).toBeGreaterThan(3649.9);
    expect(days).toBeLessThan(3650.1);
  });

  it('writes non-ASCII DN fields as UTF-8, exactly as given', async () => {
    const dir = tempDir();
    const args = [
      '--cn',
      'Aufnahme Zürich – Ωmega',
      '--country',
      'FR',
      '--state',
      'Île-de-France',
      '--org',
      'Müller & Søn, AG',
    ];

    const result = await reccert(['keygen', ...args, '--json'], { cwd: dir });

    expect(result.code).toBe(0);
    const expected = 'O=Müller & Søn\\, AG,ST=Île-de-France,C=FR,CN=Aufnahme Zürich – Ωmega';
    const rfc2253 = openssl(
      ['x509', '-in', 'tenant.pem', '-noout', '-subject', '-nameopt', 'RFC2253,-esc_msb'],
      { cwd: dir },
    );
    expect(rfc2253.trim()).toBe(`subject=${expected}`);
    const utf8 = openssl(
      ['x509', '-in', 'tenant.pem', '-noout', '-subject', '-nameopt', 'oneline,utf8,-esc_msb'],
      { cwd: dir },
    );
    expect(utf8).toContain('CN = Aufnahme Zürich – Ωmega');
    expect(utf8).toContain('ST = Île-de-France');
    expect(JSON.parse(result.stdout).details.subjectDN).toBe(expected);
    const asn1 = openssl(['asn1parse', '-in', 'tenant.pem'], { cwd: dir });
    expect(asn1).toMatch(/UTF8STRING\s+:Aufnahme/);
    expect(asn1).toMatch(/PRINTABLESTRING\s+:FR/);
  });

  it('writes a traditional PKCS#1 key with --pkcs1, which the AWS flow accepts and the Azure flow refuses', async () => {
    const dir = tempDir();

    const result = await reccert(
      ['keygen', ...DOC_DN, '--pkcs1', '--out-key', 'k1.key', '--out-cert', 'c1.pem'],
      { cwd: dir },
    );

    expect(result.code).toBe(0);
    expect(result.stdout).toContain('PKCS#1');
    expect(readFileSync(join(dir, 'k1.key'), 'utf8')).toMatch(/^-----BEGIN RSA PRIVATE KEY-----\n/);
    expect(openssl(['rsa', '-in', 'k1.key', '-check', '-noout'], { cwd: dir })).toContain('RSA key ok');
    expect((await reccert(['inspect', 'c1.pem', 'k1.key', '--flow', 'aws'], { cwd: dir })).code).toBe(0);
    const azure = await reccert(['inspect', 'c1.pem', 'k1.key', '--flow', 'azure'], { cwd: dir });
    expect(azure.code).toBe(1);
    expect(errorLine(azure)).toMatch(/^PKCS8_REQUIRED: .*openssl pkcs8 -topk8 -nocrypt/);
  });

  it('makes a key of the size asked for', async () => {
    const dir = tempDir();

    const result = await reccert(['keygen', ...DOC_DN, '--bits', '3072', '--days', '1'], { cwd: dir });

    expect(result.code).toBe(0);
    expect(openssl(['x509', '-in', 'tenant.pem', '-noout', '-text'], { cwd: dir })).toContain(
      'Public-Key: (3072 bit)',
    );
    expect(openssl(['pkey', '-in', 'tenant.key', '-noout', '-text'], { cwd: dir })).toContain(
      'Private-Key: (3072 bit',
    );
  });

  it.each([
    ['--bits 1024', ['--bits', '1024'], /--bits must be one of 2048, 3072, 4096; got 1024/],
    ['--bits 2047', ['--bits', '2047'], /--bits must be one of/],
    ['--bits abc', ['--bits', 'abc'], /--bits must be a whole number/],
    ['--days 0', ['--days', '0'], /--days must be 1 to 36500; got 0/],
    ['--days 36501', ['--days', '36501'], /--days must be 1 to 36500/],
    ['--days -5', ['--days', '-5'], /--days/],
    ['--country USA', ['--country', 'USA'], /--country must be a two-letter country code/],
    ['--country UK', ['--country', 'UK'], /not an ISO 3166-1 country code; did you mean GB\?/],
    ['--org ""', ['--org', ''], /--org \(organization\) must not be empty/],
    ['--org "  "', ['--org', '  '], /--org \(organization\) must not be empty/],
    ['--cn ""', ['--cn', ''], /--cn \(common name\) must not be empty/],
    ['a 65-character CN', ['--cn', 'x'.repeat(65)], /65 characters; at most 64/],
    ['an unknown option', ['--colour', 'blue'], /unknown option --colour/],
    ['a stray argument', ['extra'], /unexpected argument 'extra'/],
  ])('refuses %s with exit code 2, one stderr line and no files', async (_name, extra, message) => {
    const dir = tempDir();

    const result = await reccert(['keygen', ...DOC_DN, ...extra], { cwd: dir });

    expect(result.code).toBe(2);
    expect(errorLine(result)).toMatch(message);
    expect(errorLine(result)).toMatch(/^reccert keygen: .*\(see: reccert keygen --help\)$/);
    expect(filesIn(dir)).toEqual([]);
  });

  it('refuses a missing organization or country with exit code 2', async () => {
    const dir = tempDir();

    const noOrg = await reccert(['keygen', '--cn', 'Rec', '--country', 'US'], { cwd: dir });
    const noCountry = await reccert(['keygen', '--cn', 'Rec', '--org', 'Genesys'], { cwd: dir });

    expect(noOrg.code).toBe(2);
    expect(errorLine(noOrg)).toContain('missing --org');
    expect(noCountry.code).toBe(2);
    expect(errorLine(noCountry)).toContain('missing --country');
    expect(filesIn(dir)).toEqual([]);
  });

  it('refuses to overwrite existing files without --force and replaces them with it', async () => {
    const dir = tempDir();
    writeFileSync(join(dir, 'tenant.key'), 'keep me');

    const refused = await reccert(['keygen', ...DOC_DN], { cwd: dir });

    expect(refused.code).toBe(1);
    expect(errorLine(refused)).toBe(
      "FILE_EXISTS: 'tenant.key' already exists; choose another name or add --force to replace it",
    );
    expect(readFileSync(join(dir, 'tenant.key'), 'utf8')).toBe('keep me');
    expect(filesIn(dir)).toEqual(['tenant.key']);

    const forced = await reccert(['keygen', ...DOC_DN, '--force'], { cwd: dir });

    expect(forced.code).toBe(0);
    expect(readFileSync(join(dir, 'tenant.key'), 'utf8')).toMatch(/^-----BEGIN PRIVATE KEY-----/);
    expect(statSync(join(dir, 'tenant.key')).mode & 0o777).toBe(0o600);
    expect(filesIn(dir)).toEqual(['tenant.key', 'tenant.pem']);
  });

  it('leaves no key file, partial or temporary, when an output cannot be written', async () => {
    const dir = tempDir();

    const badCert = await reccert(['keygen', ...DOC_DN, '--out-cert', 'missing-dir/tenant.pem'], {
      cwd: dir,
    });
    const badKey = await reccert(['keygen', ...DOC_DN, '--out-key', 'missing-dir/tenant.key'], { cwd: dir });

    expect(badCert.code).toBe(1);
    expect(errorLine(badCert)).toBe("WRITE_FAILED: cannot write 'missing-dir/tenant.pem': no such file");
    expect(badKey.code).toBe(1);
    expect(errorLine(badKey)).toBe("WRITE_FAILED: cannot write 'missing-dir/tenant.key': no such file");
    expect(filesIn(dir)).toEqual([]);
  });
});
