/**
 * Private key parsing: PKCS#1, PKCS#8 and encrypted PKCS#8 (and legacy encrypted PKCS#1), with
 * the error codes of DESIGN section 4. Key bytes never go into an error message.
 */
import { createPrivateKey, type KeyObject, randomBytes } from 'node:crypto';
import { ValidationError, type Warning } from '../errors';
import { children, DerError, parseDer, readOid, readSmallInt, TAG } from './der';
import { OID } from './oids';
import type { PemBlock } from './pem';
import { importPrivateKeyDer } from './rsa-key-import';

export type PrivateKeyFormat = 'pkcs1' | 'pkcs8' | 'encrypted-pkcs8' | 'encrypted-pkcs1';

export interface ParsedPrivateKey {
  key: KeyObject;
  format: PrivateKeyFormat;
  warnings: Warning[];
}

/** Password-based encryption work factors above these are refused (a hostile key could hang us). */
const MAX_PBKDF2_ITERATIONS = 1_000_000;
const MAX_SCRYPT_COST = 1 << 20;

const field = { field: 'privateKey' };

function keyError(
  code: 'INVALID_PRIVATE_KEY' | 'UNSUPPORTED_KEY_ALGORITHM',
  message: string,
  cause?: unknown,
) {
  return new ValidationError(code, message, { details: field, cause });
}

/** Refuses encrypted keys whose KDF work factor would take unreasonably long. */
function checkWorkFactor(der: Buffer): void {
  try {
    const [algorithm] = children(parseDer(der));
    if (!algorithm) return;
    const [oid, params] = children(algorithm);
    if (!oid || !params) return;
    if (readOid(oid) !== OID.pbes2) {
      // PBES1 / PKCS#12 PBE: params are SEQUENCE { salt, iterations }.
      const pbeParams = children(params);
      const iterations = pbeParams[1];
      if (iterations?.tag === TAG.INTEGER && readSmallInt(iterations) > MAX_PBKDF2_ITERATIONS) {
        throw new DerError('too many iterations');
      }
      return;
    }
    const [kdf] = children(params);
    if (!kdf) return;
    const [kdfOid, kdfParams] = children(kdf);
    if (!kdfOid || !kdfParams) return;
    const kdfFields = children(kdfParams);
    if (readOid(kdfOid) === OID.pbkdf2) {
      const iterations = kdfFields[1];
      if (iterations && readSmallInt(iterations) > MAX_PBKDF2_ITERATIONS)
        throw new DerError('too many iterations');
    } else if (readOid(kdfOid) === OID.scrypt) {
      const cost = kdfFields[1];
      if (cost && readSmallInt(cost) > MAX_SCRYPT_COST) throw new DerError('scrypt cost too high');
    }
  } catch (error) {
    throw keyError(
      'INVALID_PRIVATE_KEY',
      'The encrypted private key uses parameters we refuse (malformed, or a key-derivation work factor that is too high). Re-encrypt it with `openssl pkcs8 -topk8 -v2 aes-256-cbc`, or upload it unencrypted.',
      error,
    );
  }
}

function rsaOnly(key: KeyObject): KeyObject {
  if (key.asymmetricKeyType !== 'rsa') {
    throw keyError(
      'UNSUPPORTED_KEY_ALGORITHM',
      `The private key is ${String(key.asymmetricKeyType).toUpperCase()}; recording keys must be RSA (2048 bits or more).`,
    );
  }
  return key;
}

function decodeFailure(error: unknown): boolean {
  const code = (error as { code?: string }).code ?? '';
  const message = (error as Error).message ?? '';
  return /BAD_DECRYPT|bad decrypt|ERR_OSSL_EVP_BAD_DECRYPT|passphrase|PASSWORD/i.test(`${code} ${message}`);
}

/**
 * Parses the private key PEM block. `password` is used only for encrypted keys; for an
 * unencrypted key a given password yields the PASSWORD_IGNORED warning.
 */
