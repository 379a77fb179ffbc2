/**
 * Encrypted PKCS#8 (PBES2, RFC 8018) read by us rather than by OpenSSL, so that the cost of the
 * key derivation is known and bounded (DESIGN section 9) before any of it is spent, and so the
 * derivation can run on the libuv threadpool (`crypto.scrypt` / `crypto.pbkdf2`) instead of
 * stalling the event loop inside a synchronous `createPrivateKey({ passphrase })`.
 */
import { createDecipheriv, pbkdf2, pbkdf2Sync, scrypt, scryptSync } from 'node:crypto';
import { ValidationError } from '../errors';
import { children, DerError, type DerNode, parseDer, readOid, readSmallInt, TAG } from './der';
import { OID } from './oids';

/** DESIGN section 9: the most key-derivation work an encrypted key may ask for. */
export const MAX_PBKDF2_ITERATIONS = 1_000_000;
export const MAX_SCRYPT_BYTES = 256 * 1024 * 1024;
export const MAX_SCRYPT_PARALLELISM = 16;

/** How to re-encrypt a key with sane parameters (openssl asks for the old and a new password). */
export const REENCRYPT_COMMAND = 'openssl pkcs8 -topk8 -v2 aes-256-cbc -in old.key -out new.key';

const PRFS: Record<string, string> = {
  '1.2.840.113549.2.7': 'sha1',
  '1.2.840.113549.2.8': 'sha224',
  '1.2.840.113549.2.9': 'sha256',
  '1.2.840.113549.2.10': 'sha384',
  '1.2.840.113549.2.11': 'sha512',
};

const CIPHERS: Record<string, { name: 'aes-128-cbc' | 'aes-192-cbc' | 'aes-256-cbc'; keyLength: number }> = {
  '2.16.840.1.101.3.4.1.2': { name: 'aes-128-cbc', keyLength: 16 },
  '2.16.840.1.101.3.4.1.22': { name: 'aes-192-cbc', keyLength: 24 },
  '2.16.840.1.101.3.4.1.42': { name: 'aes-256-cbc', keyLength: 32 },
};

export type Pbes2Kdf =
  | { name: 'pbkdf2'; salt: Buffer; iterations: number; prf: string }
  | { name: 'scrypt'; salt: Buffer; cost: number; blockSize: number; parallelization: number };

/** What an encrypted PKCS#8 key needs to be opened, its cost already checked. */
export interface Pbes2Key {
  kdf: Pbes2Kdf;
  cipher: { name: 'aes-128-cbc' | 'aes-192-cbc' | 'aes-256-cbc'; keyLength: number; iv: Buffer };
  encrypted: Buffer;
}

const field = { field: 'privateKey' };

function unsupported(problem: string, details: Record<string, unknown> = {}): ValidationError {
  return new ValidationError(
    'UNSUPPORTED_KEY_ENCRYPTION',
    `The private key's encryption is not accepted: ${problem}. Re-encrypt it with sane parameters: ${REENCRYPT_COMMAND} (or upload it unencrypted).`,
    { details: { ...field, ...details } },
  );
}

function damaged(cause?: unknown): ValidationError {
  return new ValidationError(
    'INVALID_PRIVATE_KEY',
    'The encrypted private key is damaged: its encryption parameters cannot be read.',
    { details: field, cause },
  );
}

function algorithm(node: DerNode | undefined): { oid: string; params: DerNode | undefined } {
  if (node?.tag !== TAG.SEQUENCE) throw new DerError('expected an AlgorithmIdentifier');
  const [oid, params, ...rest] = children(node);
  if (!oid || rest.length > 0) throw new DerError('bad AlgorithmIdentifier');
  return { oid: readOid(oid), params };
}

function octets(node: DerNode | undefined): Buffer {
  if (node?.tag !== TAG.OCTET_STRING) throw new DerError('expected an OCTET STRING');
  return node.value;
}

/** A positive INTEGER; anything too large to be sane is reported as `tooLarge`. */
function count(node: DerNode | undefined, tooLarge: () => ValidationError): number {
  if (node?.tag !== TAG.INTEGER) throw new DerError('expected an INTEGER');
  const v = node.value;
  if (v.length === 0 || (v[0]! & 0x80) !== 0) throw new DerError('negative INTEGER');
  let start = 0;
  while (start < v.length - 1 && v[start] === 0) start++;
  if (v.length - start > 6) throw tooLarge();
  return readSmallInt(node);
}

