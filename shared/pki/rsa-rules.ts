/**
 * DESIGN section 3 rule 2 on the integers of an RSA key, read from their DER encoding: the size
 * first (from the length of the encoding, before any arithmetic), then the public key's soundness
 * (FIPS 186-5 A.1.1), then the private key's consistency (RFC 8017 3.2). Everything here is
 * comparisons, multiplications and remainders: milliseconds even at 16384 bits, and never a
 * modular exponentiation a hostile key could make expensive.
 */
import { ValidationError } from '../errors';
import { children, DerError, type DerNode, parseDer, readOid, TAG } from './der';
import { OID } from './oids';

export const MIN_RSA_BITS = 2048;
/** Larger keys are refused: OpenSSL itself will not use RSA moduli above 16384 bits. */
export const MAX_RSA_BITS = 16384;
const MIN_PUBLIC_EXPONENT = 65537n;

const FIX_HINT = 'Generate a new key with `openssl genrsa -out tenant.key 3072` (it uses e=65537).';

/** Which upload field an error is about, and how to name the key in its message. */
export interface KeyOwner {
  field: 'certificate' | 'privateKey';
  /** "The certificate's RSA key", "The private key", ... */
  what: string;
}

/** An INTEGER's contents: the bit length of its magnitude and whether it is minimally encoded. */
function integerShape(value: Buffer): { negative: boolean; bits: number; minimal: boolean } {
  const negative = value.length > 0 && (value[0]! & 0x80) !== 0;
  let start = 0;
  while (start < value.length && value[start] === 0) start++;
  const bits = start === value.length ? 0 : (value.length - start - 1) * 8 + (32 - Math.clz32(value[start]!));
  const minimal = value.length === 1 || !(value[0] === 0 && (value[1]! & 0x80) === 0);
  return { negative, bits, minimal };
}

function toBigInt(value: Buffer): bigint {
  return value.length === 0 ? 0n : BigInt(`0x${value.toString('hex')}`);
}

function weak(owner: KeyOwner, problem: string): ValidationError {
  return new ValidationError(
    'WEAK_PUBLIC_KEY',
    `${owner.what} is not a sound RSA public key: ${problem}. ${FIX_HINT}`,
    {
      details: { field: owner.field },
    },
  );
}

/**
 * Checks an RSA public key given as the contents of its modulus and exponent INTEGERs, cheapest
 * first: the size from the encoding (KEY_TOO_LARGE, and KEY_TOO_SMALL unless `checkMinimum` is
 * false), then an odd, minimally encoded modulus and an odd exponent with 65537 <= e < 2^256
 * (WEAK_PUBLIC_KEY). Returns the modulus size in bits.
 */
export function checkRsaPublicKey(
  modulus: Buffer,
  exponent: Buffer,
  owner: KeyOwner,
  checkMinimum = true,
): number {
  const n = integerShape(modulus);
  if (n.bits > MAX_RSA_BITS) {
    throw new ValidationError(
      'KEY_TOO_LARGE',
      `${owner.what} has ${n.bits} bits; keys above ${MAX_RSA_BITS} bits are not supported. Use a key of 2048 to 4096 bits: openssl genrsa -out tenant.key 3072`,
      { details: { field: owner.field, keySize: n.bits, maximum: MAX_RSA_BITS } },
    );
  }
  if (n.negative || n.bits === 0) throw weak(owner, 'the modulus is not a positive number');
  if (checkMinimum && n.bits < MIN_RSA_BITS) {
    throw new ValidationError(
      'KEY_TOO_SMALL',
      `${owner.what} has ${n.bits} bits; at least ${MIN_RSA_BITS} are required. Generate a new key: openssl genrsa -out tenant.key 2048`,
      { details: { field: owner.field, keySize: n.bits, minimum: MIN_RSA_BITS } },
    );
  }
  if (!n.minimal) {
    const stated = (modulus.length - 1) * 8;
    throw weak(
      owner,
      `the modulus is encoded with leading zero octets, so its size (${n.bits} bits) is not the size its encoding states (${stated} bits or more)`,
    );
  }
  if ((modulus[modulus.length - 1]! & 1) === 0) throw weak(owner, 'the modulus is even');
  const e = integerShape(exponent);
  if (e.negative || !e.minimal) throw weak(owner, 'the public exponent is negative or not minimally encoded');
  // Bit length first: an exponent of thousands of bits is refused without reading its value.
  if (e.bits > 256) {
    throw weak(owner, `the public exponent has ${e.bits} bits: it is 2^256 or more (FIPS 186-5 A.1.1)`);
  }
  const value = toBigInt(exponent);
  if ((value & 1n) === 0n) throw weak(owner, `the public exponent ${value} is even`);
  if (value < MIN_PUBLIC_EXPONENT) {
    throw weak(owner, `the public exponent ${value} is below 65537 (FIPS 186-5 A.1.1)`);
  }
  return n.bits;
}