export function parsePrivateKeyBlock(
  block: PemBlock,
  password: string | undefined,
  flow: 'aws' | 'azure',
): ParsedPrivateKey {
  const warnings: Warning[] = [];
  const hasPassword = password !== undefined && password !== '';
  switch (block.label) {
    case 'RSA PRIVATE KEY': {
      if (flow === 'azure') {
        throw new ValidationError(
          'PKCS8_REQUIRED',
          'This is a PKCS#1 key (BEGIN RSA PRIVATE KEY); the Azure flow needs PKCS#8. Convert it with: openssl pkcs8 -topk8 -nocrypt -in tenant.key -out tenant-pkcs8.key (or: npx reccert convert-key tenant.key tenant-pkcs8.key)',
          { details: field },
        );
      }
      const encrypted = (block.headers['Proc-Type'] ?? '').includes('ENCRYPTED');
      if (encrypted) {
        if (!hasPassword) {
          throw new ValidationError(
            'PRIVATE_KEY_ENCRYPTED',
            'The private key is encrypted: give its password in privateKeyPassword.',
            { details: { field: 'privateKeyPassword' } },
          );
        }
        return { key: rsaOnly(decryptLegacyPem(block, password)), format: 'encrypted-pkcs1', warnings };
      }
      if (hasPassword) warnings.push(passwordIgnored());
      return { key: rsaOnly(load(block.der, 'pkcs1')), format: 'pkcs1', warnings };
    }
    case 'PRIVATE KEY': {
      if (hasPassword) warnings.push(passwordIgnored());
      return { key: rsaOnly(load(block.der, 'pkcs8')), format: 'pkcs8', warnings };
    }
    case 'ENCRYPTED PRIVATE KEY': {
      if (!hasPassword) {
        throw new ValidationError(
          'PRIVATE_KEY_ENCRYPTED',
          'The private key is encrypted (BEGIN ENCRYPTED PRIVATE KEY): give its password in privateKeyPassword.',
          { details: { field: 'privateKeyPassword' } },
        );
      }
      checkWorkFactor(block.der);
      const key = openEncrypted(password, (passphrase) =>
        createPrivateKey({ key: block.der, format: 'der', type: 'pkcs8', passphrase }),
      );
      return { key: rsaOnly(key), format: 'encrypted-pkcs8', warnings };
    }
    case 'EC PRIVATE KEY':
    case 'DSA PRIVATE KEY':
    case 'OPENSSH PRIVATE KEY':
      throw keyError(
        'UNSUPPORTED_KEY_ALGORITHM',
        `The private key is ${block.label.replace(' PRIVATE KEY', '')}; recording keys must be RSA (2048 bits or more).`,
      );
    case 'CERTIFICATE':
      throw keyError(
        'INVALID_PRIVATE_KEY',
        'The private key field holds a certificate. Choose the key file (BEGIN PRIVATE KEY or BEGIN RSA PRIVATE KEY).',
      );
    case 'PUBLIC KEY':
    case 'RSA PUBLIC KEY':
      throw keyError(
        'INVALID_PRIVATE_KEY',
        'The private key field holds a public key. Choose the private key file that belongs to the certificate.',
      );
    default:
      throw keyError(
        'INVALID_PRIVATE_KEY',
        `A '${block.label}' block is not a private key. Expected BEGIN PRIVATE KEY, BEGIN RSA PRIVATE KEY or BEGIN ENCRYPTED PRIVATE KEY.`,
      );
  }
}

function passwordIgnored(): Warning {
  return {
    code: 'PASSWORD_IGNORED',
    message: 'A password was given but the private key is not encrypted; the password was ignored.',
  };
}

function load(der: Buffer, type: 'pkcs1' | 'pkcs8'): KeyObject {
  try {
    return importPrivateKeyDer(der, type);
  } catch (error) {
    throw keyError(
      'INVALID_PRIVATE_KEY',
      `The private key could not be read as ${type === 'pkcs1' ? 'PKCS#1' : 'PKCS#8'}: the PEM body is damaged or is not a key.`,
      error,
    );
  }
}

function decryptLegacyPem(block: PemBlock, password: string): KeyObject {
  const pem = [
    `-----BEGIN ${block.label}-----`,
    ...Object.entries(block.headers).map(([k, v]) => `${k}: ${v}`),
    '',
    ...(block.der.toString('base64').match(/.{1,64}/g) ?? []),
    `-----END ${block.label}-----`,
  ].join('\n');
  return openEncrypted(password, (passphrase) => createPrivateKey({ key: pem, format: 'pem', passphrase }));
}

/**
 * Opens an encrypted key with `password`. A wrong password usually fails the padding check
 * ("bad decrypt"), but about one time in 256 the garbage it decrypts to has valid padding and
 * fails later, in the key decoder, looking like a damaged file. Two probes with random passwords
 * tell the cases apart: if they fail with "bad decrypt", the file and its cipher are sound and
 * only the password was wrong (or, indistinguishably, the encrypted body itself is damaged).
 */
function openEncrypted(password: string, open: (passphrase: string) => KeyObject): KeyObject {
  const wrongPassword = () =>
    new ValidationError(
      'PRIVATE_KEY_ENCRYPTED',
      'The password does not open the encrypted private key (or the key file is damaged). Check privateKeyPassword.',
      { details: { field: 'privateKeyPassword' } },
    );
  try {
    return open(password);
  } catch (error) {
    if (decodeFailure(error)) throw wrongPassword();
    for (let probe = 0; probe < 2; probe++) {
      try {
        open(randomBytes(18).toString('base64'));
      } catch (probeError) {
        if (decodeFailure(probeError)) throw wrongPassword();
      }
    }
    throw keyError('INVALID_PRIVATE_KEY', 'The encrypted private key could not be read.', error);
  }
}

/**
 * Checks that an RSA private key is internally consistent (n = p·q, d·e ≡ 1 mod p-1 and q-1),
 * so a key with a copied modulus but garbage private parts is refused. Cheap: no modular
 * exponentiation.
 */
export function rsaKeyIsConsistent(key: KeyObject): boolean {
  const jwk = key.export({ format: 'jwk' });
  if (!jwk.n || !jwk.e || !jwk.d || !jwk.p || !jwk.q) return false;
  const big = (b64u: string) => BigInt(`0x${Buffer.from(b64u, 'base64url').toString('hex') || '0'}`);
  const n = big(jwk.n);
  const e = big(jwk.e);
  const d = big(jwk.d);
  const p = big(jwk.p);
  const q = big(jwk.q);
  if (p <= 1n || q <= 1n || p * q !== n) return false;
  const de = d * e;
  return de % (p - 1n) === 1n && de % (q - 1n) === 1n;
}

/** The modulus and exponent of an RSA key (public or private) as base64url, for comparison. */
export function rsaPublicNumbers(key: KeyObject): { n: string; e: string } {
  const jwk = key.export({ format: 'jwk' });
  return { n: jwk.n ?? '', e: jwk.e ?? '' };
}
