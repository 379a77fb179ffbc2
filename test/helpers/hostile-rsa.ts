/**
 * Hostile RSA parameters built from one real key pair (issue 13, #2 and #3): certificates and
 * PKCS#8 keys whose public exponent, modulus or private (CRT) values break DESIGN rule 2, each
 * with the code validation must answer. Where the hostile key can still sign (a usable private
 * exponent exists), its certificate is self-signed with it, so only the rule under test fails;
 * the CRT cases keep the real, validly self-signed certificate and break only the key file.
 */
import { createHash, generateKeyPair, type KeyObject, randomBytes } from 'node:crypto';
import { promisify } from 'node:util';
import type { ErrorCode } from '../../shared/errors';
import { buildName } from '../../shared/pki/builder';
import { der, TAG, tlv } from '../../shared/pki/der';
import { OID } from '../../shared/pki/oids';
import { toPem } from '../../shared/pki/pem';

export interface HostileRsaCase {
  name: string;
  expectedCode: ErrorCode;
  certificatePem: string;
  privateKeyPem: string;
}

interface Integers {
  n: bigint;
  e: bigint;
  d: bigint;
  p: bigint;
  q: bigint;
  dp: bigint;
  dq: bigint;
  qi: bigint;
}

const NOT_BEFORE = new Date('2026-01-01T00:00:00Z');
const NOT_AFTER = new Date('2036-01-01T00:00:00Z');
const SHA256_DIGEST_INFO = Buffer.from('3031300d060960864801650304020105000420', 'hex');

const big = (b64u: string | undefined): bigint =>
  BigInt(`0x${Buffer.from(b64u ?? '', 'base64url').toString('hex') || '0'}`);

function bytesOf(value: bigint): Buffer {
  let hex = value.toString(16);
  if (hex.length % 2) hex = `0${hex}`;
  return Buffer.from(hex, 'hex');
}

function modPow(base: bigint, exponent: bigint, modulus: bigint): bigint {
  let result = 1n;
  let b = base % modulus;
  let x = exponent;
  while (x > 0n) {
    if (x & 1n) result = (result * b) % modulus;
    b = (b * b) % modulus;
    x >>= 1n;
  }
  return result;
}

function gcd(a: bigint, b: bigint): bigint {
  let [x, y] = [a, b];
  while (y !== 0n) [x, y] = [y, x % y];
  return x;
}

/** a^-1 mod m, or undefined when a and m share a factor. */
function modInverse(a: bigint, m: bigint): bigint | undefined {
  let [oldR, r] = [((a % m) + m) % m, m];
  let [oldS, s] = [1n, 0n];
  while (r !== 0n) {
    const quotient = oldR / r;
    [oldR, r] = [r, oldR - quotient * r];
    [oldS, s] = [s, oldS - quotient * s];
  }
  return oldR === 1n ? ((oldS % m) + m) % m : undefined;
}

/** An INTEGER TLV of a non-negative value, with `extraZeros` superfluous leading zero octets. */
function integer(value: bigint, extraZeros = 0): Buffer {
  const minimal = der.integer(value);
  if (extraZeros === 0) return minimal;
  const contents = Buffer.concat([
    Buffer.alloc(extraZeros),
    minimal.subarray(minimal[1]! & 0x80 ? 2 + (minimal[1]! & 0x7f) : 2),
  ]);
  return tlv(TAG.INTEGER, contents);
}

function pkcs8(k: Integers, modulusZeros = 0): string {
  const rsaPrivateKey = der.sequence(
    der.integer(0),
    integer(k.n, modulusZeros),
    ...[k.e, k.d, k.p, k.q, k.dp, k.dq, k.qi].map((v) => integer(v)),
  );
  const info = der.sequence(
    der.integer(0),
    der.sequence(der.oid(OID.rsaEncryption), der.null()),
    der.octetString(rsaPrivateKey),
  );
  return toPem('PRIVATE KEY', info);
}

/** A v3 certificate for (n, e), signed with PKCS#1 v1.5 SHA-256 by the exponent `signD` mod `signN`. */
function certificate(
  name: string,
  serial: number,
  publicKey: { n: bigint; e: bigint; modulusZeros?: number },
  signer: { n: bigint; d: bigint },
): string {
  const rsaPublicKey = der.sequence(integer(publicKey.n, publicKey.modulusZeros ?? 0), integer(publicKey.e));
  const spki = der.sequence(
    der.sequence(der.oid(OID.rsaEncryption), der.null()),
    der.bitString(rsaPublicKey),
  );
  const sigAlg = der.sequence(der.oid(OID.sha256WithRSAEncryption), der.null());
  const subject = buildName([
    ['CN', `Hostile RSA ${name}`],
    ['C', 'US'],
    ['O', 'Genesys'],
  ]);
  // KeyUsage digitalSignature + keyEncipherment, critical: nothing but the key itself is at fault.
  const keyUsage = der.sequence(
    der.oid(OID.keyUsage),
    der.boolean(true),
    der.octetString(der.bitString(Buffer.from([0xa0]), 5)),
  );
  const tbs = der.sequence(
    der.explicit(0, der.integer(2)),
    der.integer(serial),
    sigAlg,
    subject,
    der.sequence(der.time(NOT_BEFORE), der.time(NOT_AFTER)),
    subject,
    spki,
    der.explicit(3, der.sequence(keyUsage)),
  );
  const k = bytesOf(signer.n).length;
  const digestInfo = Buffer.concat([SHA256_DIGEST_INFO, createHash('sha256').update(tbs).digest()]);
  const encoded = Buffer.concat([
    Buffer.from([0, 1]),
    Buffer.alloc(k - digestInfo.length - 3, 0xff),
    Buffer.from([0]),
    digestInfo,
  ]);
  const signature = modPow(BigInt(`0x${encoded.toString('hex')}`), signer.d, signer.n);
  const sigBytes = bytesOf(signature);
  const padded = Buffer.concat([Buffer.alloc(k - sigBytes.length), sigBytes]);
  return toPem('CERTIFICATE', der.sequence(tbs, sigAlg, der.bitString(padded)));
}