/** Modulus and exponent INTEGER contents of an RSA SubjectPublicKeyInfo (rsaEncryption only). */
export function rsaPublicIntegers(spki: DerNode): { modulus: Buffer; exponent: Buffer } {
  const [algorithm, bits] = children(spki);
  if (!algorithm || !bits || bits.tag !== TAG.BIT_STRING) throw new DerError('bad SubjectPublicKeyInfo');
  const [oid] = children(algorithm);
  if (!oid || readOid(oid) !== OID.rsaEncryption) throw new DerError('not an rsaEncryption key');
  if (bits.value.length < 2 || bits.value[0] !== 0) throw new DerError('bad subjectPublicKey BIT STRING');
  const [modulus, exponent, ...rest] = children(parseDer(bits.value.subarray(1)));
  if (modulus?.tag !== TAG.INTEGER || exponent?.tag !== TAG.INTEGER || rest.length > 0) {
    throw new DerError('bad RSAPublicKey');
  }
  return { modulus: modulus.value, exponent: exponent.value };
}

/** The INTEGER contents of a two-prime RSAPrivateKey (RFC 8017 A.1.2). */
export interface RsaPrivateIntegers {
  n: Buffer;
  e: Buffer;
  d: Buffer;
  p: Buffer;
  q: Buffer;
  dp: Buffer;
  dq: Buffer;
  qi: Buffer;
}

const PRIVATE_FIELDS = ['n', 'e', 'd', 'p', 'q', 'dp', 'dq', 'qi'] as const;

function invalidKey(message: string): ValidationError {
  return new ValidationError(
    'INVALID_PRIVATE_KEY',
    `The private key is not a consistent RSA key: ${message}. Use the key file that was generated with the certificate, or generate a new pair.`,
    {
      details: { field: 'privateKey' },
    },
  );
}

/**
 * Reads RSAPrivateKey from PKCS#1 DER, or from PKCS#8 DER whose algorithm is rsaEncryption.
 * Returns undefined when the DER is not that shape (the caller's key decoder then decides what
 * it is); throws INVALID_PRIVATE_KEY for a multi-prime or unknown-version key.
 */