function readKdf(kdf: { oid: string; params: DerNode | undefined }, keyLength: number): Pbes2Kdf {
  if (kdf.oid === OID.pbkdf2) {
    if (kdf.params?.tag !== TAG.SEQUENCE) throw new DerError('bad PBKDF2-params');
    const [saltNode, iterationsNode, ...optional] = children(kdf.params);
    if (saltNode?.tag !== TAG.OCTET_STRING) throw unsupported('PBKDF2 with a salt from another source');
    const tooMany = () =>
      unsupported(`PBKDF2 with more than ${MAX_PBKDF2_ITERATIONS.toLocaleString('en')} iterations`, {
        maximumIterations: MAX_PBKDF2_ITERATIONS,
      });
    const iterations = count(iterationsNode, tooMany);
    if (iterations < 1) throw new DerError('PBKDF2 with no iterations');
    if (iterations > MAX_PBKDF2_ITERATIONS) {
      throw unsupported(
        `PBKDF2 with ${iterations.toLocaleString('en')} iterations (at most ${MAX_PBKDF2_ITERATIONS.toLocaleString('en')})`,
        { iterations, maximumIterations: MAX_PBKDF2_ITERATIONS },
      );
    }
    let prf = 'sha1';
    for (const item of optional) {
      if (item.tag === TAG.INTEGER) {
        if (count(item, () => unsupported('a derived key of absurd length')) !== keyLength) {
          throw unsupported('a derived key length that does not fit its cipher');
        }
      } else {
        const prfAlgorithm = algorithm(item);
        const name = PRFS[prfAlgorithm.oid];
        if (!name) throw unsupported(`PBKDF2 with the pseudo-random function ${prfAlgorithm.oid}`);
        prf = name;
      }
    }
    return { name: 'pbkdf2', salt: saltNode.value, iterations, prf };
  }
  if (kdf.oid === OID.scrypt) {
    if (kdf.params?.tag !== TAG.SEQUENCE) throw new DerError('bad scrypt-params');
    const [saltNode, costNode, blockSizeNode, parallelNode, lengthNode, ...rest] = children(kdf.params);
    if (rest.length > 0) throw new DerError('bad scrypt-params');
    const salt = octets(saltNode);
    const tooCostly = () =>
      unsupported(`scrypt needing more than ${MAX_SCRYPT_BYTES / 1024 / 1024} MiB (N*r*p*128 bytes)`, {
        maximumBytes: MAX_SCRYPT_BYTES,
      });
    const cost = count(costNode, tooCostly);
    const blockSize = count(blockSizeNode, tooCostly);
    const parallelization = count(parallelNode, tooCostly);
    if (cost < 2 || (cost & (cost - 1)) !== 0) {
      throw unsupported(`scrypt with N=${cost}, which is not a power of two above 1`);
    }
    if (blockSize < 1 || parallelization < 1) throw unsupported('scrypt with r or p of 0');
    if (parallelization > MAX_SCRYPT_PARALLELISM) {
      throw unsupported(`scrypt with p=${parallelization} (at most ${MAX_SCRYPT_PARALLELISM})`, {
        parallelization,
        maximumParallelization: MAX_SCRYPT_PARALLELISM,
      });
    }
    const bytes = cost * blockSize * parallelization * 128;
    if (bytes > MAX_SCRYPT_BYTES) {
      throw unsupported(
        `scrypt with N=${cost}, r=${blockSize}, p=${parallelization} needs ${Math.ceil(bytes / 1024 / 1024)} MiB (at most ${MAX_SCRYPT_BYTES / 1024 / 1024} MiB)`,
        { bytes, maximumBytes: MAX_SCRYPT_BYTES },
      );
    }
    if (
      lengthNode !== undefined &&
      count(lengthNode, () => unsupported('a derived key of absurd length')) !== keyLength
    ) {
      throw unsupported('a derived key length that does not fit its cipher');
    }
    return { name: 'scrypt', salt, cost, blockSize, parallelization };
  }
  throw unsupported(`the key-derivation function ${kdf.oid} (PBKDF2 and scrypt are supported)`);
}

/**
 * Reads an EncryptedPrivateKeyInfo and checks that opening it costs no more than section 9
 * allows. Throws UNSUPPORTED_KEY_ENCRYPTION past the limits, for PBES1 and for ciphers other
 * than AES-CBC, and INVALID_PRIVATE_KEY when the structure is damaged.
 */
