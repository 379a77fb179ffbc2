/**
 * What the keystores that seal a private key themselves share (the local file keystore and the
 * AWS KMS-S3 keystore): the names they accept, the keyRef they give each stored key, the
 * AES-256-GCM seal of the key's PKCS#8 DER with the AAD that binds it to its tenant, certificate
 * and keyRef, and the RSA-OAEP unwrap with the opened key and its error mapping. Where the sealing
 * key comes from (a master key, a KMS data key) and how the sealed bytes are stored stay with each
 * keystore.
 *
 * These formats are on disk and in buckets already: keyRef `<certificateId>.<16 hex>`, AAD
 * `reccert-key NUL 1 NUL tenant NUL certificate NUL keyRef`, 12-byte IV, 16-byte tag. Changing
 * any of them makes stored keys unreadable.
 *
 * Nothing here logs, and no error message carries key bytes.
 */
import crypto from 'node:crypto';
import { AppError } from '../errors';
import { importPrivateKeyDer } from '../pki/rsa-key-import';
import { unwrapOaepSha256 } from '../pki/rsa-oaep';
import type { KeyReference, StoredKey } from '../ports';

/** The version of the sealed format, in the AAD and in each keystore's envelope. */
export const SEALED_KEY_VERSION = 1;
/** Bytes of the GCM nonce. */
export const IV_LENGTH = 12;
/** Bytes of the GCM tag. */
export const TAG_LENGTH = 16;

/** Tenant ids, certificate ids and keyRefs become path or object-key segments: a strict charset, no leading dot. */
const SAFE_NAME = /^[A-Za-z0-9_-][A-Za-z0-9._-]{0,199}$/;
const KEY_REF = /^(.+)\.[0-9a-f]{16}$/;

/** Whether `value` may be a path or object-key segment (letters, digits, '.', '_', '-'; no leading dot). */
export function isSafeName(value: string): boolean {
  return SAFE_NAME.test(value);
}

/** Throws VALIDATION_ERROR unless `value` {@link isSafeName is a safe name}; `what` names it. */
export function assertSafeName(what: string, value: string): void {
  if (!SAFE_NAME.test(value)) {
    throw new AppError(
      'VALIDATION_ERROR',
      `The ${what} is not a safe name (letters, digits, '.', '_', '-').`,
      {
        details: { [what]: value.slice(0, 64) },
      },
    );
  }
}

/**
 * The RSA private key custody accepts, from PKCS#8 DER. The core validates uploads before they
 * reach custody, so anything else is a wiring bug: a plain error, without key bytes.
 */
export function importCustodyKey(pkcs8Der: Buffer): crypto.KeyObject {
  let key: crypto.KeyObject | undefined;
  try {
    key = importPrivateKeyDer(pkcs8Der, 'pkcs8');
  } catch {
    key = undefined;
  }
  if (key?.asymmetricKeyType !== 'rsa')
    throw new Error('Key custody accepts only an RSA private key as PKCS#8 DER.');
  return key;
}

/** A fresh keyRef for a key of `certificateId`: a retried store never overwrites an earlier key. */
export function newKeyRef(certificateId: string): string {
  return `${certificateId}.${crypto.randomBytes(8).toString('hex')}`;
}

/** The certificate id in a keyRef made by {@link newKeyRef}, or undefined if it is not one. */
export function certificateIdOfKeyRef(keyRef: string): string | undefined {
  return KEY_REF.exec(keyRef)?.[1];
}

/**
 * Checks that tenant and keyRef are safe names and that the keyRef was made for the certificate
 * of `ref`: a key serves only the certificate it was stored for (NO_MATCHING_KEY otherwise).
 */
export function assertKeyRefOf(ref: KeyReference, keyRef: string): void {
  assertSafeName('tenantId', ref.tenantId);
  assertSafeName('keyRef', keyRef);
  if (certificateIdOfKeyRef(keyRef) !== ref.certificateId) {
    throw new AppError(
      'NO_MATCHING_KEY',
      `The key reference does not belong to certificate '${ref.certificateId}'.`,
      { details: { certificateId: ref.certificateId } },
    );
  }
}

