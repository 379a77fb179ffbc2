import { createPrivateKey, sign } from 'node:crypto';
import { type ErrorCode, ValidationError } from '../../shared/errors';
import { buildName } from '../../shared/pki/builder';
import { der } from '../../shared/pki/der';
import { OID } from '../../shared/pki/oids';
import { toPem } from '../../shared/pki/pem';
import { checkRsaPrivateKey, readRsaPrivateIntegers } from '../../shared/pki/rsa-rules';
import {
  ANY_KEY_FORMAT,
  parsePrivateKeyInput,
  type ValidationOptions,
  validateUpload,
  validateUploadAsync,
} from '../../shared/pki/validate';
import { costlyRsaKeyDer, type HostileRsaCase, hostileRsaCases } from '../helpers/hostile-rsa';
import { FIXED_NOW, makePair, openssl, rsaKey, tempDir, writeTemp } from '../helpers/pki';

const aws: ValidationOptions = { flow: 'aws', now: FIXED_NOW, requirePrivateKey: true };

function codeOf(fn: () => unknown): ErrorCode | undefined {
  try {
    fn();
  } catch (error) {
    if (error instanceof ValidationError) return error.code;
    throw error;
  }
  return undefined;
}

async function asyncCodeOf(fn: () => Promise<unknown>): Promise<ErrorCode | undefined> {
  try {
    await fn();
  } catch (error) {
    if (error instanceof ValidationError) return error.code;
    throw error;
  }
  return undefined;
}

/** A self-signed v3 certificate whose SubjectPublicKeyInfo is `spki`, signed by a real key. */
function certificateWithSpki(spki: Buffer): string {
  const key = rsaKey();
  const sigAlg = der.sequence(der.oid(OID.sha256WithRSAEncryption), der.null());
  const name = buildName([['CN', 'Large key']]);
  const tbs = der.sequence(
    der.explicit(0, der.integer(2)),
    der.integer(7),
    sigAlg,
    name,
    der.sequence(der.time(new Date('2026-01-01T00:00:00Z')), der.time(new Date('2036-01-01T00:00:00Z'))),
    name,
    spki,
  );
  return toPem('CERTIFICATE', der.sequence(tbs, sigAlg, der.bitString(sign('sha256', tbs, key))));
}

function rsaSpki(modulus: bigint, exponent: bigint): Buffer {
  return der.sequence(
    der.sequence(der.oid(OID.rsaEncryption), der.null()),
    der.bitString(der.sequence(der.integer(modulus), der.integer(exponent))),
  );
}