export function readPbes2Key(der: Buffer): Pbes2Key {
  try {
    const [scheme, data, ...rest] = children(parseDer(der));
    if (rest.length > 0) throw new DerError('trailing fields');
    const encrypted = octets(data);
    const { oid, params } = algorithm(scheme);
    if (oid !== OID.pbes2) {
      // PBES1 and PKCS#12 PBE: DES, RC2, RC4 or 3DES under MD5/SHA-1 derivations.
      throw unsupported(`the legacy scheme ${oid} (PBES1); use PBES2 with AES`);
    }
    if (params?.tag !== TAG.SEQUENCE) throw new DerError('bad PBES2-params');
    const [kdfNode, cipherNode, ...more] = children(params);
    if (more.length > 0) throw new DerError('bad PBES2-params');
    const cipherAlgorithm = algorithm(cipherNode);
    const cipher = CIPHERS[cipherAlgorithm.oid];
    if (!cipher) throw unsupported(`the cipher ${cipherAlgorithm.oid} (AES-CBC is supported)`);
    const iv = octets(cipherAlgorithm.params);
    if (iv.length !== 16) throw new DerError('bad AES-CBC IV');
    if (encrypted.length === 0 || encrypted.length % 16 !== 0) throw new DerError('bad ciphertext length');
    const kdf = readKdf(algorithm(kdfNode), cipher.keyLength);
    return { kdf, cipher: { ...cipher, iv }, encrypted };
  } catch (error) {
    if (error instanceof DerError) throw damaged(error);
    throw error;
  }
}

function scryptOptions(kdf: Extract<Pbes2Kdf, { name: 'scrypt' }>) {
  // Node refuses above maxmem (128*N*r plus p's share); the limit above is what bounds it.
  const maxmem = 128 * kdf.cost * kdf.blockSize + 128 * kdf.blockSize * kdf.parallelization + (1 << 20);
  return { N: kdf.cost, r: kdf.blockSize, p: kdf.parallelization, maxmem };
}

/**
 * Derivations running at once in this process. A derivation at the limit holds 256 MiB and one of
 * libuv's four threadpool threads for about a second; two at a time bound the memory to 512 MiB
 * and leave threads for file I/O and WebCrypto's RSA work. The rest wait their turn.
 */
export const MAX_CONCURRENT_DERIVATIONS = 2;
let derivationsRunning = 0;
const derivationQueue: Array<() => void> = [];

async function withDerivationSlot<T>(work: () => Promise<T>): Promise<T> {
  if (derivationsRunning >= MAX_CONCURRENT_DERIVATIONS) {
    await new Promise<void>((resolve) => derivationQueue.push(resolve));
  } else {
    derivationsRunning++;
  }
  try {
    return await work();
  } finally {
    // Hand the slot straight to the next waiter, or give it back.
    const next = derivationQueue.shift();
    if (next) next();
    else derivationsRunning--;
  }
}

/** Derivations currently running and waiting (for tests and diagnostics). */
export function derivationLoad(): { running: number; waiting: number } {
  return { running: derivationsRunning, waiting: derivationQueue.length };
}

/**
 * Derives the cipher key on the libuv threadpool, so other requests keep being served meanwhile;
 * at most `MAX_CONCURRENT_DERIVATIONS` run at once.
 */
export function deriveKey(key: Pbes2Key, password: string): Promise<Buffer> {
  const { kdf, cipher } = key;
  return withDerivationSlot(
    () =>
      new Promise<Buffer>((resolve, reject) => {
        const done = (error: Error | null, derived: Buffer) => (error ? reject(error) : resolve(derived));
        if (kdf.name === 'pbkdf2')
          pbkdf2(password, kdf.salt, kdf.iterations, cipher.keyLength, kdf.prf, done);
        else scrypt(password, kdf.salt, cipher.keyLength, scryptOptions(kdf), done);
      }),
  );
}

/** The same derivation on the calling thread, for command-line tools and tests. */
export function deriveKeySync(key: Pbes2Key, password: string): Buffer {
  const { kdf, cipher } = key;
  return kdf.name === 'pbkdf2'
    ? pbkdf2Sync(password, kdf.salt, kdf.iterations, cipher.keyLength, kdf.prf)
    : scryptSync(password, kdf.salt, cipher.keyLength, scryptOptions(kdf));
}

/**
 * The PKCS#8 DER inside, or undefined when the derived key does not open it: bad padding, or
 * (about one wrong password in 256 passes the padding check) plaintext that is not a DER
 * PrivateKeyInfo. Either way the password is wrong, or, indistinguishably, the ciphertext damaged.
 */
export function decryptPbes2(key: Pbes2Key, derived: Buffer): Buffer | undefined {
  let plaintext: Buffer;
  try {
    const decipher = createDecipheriv(key.cipher.name, derived, key.cipher.iv);
    plaintext = Buffer.concat([decipher.update(key.encrypted), decipher.final()]);
  } catch {
    return undefined;
  }
  try {
    const [version, algorithmNode, privateKey] = children(parseDer(plaintext));
    if (
      version?.tag !== TAG.INTEGER ||
      algorithmNode?.tag !== TAG.SEQUENCE ||
      privateKey?.tag !== TAG.OCTET_STRING
    ) {
      plaintext.fill(0);
      return undefined;
    }
    return plaintext;
  } catch {
    plaintext.fill(0);
    return undefined;
  }
}
