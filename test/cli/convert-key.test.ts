import { readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { errorLine, filesIn, openssl, reccert, tempDir } from './cli';

/** A directory with an OpenSSL 3 `genrsa -traditional` key and openssl's own PKCS#8 conversion of it. */
function traditionalKey(): { dir: string; expected: string } {
  const dir = tempDir();
  openssl(['genrsa', '-traditional', '-out', 'pkcs1.key', '2048'], { cwd: dir });
  openssl(['pkcs8', '-topk8', '-nocrypt', '-in', 'pkcs1.key', '-out', 'openssl.key'], { cwd: dir });
  return { dir, expected: readFileSync(join(dir, 'openssl.key'), 'utf8') };
}

describe('reccert convert-key', () => {
  it('converts PKCS#1 to exactly what openssl pkcs8 -topk8 -nocrypt writes, mode 0600', async () => {
    const { dir, expected } = traditionalKey();
    expect(readFileSync(join(dir, 'pkcs1.key'), 'utf8')).toMatch(/^-----BEGIN RSA PRIVATE KEY-----/);

    const result = await reccert(['convert-key', 'pkcs1.key', 'out.key'], { cwd: dir });

    expect(result.stderr).toBe('');
    expect(result.code).toBe(0);
    expect(result.stdout).toContain('unencrypted PKCS#8 (from PKCS#1)');
    expect(readFileSync(join(dir, 'out.key'), 'utf8')).toBe(expected);
    expect(statSync(join(dir, 'out.key')).mode & 0o777).toBe(0o600);
    expect(openssl(['pkey', '-in', 'out.key', '-check', '-noout'], { cwd: dir })).toContain('Key is valid');
  });

  it.each([
    ['--password', (dir: string) => ({ args: ['--password', 'pa ss:wörd'], input: undefined, dir })],
    [
      '--password-file',
      (dir: string) => {
        writeFileSync(join(dir, 'pw.txt'), 'pa ss:wörd\n');
        return { args: ['--password-file', 'pw.txt'], input: undefined, dir };
      },
    ],
    [
      '--password-file - (stdin)',
      (dir: string) => ({ args: ['--password-file', '-'], input: 'pa ss:wörd\n', dir }),
    ],
  ])('decrypts an encrypted PKCS#8 key from openssl pkcs8 -topk8 with %s', async (_how, setup) => {
    const { dir, expected } = traditionalKey();
    writeFileSync(join(dir, 'pw-openssl.txt'), 'pa ss:wörd\n');
    openssl(
      [
        'pkcs8',
        '-topk8',
        '-v2',
        'aes-256-cbc',
        '-in',
        'pkcs1.key',
        '-out',
        'enc.key',
        '-passout',
        'file:pw-openssl.txt',
      ],
      {
        cwd: dir,
      },
    );
    expect(readFileSync(join(dir, 'enc.key'), 'utf8')).toMatch(/^-----BEGIN ENCRYPTED PRIVATE KEY-----/);
    const { args, input } = setup(dir);

    const result = await reccert(['convert-key', 'enc.key', 'out.key', ...args, '--json'], {
      cwd: dir,
      input,
    });

    expect(result.code).toBe(0);
    expect(JSON.parse(result.stdout)).toEqual({
      input: 'enc.key',
      output: 'out.key',
      from: 'encrypted-pkcs8',
      to: 'pkcs8',
      keySize: 2048,
      warnings: [],
    });
    expect(readFileSync(join(dir, 'out.key'), 'utf8')).toBe(expected);
  });

  it('turns an OpenSSL 3 genrsa (PKCS#8) key into the same key, as openssl would', async () => {
    const dir = tempDir();
    openssl(['genrsa', '-out', 'genrsa.key', '3072'], { cwd: dir });
    openssl(['pkcs8', '-topk8', '-nocrypt', '-in', 'genrsa.key', '-out', 'openssl.key'], { cwd: dir });

    const result = await reccert(['convert-key', 'genrsa.key', 'out.key'], { cwd: dir });

    expect(result.code).toBe(0);
    expect(readFileSync(join(dir, 'out.key'), 'utf8')).toBe(readFileSync(join(dir, 'openssl.key'), 'utf8'));
    expect(openssl(['rsa', '-in', 'out.key', '-noout', '-modulus'], { cwd: dir })).toBe(
      openssl(['rsa', '-in', 'genrsa.key', '-noout', '-modulus'], { cwd: dir }),
    );
  });

  it('refuses a wrong or missing password with exit code 1 and writes nothing', async () => {
    const { dir } = traditionalKey();
    openssl(['pkcs8', '-topk8', '-in', 'pkcs1.key', '-out', 'enc.key', '-passout', 'pass:right'], {
      cwd: dir,
    });

    const wrong = await reccert(['convert-key', 'enc.key', 'out.key', '--password', 'wrong'], { cwd: dir });
    const missing = await reccert(['convert-key', 'enc.key', 'out.key'], { cwd: dir });

    expect(wrong.code).toBe(1);
    expect(errorLine(wrong)).toMatch(
      /^PRIVATE_KEY_ENCRYPTED: The password does not open the encrypted private key/,
    );
    expect(missing.code).toBe(1);
    expect(errorLine(missing)).toMatch(
      /^PRIVATE_KEY_ENCRYPTED: .*give its password with --password or --password-file/,
    );
    expect(filesIn(dir)).toEqual(['enc.key', 'openssl.key', 'pkcs1.key']);
  });

  it('refuses what is not an RSA private key with exit code 1', async () => {
    const dir = tempDir();
    openssl(['ecparam', '-name', 'prime256v1', '-genkey', '-noout', '-out', 'ec.key'], { cwd: dir });
    openssl(
      [
        'req',
        '-x509',
        '-newkey',
        'rsa:2048',
        '-nodes',
        '-keyout',
        'k.key',
        '-out',
        'c.pem',
        '-subj',
        '/CN=x',
        '-days',
        '2',
      ],
      {
        cwd: dir,
      },
    );

    const ec = await reccert(['convert-key', 'ec.key', 'out.key'], { cwd: dir });
    const cert = await reccert(['convert-key', 'c.pem', 'out.key'], { cwd: dir });

    expect(ec.code).toBe(1);
    expect(errorLine(ec)).toMatch(/^UNSUPPORTED_KEY_ALGORITHM: /);
    expect(cert.code).toBe(1);
    expect(errorLine(cert)).toMatch(/^INVALID_PRIVATE_KEY: The private key field holds a certificate/);
    expect(filesIn(dir)).not.toContain('out.key');
  });

  it('refuses to overwrite OUT without --force, and converts in place with it', async () => {
    const { dir, expected } = traditionalKey();

    const refused = await reccert(['convert-key', 'pkcs1.key', 'pkcs1.key'], { cwd: dir });

    expect(refused.code).toBe(1);
    expect(errorLine(refused)).toMatch(/^FILE_EXISTS: 'pkcs1.key' already exists/);
    expect(readFileSync(join(dir, 'pkcs1.key'), 'utf8')).toMatch(/^-----BEGIN RSA PRIVATE KEY-----/);

    const forced = await reccert(['convert-key', 'pkcs1.key', 'pkcs1.key', '--force'], { cwd: dir });

    expect(forced.code).toBe(0);
    expect(readFileSync(join(dir, 'pkcs1.key'), 'utf8')).toBe(expected);
    expect(filesIn(dir)).toEqual(['openssl.key', 'pkcs1.key']);
  });

  it.each([
    [
      'a missing IN',
      ['nothere.key', 'out.key'],
      /^reccert convert-key: cannot read key file 'nothere.key': no such file/,
    ],
    ['a missing OUT argument', ['pkcs1.key'], /^reccert convert-key: missing OUT/],
    [
      'both password options',
      ['pkcs1.key', 'o.key', '--password', 'a', '--password-file', 'b'],
      /give the password once/,
    ],
    ['an unknown option', ['pkcs1.key', 'o.key', '--nocrypt'], /unknown option --nocrypt/],
  ])('refuses %s with exit code 2', async (_name, args, message) => {
    const { dir } = traditionalKey();

    const result = await reccert(['convert-key', ...args], { cwd: dir });

    expect(result.code).toBe(2);
    expect(errorLine(result)).toMatch(message);
    expect(filesIn(dir)).toEqual(['openssl.key', 'pkcs1.key']);
  });
});