let basePair: Promise<KeyObject> | undefined;

/**
 * The hostile cases, built from one 2048-bit key generated per process (fixed dates: valid from
 * 2026-01-01 to 2036-01-01). Every case must be refused with its `expectedCode` by upload,
 * preview (certificate cases) and validation.
 */
export async function hostileRsaCases(): Promise<HostileRsaCase[]> {
  basePair ??= promisify(generateKeyPair)('rsa', { modulusLength: 2048 }).then((pair) => pair.privateKey);
  const jwk = (await basePair).export({ format: 'jwk' });
  const real: Integers = {
    n: big(jwk.n),
    e: big(jwk.e),
    d: big(jwk.d),
    p: big(jwk.p),
    q: big(jwk.q),
    dp: big(jwk.dp),
    dq: big(jwk.dq),
    qi: big(jwk.qi),
  };
  const lambda = ((real.p - 1n) * (real.q - 1n)) / gcd(real.p - 1n, real.q - 1n);
  const realCertificate = certificate('real key', 1, real, real);
  const cases: HostileRsaCase[] = [];
  let serial = 100;

  /** A certificate and key with a replaced public part; self-signed with it when e inverts. */
  const publicCase = (name: string, e: bigint, options: { n?: bigint; modulusZeros?: number } = {}) => {
    const n = options.n ?? real.n;
    const inverse = modInverse(e, lambda);
    const d = inverse ?? real.d;
    const key: Integers = { ...real, n, e, d, dp: d % (real.p - 1n), dq: d % (real.q - 1n) };
    const signer = inverse !== undefined && options.n === undefined ? { n, d } : real;
    cases.push({
      name,
      expectedCode: 'WEAK_PUBLIC_KEY',
      certificatePem: certificate(name, serial++, { n, e, modulusZeros: options.modulusZeros ?? 0 }, signer),
      privateKeyPem: pkcs8(key, options.modulusZeros),
    });
  };
  /** The real, validly self-signed certificate with a key file whose private values are broken. */
  const privateCase = (
    name: string,
    change: Partial<Integers>,
    expectedCode: ErrorCode = 'INVALID_PRIVATE_KEY',
  ) => {
    cases.push({
      name,
      expectedCode,
      certificatePem: realCertificate,
      privateKeyPem: pkcs8({ ...real, ...change }),
    });
  };

  publicCase('public exponent 1', 1n);
  publicCase('public exponent 3', 3n);
  publicCase('public exponent 65535', 65535n);
  publicCase('public exponent 65536 (even)', 65536n);
  publicCase('public exponent 2^256+1', (1n << 256n) + 1n);
  publicCase('even modulus', real.e, { n: real.n + 1n });
  publicCase('modulus with leading zero octets (size differs from the stated one)', real.e, {
    modulusZeros: 2,
  });

  privateCase('wrong dP', { dp: (real.dp + 1n) % (real.p - 1n) });
  privateCase('wrong dQ', { dq: (real.dq + 1n) % (real.q - 1n) });
  privateCase('wrong qInv', { qi: (real.qi + 1n) % real.p });
  privateCase('wrong d', { d: real.d + 2n });
  privateCase('n is not p*q', { p: real.p + 2n });
  privateCase('p = 1', { p: 1n, q: real.n });

  // A sound, consistent key with the certificate's modulus but another public exponent.
  let other = 65539n;
  while (modInverse(other, lambda) === undefined) other += 2n;
  const otherD = modInverse(other, lambda)!;
  privateCase(
    'consistent key with another public exponent',
    { e: other, d: otherD, dp: otherD % (real.p - 1n), dq: otherD % (real.q - 1n) },
    'KEY_MISMATCH',
  );
  return cases;
}

function randomOdd(bits: number): bigint {
  const bytes = randomBytes(Math.ceil(bits / 8));
  let value = BigInt(`0x${bytes.toString('hex')}`) & ((1n << BigInt(bits)) - 1n);
  value |= (3n << BigInt(bits - 2)) | 1n;
  return value;
}

/**
 * A PKCS#8 RSA key of `bits` (16384, say) that rule 2's arithmetic checks accept, made in
 * milliseconds: p and q are random odd numbers rather than primes (generating real 8192-bit
 * primes takes minutes). Its private operation costs what a real key's does, but does not
 * invert encryption: for measuring the cost of RSA work, never for round trips.
 */
export function costlyRsaKeyDer(bits: number): Buffer {
  const e = 65537n;
  for (;;) {
    const p = randomOdd(bits / 2);
    const q = randomOdd(bits / 2);
    const lambda = ((p - 1n) * (q - 1n)) / gcd(p - 1n, q - 1n);
    const d = modInverse(e, lambda);
    const qi = modInverse(q, p);
    if (d === undefined || qi === undefined) continue;
    const k: Integers = { n: p * q, e, d, p, q, dp: d % (p - 1n), dq: d % (q - 1n), qi };
    return parsePem(pkcs8(k));
  }
}

function parsePem(pem: string): Buffer {
  return Buffer.from(pem.replace(/-----[^-]+-----|\s/g, ''), 'base64');
}