/** A listed key as the sweep sees it, or undefined for anything a keystore did not store. */
export function storedKeyOf(tenantId: string, keyRef: string): StoredKey | undefined {
  const certificateId = certificateIdOfKeyRef(keyRef);
  if (!SAFE_NAME.test(tenantId) || !SAFE_NAME.test(keyRef) || certificateId === undefined) return undefined;
  return { tenantId, certificateId, keyRef };
}

/** The answer when a keystore holds nothing under the keyRef. */
export function noKeyHeld(certificateId: string): AppError {
  return new AppError('NO_MATCHING_KEY', `No private key is held for certificate '${certificateId}'.`, {
    details: { certificateId },
  });
}

/** The answer when a stored key exists but cannot be opened; `why` lists what may have happened. */
export function unopenableKey(certificateId: string, why: string): AppError {
  return new AppError(
    'INTERNAL_ERROR',
    `The stored key of certificate '${certificateId}' cannot be opened (${why}).`,
    { details: { certificateId } },
  );
}

/** The AAD that binds a sealed key to its tenant, certificate and keyRef. */
export function sealedKeyAad(tenantId: string, certificateId: string, keyRef: string): Buffer {
  // NUL cannot occur in the validated names, so the concatenation is unambiguous.
  return Buffer.from(`reccert-key\0${SEALED_KEY_VERSION}\0${tenantId}\0${certificateId}\0${keyRef}`, 'utf8');
}

/** The parts of an AES-256-GCM seal. */
export interface GcmSealed {
  iv: Buffer;
  ciphertext: Buffer;
  tag: Buffer;
}

/** Seals `plaintext` with AES-256-GCM under `key` (32 bytes) and a fresh random IV. */
export function gcmSeal(key: Buffer, aad: Buffer, plaintext: Buffer): GcmSealed {
  const iv = crypto.randomBytes(IV_LENGTH);
  const cipher = crypto.createCipheriv('aes-256-gcm', key, iv, { authTagLength: TAG_LENGTH });
  cipher.setAAD(aad);
  const ciphertext = Buffer.concat([cipher.update(plaintext), cipher.final()]);
  return { iv, ciphertext, tag: cipher.getAuthTag() };
}

/** Opens a {@link gcmSeal} seal; returns undefined when it does not open (wrong key, AAD, or damage). */
export function gcmOpen(key: Buffer, aad: Buffer, sealed: GcmSealed): Buffer | undefined {
  try {
    const decipher = crypto.createDecipheriv('aes-256-gcm', key, sealed.iv, { authTagLength: TAG_LENGTH });
    decipher.setAAD(aad);
    decipher.setAuthTag(sealed.tag);
    return Buffer.concat([decipher.update(sealed.ciphertext), decipher.final()]);
  } catch {
    return undefined;
  }
}

/**
 * Unwraps a session key with an opened private key (PKCS#8 DER), then wipes the DER. A session
 * key not wrapped for this key is NO_MATCHING_KEY: OpenSSL's message says nothing useful to a
 * caller, and the cause is always "not for this key".
 */
export async function unwrapWithOpenedKey(
  pkcs8Der: Buffer,
  certificateId: string,
  wrappedKey: Buffer,
): Promise<Buffer> {
  try {
    const privateKey = importPrivateKeyDer(pkcs8Der, 'pkcs8');
    try {
      // Off the event loop: a 16384-bit private operation would stall every other request.
      return await unwrapOaepSha256(privateKey, wrappedKey);
    } catch {
      throw new AppError(
        'NO_MATCHING_KEY',
        `The session key was not wrapped for the key of certificate '${certificateId}'.`,
        { details: { certificateId } },
      );
    }
  } finally {
    // Best effort: do not leave the plaintext DER in the heap longer than needed.
    pkcs8Der.fill(0);
  }
}
