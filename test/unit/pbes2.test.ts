import {
  constants,
  createCipheriv,
  createDecipheriv,
  createPublicKey,
  publicEncrypt,
  randomBytes,
  scryptSync,
} from 'node:crypto';
import { type ErrorCode, ValidationError } from '../../shared/errors';
import { children, der, parseDer } from '../../shared/pki/der';
import { OID } from '../../shared/pki/oids';
import {
  derivationLoad,
  deriveKey,
  deriveKeySync,
  MAX_CONCURRENT_DERIVATIONS,
  readPbes2Key,
} from '../../shared/pki/pbes2';
import { parsePemBlocks, toPem } from '../../shared/pki/pem';
import { importPrivateKeyDer } from '../../shared/pki/rsa-key-import';
import { unwrapOaepSha256 } from '../../shared/pki/rsa-oaep';
import { type ValidationOptions, validateUpload, validateUploadAsync } from '../../shared/pki/validate';
import { costlyRsaKeyDer } from '../helpers/hostile-rsa';
import { FIXED_NOW, makePair, openssl, type TestPair, tempDir, writeTemp } from '../helpers/pki';

const aws: ValidationOptions = { flow: 'aws', now: FIXED_NOW, requirePrivateKey: true };
const PASSWORD = 'correct horse';
const AES256_CBC = '2.16.840.1.101.3.4.1.42';

let pair: TestPair;
let plainKeyFile: string;

beforeAll(() => {
  pair = makePair();
  plainKeyFile = writeTemp(tempDir(), 'plain.key', pair.keyPem);
});

/** `openssl pkcs8 -topk8 -v2 ... ` of the pair's key, with `PASSWORD`. */
function opensslEncrypted(args: string[]): string {
  return openssl(['pkcs8', '-topk8', ...args, '-in', plainKeyFile, '-passout', `pass:${PASSWORD}`]);
}

function derOf(pem: string): Buffer {
  return parsePemBlocks(pem)[0]!.der;
}

/** An EncryptedPrivateKeyInfo of the pair's key under PBES2 with these (possibly hostile) scrypt fields. */
function scryptKey(fields: { N: bigint; r: bigint; p: bigint; keyLength?: bigint }, derive = false): string {
  const salt = randomBytes(16);
  const iv = randomBytes(16);
  const plaintext = pair.key.export({ type: 'pkcs8', format: 'der' });
  const key = derive
    ? scryptSync(PASSWORD, salt, 32, {
        N: Number(fields.N),
        r: Number(fields.r),
        p: Number(fields.p),
        maxmem: 300 * 1024 * 1024,
      })
    : randomBytes(32);
  const cipher = createCipheriv('aes-256-cbc', key, iv);
  const encrypted = Buffer.concat([cipher.update(plaintext), cipher.final()]);
  const params = der.sequence(
    der.octetString(salt),
    der.integer(fields.N),
    der.integer(fields.r),
    der.integer(fields.p),
    ...(fields.keyLength === undefined ? [] : [der.integer(fields.keyLength)]),
  );
  const pbes2 = der.sequence(
    der.sequence(der.oid(OID.scrypt), params),
    der.sequence(der.oid(AES256_CBC), der.octetString(iv)),
  );
  return toPem(
    'ENCRYPTED PRIVATE KEY',
    der.sequence(der.sequence(der.oid(OID.pbes2), pbes2), der.octetString(encrypted)),
  );
}

/** An openssl PBKDF2 key with its iteration count rewritten (the ciphertext no longer matches: refused before it matters). */
function withIterations(pem: string, iterations: number): string {
  const [scheme, data] = children(parseDer(derOf(pem)));
  const [, pbes2Params] = children(scheme!);
  const [kdf, cipher] = children(pbes2Params!);
  const [kdfOid, kdfParams] = children(kdf!);
  const [salt, , ...rest] = children(kdfParams!);
  const newKdf = der.sequence(
    kdfOid!.raw,
    der.sequence(salt!.raw, der.integer(iterations), ...rest.map((r) => r.raw)),
  );
  const info = der.sequence(der.sequence(der.oid(OID.pbes2), der.sequence(newKdf, cipher!.raw)), data!.raw);
  return toPem('ENCRYPTED PRIVATE KEY', info);
}

async function refusal(
  privateKey: string,
  password = PASSWORD,
): Promise<{ code?: ErrorCode; message: string; ms: number }> {
  const started = performance.now();
  try {
    await validateUploadAsync({ certificate: pair.certPem, privateKey, privateKeyPassword: password }, aws);
    return { message: 'accepted', ms: performance.now() - started };
  } catch (error) {
    if (!(error instanceof ValidationError)) throw error;
    return { code: error.code, message: error.message, ms: performance.now() - started };
  }
}