describe('RSA key rules (DESIGN rule 2)', () => {
  let cases: HostileRsaCase[];

  beforeAll(async () => {
    cases = await hostileRsaCases();
  });

  it('regression #2: refuses a public exponent of 1 with WEAK_PUBLIC_KEY, although its self-signature verifies', () => {
    const e1 = cases.find((c) => c.name === 'public exponent 1')!;
    // With e=1 and d=1 the "signature" is the padded hash itself: openssl calls it valid.
    const dir = tempDir();
    writeTemp(dir, 'e1.pem', e1.certificatePem);
    expect(openssl(['verify', '-check_ss_sig', '-CAfile', `${dir}/e1.pem`, `${dir}/e1.pem`])).toMatch(/OK/);

    let error: unknown;
    try {
      validateUpload({ certificate: e1.certificatePem, privateKey: e1.privateKeyPem }, aws);
    } catch (e) {
      error = e;
    }

    expect(error).toBeInstanceOf(ValidationError);
    expect((error as ValidationError).code).toBe('WEAK_PUBLIC_KEY');
    expect((error as ValidationError).message).toMatch(/public exponent 1 is below 65537.*openssl genrsa/);
  });

  it('regression #3: refuses a key whose n and e match but whose dP is wrong with INVALID_PRIVATE_KEY', () => {
    const wrongDp = cases.find((c) => c.name === 'wrong dP')!;

    const code = codeOf(() =>
      validateUpload({ certificate: wrongDp.certificatePem, privateKey: wrongDp.privateKeyPem }, aws),
    );

    expect(code).toBe('INVALID_PRIVATE_KEY');
  });

  it('refuses every hostile case with its code, on the synchronous and the asynchronous path', async () => {
    expect(cases.length).toBeGreaterThanOrEqual(14);
    for (const c of cases) {
      const input = { certificate: c.certificatePem, privateKey: c.privateKeyPem };

      const syncCode = codeOf(() => validateUpload(input, aws));
      const asyncCode = await asyncCodeOf(() => validateUploadAsync(input, aws));

      expect({ name: c.name, syncCode, asyncCode }).toEqual({
        name: c.name,
        syncCode: c.expectedCode,
        asyncCode: c.expectedCode,
      });
    }
  });

  it('refuses the hostile public keys in a certificate given alone (preview, inspect) with WEAK_PUBLIC_KEY', () => {
    for (const c of cases.filter((k) => k.expectedCode === 'WEAK_PUBLIC_KEY')) {
      const code = codeOf(() =>
        validateUpload({ certificate: c.certificatePem }, { ...aws, requirePrivateKey: false }),
      );

      expect({ name: c.name, code }).toEqual({ name: c.name, code: 'WEAK_PUBLIC_KEY' });
    }
  });

  it('refuses each hostile key file on its own (verify-key, the CLI) with its rule', () => {
    for (const c of cases.filter((k) => k.expectedCode !== 'KEY_MISMATCH')) {
      const code = codeOf(() => parsePrivateKeyInput(c.privateKeyPem, undefined, ANY_KEY_FORMAT));

      expect({ name: c.name, code }).toEqual({ name: c.name, code: c.expectedCode });
    }
  });

  it('refuses an inconsistent PKCS#1 key as it refuses the PKCS#8 one', () => {
    const wrongQi = cases.find((c) => c.name === 'wrong qInv')!;
    const dir = tempDir();
    writeTemp(dir, 'k.pem', wrongQi.privateKeyPem);
    const pkcs1 = openssl(['rsa', '-in', `${dir}/k.pem`, '-traditional']);
    expect(pkcs1).toMatch(/BEGIN RSA PRIVATE KEY/);

    const code = codeOf(() =>
      validateUpload({ certificate: wrongQi.certificatePem, privateKey: pkcs1 }, aws),
    );

    expect(code).toBe('INVALID_PRIVATE_KEY');
  });

  it('refuses a three-prime key (RSAPrivateKey version 1) with INVALID_PRIVATE_KEY', () => {
    const dir = tempDir();
    openssl([
      'genpkey',
      '-algorithm',
      'RSA',
      '-pkeyopt',
      'rsa_keygen_bits:2048',
      '-pkeyopt',
      'rsa_keygen_primes:3',
      '-out',
      `${dir}/k3.pem`,
    ]);
    const key = createPrivateKey(openssl(['pkey', '-in', `${dir}/k3.pem`]));
    const pair = makePair({ key });
    const keyPem = openssl(['pkey', '-in', `${dir}/k3.pem`]);

    let error: unknown;
    try {
      validateUpload({ certificate: pair.certPem, privateKey: keyPem }, aws);
    } catch (e) {
      error = e;
    }

    expect((error as ValidationError).code).toBe('INVALID_PRIVATE_KEY');
    expect((error as ValidationError).message).toMatch(/two-prime/);
  });

  it('refuses a certificate with a modulus above 16384 bits with KEY_TOO_LARGE before any RSA work', () => {
    // A 65536-bit modulus with a 4096-bit exponent: checking a signature with it would take seconds.
    const modulus = (1n << 65535n) | 1n;
    const exponent = (1n << 4095n) | 1n;
    const pem = certificateWithSpki(rsaSpki(modulus, exponent));

    const started = performance.now();
    const code = codeOf(() => validateUpload({ certificate: pem }, { ...aws, requirePrivateKey: false }));
    const ms = performance.now() - started;

    expect(code).toBe('KEY_TOO_LARGE');
    expect(ms).toBeLessThan(500);
  });

  it('refuses an exponent of 2^4096+1 on a 2048-bit modulus with WEAK_PUBLIC_KEY before checking the signature', () => {
    const pair = makePair();
    const jwk = pair.key.export({ format: 'jwk' });
    const n = BigInt(`0x${Buffer.from(jwk.n!, 'base64url').toString('hex')}`);
    const pem = certificateWithSpki(rsaSpki(n, (1n << 4096n) + 1n));

    const code = codeOf(() => validateUpload({ certificate: pem }, { ...aws, requirePrivateKey: false }));

    expect(code).toBe('WEAK_PUBLIC_KEY');
  });

  it('accepts real keys: 65537 from openssl genrsa, and an exponent just below 2^256', () => {
    const dir = tempDir();
    openssl([
      'genpkey',
      '-algorithm',
      'RSA',
      '-pkeyopt',
      'rsa_keygen_bits:2048',
      '-pkeyopt',
      `rsa_keygen_pubexp:${(1n << 255n) + 1n}`,
      '-out',
      `${dir}/big-e.pem`,
    ]);
    const keyPem = openssl(['pkey', '-in', `${dir}/big-e.pem`]);
    const pair = makePair({ key: createPrivateKey(keyPem) });

    expect(validateUpload({ certificate: pair.certPem, privateKey: keyPem }, aws).details.keySize).toBe(2048);
    const plain = makePair();
    expect(
      validateUpload({ certificate: plain.certPem, privateKey: plain.keyPem }, aws).details.keySize,
    ).toBe(2048);
  });

  it('checks a 16384-bit key for consistency in milliseconds (BigInt arithmetic, no exponentiation)', () => {
    const integers = readRsaPrivateIntegers(costlyRsaKeyDer(16384), 'pkcs8')!;

    const started = performance.now();
    checkRsaPrivateKey(integers);
    const ms = performance.now() - started;

    process.stdout.write(`rule-2 consistency check, 16384-bit key: ${ms.toFixed(2)} ms\n`);
    expect(ms).toBeLessThan(2000);
  });
});