export function readRsaPrivateIntegers(
  keyDer: Buffer,
  type: 'pkcs1' | 'pkcs8',
): RsaPrivateIntegers | undefined {
  let rsaPrivateKey: DerNode;
  try {
    let node = parseDer(keyDer);
    if (type === 'pkcs8') {
      const [, algorithm, privateKey] = children(node);
      if (algorithm?.tag !== TAG.SEQUENCE || privateKey?.tag !== TAG.OCTET_STRING) return undefined;
      const [oid] = children(algorithm);
      if (!oid || readOid(oid) !== OID.rsaEncryption) return undefined;
      node = parseDer(privateKey.value);
    }
    rsaPrivateKey = node;
    if (rsaPrivateKey.tag !== TAG.SEQUENCE) return undefined;
    const [version, ...integers] = children(rsaPrivateKey);
    if (
      version?.tag !== TAG.INTEGER ||
      integers.some((i) => i.tag !== TAG.INTEGER && i.tag !== TAG.SEQUENCE)
    ) {
      return undefined;
    }
    if (
      !(version.value.length === 1 && version.value[0] === 0) ||
      integers.length !== PRIVATE_FIELDS.length
    ) {
      throw invalidKey('only two-prime keys (RSAPrivateKey version 0) are supported');
    }
    const out = {} as RsaPrivateIntegers;
    for (const [i, name] of PRIVATE_FIELDS.entries()) {
      const integer = integers[i]!;
      if (integer.tag !== TAG.INTEGER) return undefined;
      out[name] = integer.value;
    }
    return out;
  } catch (error) {
    if (error instanceof DerError) return undefined;
    throw error;
  }
}

/**
 * Rule 2 for a private key: its own public part (size and soundness, as for a certificate; the
 * minimum size is left to the key-match check), then RFC 8017's consistency: p > 1, q > 1,
 * n = p*q, e*d = 1 mod lcm(p-1, q-1), dP = d mod (p-1), dQ = d mod (q-1), qInv*q = 1 mod p.
 */
export function checkRsaPrivateKey(k: RsaPrivateIntegers): void {
  checkRsaPublicKey(k.n, k.e, { field: 'privateKey', what: 'The private key' }, false);
  for (const name of PRIVATE_FIELDS) {
    const shape = integerShape(k[name]);
    // Bounds the arithmetic below: no field of a sound key is longer than its modulus.
    if (shape.negative || shape.bits > MAX_RSA_BITS) throw invalidKey(`its ${name} is out of range`);
  }
  const [n, e, d, p, q, dp, dq, qi] = PRIVATE_FIELDS.map((name) => toBigInt(k[name])) as [
    bigint,
    bigint,
    bigint,
    bigint,
    bigint,
    bigint,
    bigint,
    bigint,
  ];
  if (p <= 1n || q <= 1n) throw invalidKey('a prime factor is 0 or 1');
  if (p * q !== n) throw invalidKey('its modulus is not the product of its primes');
  if (d <= 0n || d >= n) throw invalidKey('its private exponent is out of range');
  // lcm(p-1, q-1) divides e*d - 1 exactly when both p-1 and q-1 do: no gcd needed.
  const ed = e * d;
  if (ed % (p - 1n) !== 1n % (p - 1n) || ed % (q - 1n) !== 1n % (q - 1n)) {
    throw invalidKey('its private exponent does not invert its public exponent');
  }
  if (dp !== d % (p - 1n)) throw invalidKey('its first CRT exponent (dP) is not d mod (p-1)');
  if (dq !== d % (q - 1n)) throw invalidKey('its second CRT exponent (dQ) is not d mod (q-1)');
  if (qi <= 0n || qi >= p || (qi * q) % p !== 1n) {
    throw invalidKey('its CRT coefficient (qInv) is not the inverse of q mod p');
  }
}

/** The integers of a loaded private key, through its JWK (for keys that arrive as KeyObjects). */
export function rsaPrivateIntegersOfJwk(jwk: Record<string, unknown>): RsaPrivateIntegers | undefined {
  const out = {} as RsaPrivateIntegers;
  for (const name of PRIVATE_FIELDS) {
    const value = jwk[name];
    if (typeof value !== 'string') return undefined;
    const bytes = Buffer.from(value, 'base64url');
    // JWK integers are unsigned magnitudes; DER contents are two's complement.
    out[name] =
      bytes.length > 0 && (bytes[0]! & 0x80) !== 0 ? Buffer.concat([Buffer.from([0]), bytes]) : bytes;
  }
  return 'oth' in jwk ? undefined : out;
}