/** The largest gap between ticks of a 10 ms interval while `work` runs. */
async function maxEventLoopLag(work: () => Promise<unknown>): Promise<number> {
  let last = performance.now();
  let worst = 0;
  const timer = setInterval(() => {
    const now = performance.now();
    worst = Math.max(worst, now - last - 10);
    last = now;
  }, 10);
  try {
    await work();
  } finally {
    clearInterval(timer);
  }
  return Math.max(worst, performance.now() - last - 10);
}

describe('encrypted private keys (PBES2) under section 9 limits', () => {
  it('regression #6: refuses scrypt p=1000 and p=200 with UNSUPPORTED_KEY_ENCRYPTION before deriving anything', async () => {
    // The security test's key: N=16384, r=8, p=1000 blocked the server for 58 s (p=200: 12 s).
    for (const p of [1000n, 200n]) {
      const result = await refusal(scryptKey({ N: 16384n, r: 8n, p }));

      expect(result.code).toBe('UNSUPPORTED_KEY_ENCRYPTION');
      expect(result.message).toContain(`p=${p}`);
      expect(result.message).toContain('openssl pkcs8 -topk8 -v2 aes-256-cbc -in old.key -out new.key');
      expect(result.ms).toBeLessThan(1000);
    }
  });

  it('refuses PBKDF2 with 2,000,000 iterations, and accepts exactly 1,000,000 (openssl -iter)', async () => {
    const atLimit = opensslEncrypted(['-v2', 'aes-256-cbc', '-iter', '1000000']);

    const past = await refusal(withIterations(atLimit, 2_000_000));
    const result = await validateUploadAsync(
      { certificate: pair.certPem, privateKey: atLimit, privateKeyPassword: PASSWORD },
      aws,
    );

    expect(past.code).toBe('UNSUPPORTED_KEY_ENCRYPTION');
    expect(past.message).toMatch(/2,000,000 iterations/);
    expect(past.ms).toBeLessThan(1000);
    expect(result.privateKey?.format).toBe('encrypted-pkcs8');
  }, 60_000);

  it('accepts scrypt at the limits: N=2^14 r=8 p=16 (openssl) and N=2^18 r=8 p=1 (256 MiB), refuses just past them', async () => {
    const pLimit = opensslEncrypted([
      '-v2',
      'aes-256-cbc',
      '-scrypt',
      '-scrypt_N',
      '16384',
      '-scrypt_r',
      '8',
      '-scrypt_p',
      '16',
    ]);
    const defaults = opensslEncrypted(['-v2', 'aes-256-cbc', '-scrypt']);
    const memoryLimit = scryptKey({ N: 1n << 18n, r: 8n, p: 1n }, true);

    for (const accepted of [pLimit, defaults, memoryLimit]) {
      const result = await validateUploadAsync(
        { certificate: pair.certPem, privateKey: accepted, privateKeyPassword: PASSWORD },
        aws,
      );
      expect(result.privateKey?.format).toBe('encrypted-pkcs8');
    }
    expect((await refusal(scryptKey({ N: 16384n, r: 8n, p: 17n }))).code).toBe('UNSUPPORTED_KEY_ENCRYPTION');
    expect((await refusal(scryptKey({ N: 1n << 19n, r: 8n, p: 1n }))).code).toBe(
      'UNSUPPORTED_KEY_ENCRYPTION',
    );
    expect((await refusal(scryptKey({ N: 1n << 18n, r: 8n, p: 2n }))).code).toBe(
      'UNSUPPORTED_KEY_ENCRYPTION',
    );
  }, 60_000);

  it.each([
    ['N not a power of two', { N: 1000n, r: 8n, p: 1n }],
    ['N of 1', { N: 1n, r: 8n, p: 1n }],
    ['an absurd N', { N: 1n << 62n, r: 8n, p: 1n }],
    ['r of 0', { N: 16384n, r: 0n, p: 1n }],
    ['p of 0', { N: 16384n, r: 8n, p: 0n }],
    ['an absurd r', { N: 2n, r: 1n << 40n, p: 1n }],
    ['a huge key length', { N: 16384n, r: 8n, p: 1n, keyLength: 1n << 40n }],
    ['a key length other than the cipher key length', { N: 16384n, r: 8n, p: 1n, keyLength: 64n }],
  ])('refuses scrypt with %s quickly', async (_name, fields) => {
    const result = await refusal(scryptKey(fields));

    expect(result.code).toBe('UNSUPPORTED_KEY_ENCRYPTION');
    expect(result.ms).toBeLessThan(1000);
  });

  it('refuses PBES1 and PBES2 with 3DES with UNSUPPORTED_KEY_ENCRYPTION, naming the command that re-encrypts', async () => {
    const pbes1 = opensslEncrypted(['-v1', 'PBE-SHA1-3DES']);
    const des3 = opensslEncrypted(['-v2', 'des3']);

    for (const key of [pbes1, des3]) {
      const result = await refusal(key);
      expect(result.code).toBe('UNSUPPORTED_KEY_ENCRYPTION');
      expect(result.message).toContain('openssl pkcs8 -topk8 -v2 aes-256-cbc');
    }
  });

  it('opens AES-128-CBC with hmacWithSHA512 and the openssl defaults, on the sync and async paths', async () => {
    const aes128 = opensslEncrypted(['-v2', 'aes-128-cbc', '-v2prf', 'hmacWithSHA512']);
    const defaults = opensslEncrypted(['-v2', 'aes-256-cbc']);

    for (const key of [aes128, defaults]) {
      const input = { certificate: pair.certPem, privateKey: key, privateKeyPassword: PASSWORD };
      expect((await validateUploadAsync(input, aws)).privateKey?.format).toBe('encrypted-pkcs8');
      expect(validateUpload(input, aws).privateKey?.format).toBe('encrypted-pkcs8');
    }
  });

  it('answers a wrong password with PRIVATE_KEY_ENCRYPTED, also when its garbage passes the padding check', async () => {
    const key = opensslEncrypted(['-v2', 'aes-256-cbc', '-iter', '1']);
    const parsed = readPbes2Key(derOf(key));
    // About one wrong password in 256 decrypts to valid padding: find one (cheap with -iter 1).
    let unlucky: string | undefined;
    for (let i = 0; i < 20_000 && unlucky === undefined; i++) {
      const decipher = createDecipheriv('aes-256-cbc', deriveKeySync(parsed, `wrong-${i}`), parsed.cipher.iv);
      try {
        decipher.update(parsed.encrypted);
        decipher.final();
        unlucky = `wrong-${i}`;
      } catch {
        // bad padding: the common case
      }
    }
    expect(unlucky).toBeDefined();

    expect((await refusal(key, 'wrong')).code).toBe('PRIVATE_KEY_ENCRYPTED');
    expect((await refusal(key, unlucky)).code).toBe('PRIVATE_KEY_ENCRYPTED');
    expect((await refusal(key, PASSWORD)).message).toBe('accepted');
  });

  it('keeps the event loop ticking (lag < 400 ms; the same work on the main thread blocks it over 1 s) while a limit of scrypt and a 16384-bit RSA unwrap run', async () => {
    const scryptLimit = scryptKey({ N: 1n << 18n, r: 8n, p: 1n }, true);
    const large = importPrivateKeyDer(costlyRsaKeyDer(16384), 'pkcs8');
    const wrapped = publicEncrypt(
      { key: createPublicKey(large), padding: constants.RSA_PKCS1_OAEP_PADDING, oaepHash: 'sha256' },
      randomBytes(32),
    );

    let scryptMs = 0;
    let unwrapMs = 0;
    const lag = await maxEventLoopLag(() =>
      Promise.all([
        (async () => {
          const started = performance.now();
          await validateUploadAsync(
            { certificate: pair.certPem, privateKey: scryptLimit, privateKeyPassword: PASSWORD },
            aws,
          );
          scryptMs = performance.now() - started;
        })(),
        (async () => {
          const started = performance.now();
          // The made-up key does not invert encryption: the unwrap fails, after the full private operation.
          await expect(unwrapOaepSha256(large, wrapped)).rejects.toThrow();
          unwrapMs = performance.now() - started;
        })(),
      ]),
    );

    process.stdout.write(
      `event-loop lag ${lag.toFixed(0)} ms during scrypt N=2^18 r=8 p=1 (${scryptMs.toFixed(0)} ms) and a 16384-bit unwrap (${unwrapMs.toFixed(0)} ms)\n`,
    );
    expect(lag).toBeLessThan(400);
  }, 60_000);

  it('runs at most two derivations at once and serves the others in turn, so memory stays bounded', async () => {
    const parsed = readPbes2Key(derOf(scryptKey({ N: 1n << 14n, r: 8n, p: 1n }, true)));
    let peak = 0;
    const watcher = setInterval(() => {
      peak = Math.max(peak, derivationLoad().running);
    }, 1);

    const derived = await Promise.all(Array.from({ length: 6 }, () => deriveKey(parsed, PASSWORD)));
    clearInterval(watcher);

    expect(peak).toBeGreaterThan(0);
    expect(peak).toBeLessThanOrEqual(MAX_CONCURRENT_DERIVATIONS);
    expect(derivationLoad()).toEqual({ running: 0, waiting: 0 });
    for (const key of derived) expect(key.equals(deriveKeySync(parsed, PASSWORD))).toBe(true);
  }, 60_000);
});
