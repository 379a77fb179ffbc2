/**
 * Private key parsing: PKCS#1, PKCS#8 and encrypted PKCS#8 (and legacy encrypted PKCS#1), with
 * the error codes of DESIGN section 4. Key bytes never go into an error message.
 */
import { createPrivateKey, type KeyObject, randomBytes } from 'node:crypto';
import type { UploadFlow } from '../domain/types';
import { ValidationError, type Warning } from '../errors';
import { decryptPbes2, deriveKey, deriveKeySync, type Pbes2Key, readPbes2Key } from './pbes2';
import type { PemBlock } from './pem';
import { importPrivateKeyDer } from './rsa-key-import';
import { checkRsaPrivateKey, readRsaPrivateIntegers, rsaPrivateIntegersOfJwk } from './rsa-rules';

export type PrivateKeyFormat = 'pkcs1' | 'pkcs8' | 'encrypted-pkcs8' | 'encrypted-pkcs1';

export interface ParsedPrivateKey {
  key: KeyObject;
  format: PrivateKeyFormat;
  warnings: Warning[];
}

/**
 * Which private key formats are accepted. Key Vault imports PKCS#8 only, so the Azure upload
 * flow requires it; everywhere else (the AWS flow, keys that are only checked or converted, never
 * stored) PKCS#1 is read too.
 */
export interface KeyFormatPolicy {
  requirePkcs8: boolean;
}

/** Every format this module reads: for keys that are checked or converted, not stored. */
export const ANY_KEY_FORMAT: KeyFormatPolicy = { requirePkcs8: false };

/** The key format rule of an upload flow (DESIGN section 2). */
export function keyFormatOf(flow: UploadFlow): KeyFormatPolicy {
  return { requirePkcs8: flow === 'azure' };
}

const field = { field: 'privateKey' };

function keyError(
  code: 'INVALID_PRIVATE_KEY' | 'UNSUPPORTED_KEY_ALGORITHM',
  message: string,
  cause?: unknown,
) {
  return new ValidationError(code, message, { details: field, cause });
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
 * unencrypted key a given password yields the PASSWORD_IGNORED warning. An encrypted PKCS#8
 * key's derivation runs on the calling thread (bounded by section 9's limits): for tools and
 * tests; a server uses `parsePrivateKeyBlockAsync`.
 */
export function parsePrivateKeyBlock(
  block: PemBlock,
  password: string | undefined,
  policy: KeyFormatPolicy,
): ParsedPrivateKey {
  const plan = planPrivateKeyBlock(block, password, policy);
  if (!('encrypted' in plan)) return plan;
  return openPbes2(plan.encrypted, deriveKeySync(plan.encrypted, plan.password), plan.warnings);
}

/** `parsePrivateKeyBlock` with the key derivation on the libuv threadpool (DESIGN section 9). */
export async function parsePrivateKeyBlockAsync(
  block: PemBlock,
  password: string | undefined,
  policy: KeyFormatPolicy,
): Promise<ParsedPrivateKey> {
  const plan = planPrivateKeyBlock(block, password, policy);
  if (!('encrypted' in plan)) return plan;
  return openPbes2(plan.encrypted, await deriveKey(plan.encrypted, plan.password), plan.warnings);
}

type KeyPlan = ParsedPrivateKey | { encrypted: Pbes2Key; password: string; warnings: Warning[] };

/** Everything short of deriving an encrypted key's key: what is left is only that cost. */
function planPrivateKeyBlock(
  block: PemBlock,
  password: string | undefined,
  { requirePkcs8 }: KeyFormatPolicy,
): KeyPlan {
  const warnings: Warning[] = [];
  const hasPassword = password !== undefined && password !== '';
  switch (block.label) {
    case 'RSA PRIVATE KEY': {
      if (requirePkcs8) {
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
        const legacy = rsaOnly(decryptLegacyPem(block, password));
        checkLoadedRsaKey(legacy);
        return { key: legacy, format: 'encrypted-pkcs1', warnings };
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
      return { encrypted: readPbes2Key(block.der), password, warnings };
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

function openPbes2(key: Pbes2Key, derived: Buffer, warnings: Warning[]): ParsedPrivateKey {
  const der = decryptPbes2(key, derived);
  derived.fill(0);
  if (!der) throw wrongPassword();
  try {
    return { key: rsaOnly(load(der, 'pkcs8')), format: 'encrypted-pkcs8', warnings };
  } finally {
    der.fill(0);
  }
}

/**
 * Imports an unencrypted key after rule 2's checks on its integers, which run on the DER before
 * OpenSSL sees the key (or on the loaded key, for DER only OpenSSL's decoder reads).
 */
function load(der: Buffer, type: 'pkcs1' | 'pkcs8'): KeyObject {
  const integers = readRsaPrivateIntegers(der, type);
  if (integers) checkRsaPrivateKey(integers);
  let key: KeyObject;
  try {
    key = importPrivateKeyDer(der, type);
  } catch (error) {
    throw keyError(
      'INVALID_PRIVATE_KEY',
      `The private key could not be read as ${type === 'pkcs1' ? 'PKCS#1' : 'PKCS#8'}: the PEM body is damaged or is not a key.`,
      error,
    );
  }
  if (!integers && key.asymmetricKeyType === 'rsa') checkLoadedRsaKey(key);
  return key;
}

/** Rule 2 for a key that arrives already loaded (a KeyObject). */
export function checkLoadedRsaKey(key: KeyObject): void {
  const integers = rsaPrivateIntegersOfJwk(key.export({ format: 'jwk' }) as Record<string, unknown>);
  if (!integers) {
    throw keyError(
      'INVALID_PRIVATE_KEY',
      'The private key is not a two-prime RSA key with all its CRT values.',
    );
  }
  checkRsaPrivateKey(integers);
}

function wrongPassword(): ValidationError {
  return new ValidationError(
    'PRIVATE_KEY_ENCRYPTED',
    'The password does not open the encrypted private key (or the key file is damaged). Check privateKeyPassword.',
    { details: { field: 'privateKeyPassword' } },
  );
}

/**
 * A legacy `Proc-Type: 4,ENCRYPTED` PEM. Accepted: its key derivation (EVP_BytesToKey, one MD5)
 * costs microseconds, so OpenSSL may do it on the calling thread.
 */
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

/** The modulus and exponent of an RSA key (public or private) as base64url, for comparison. */
export function rsaPublicNumbers(key: KeyObject): { n: string; e: string } {
  const jwk = key.export({ format: 'jwk' });
  return { n: jwk.n ?? '', e: jwk.e ?? '' };
}
