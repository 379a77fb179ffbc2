/**
 * The refusals of recording decryption, worded once for the header parser and the stream:
 * `NOT_CMS` (not a recording we can open), `INTEGRITY_CHECK_FAILED` (altered, damaged or cut
 * short) and `TOO_MANY_RECIPIENTS`.
 */
import { ValidationError } from '../../errors';
import { CMS_OID } from '../cms';

/**
 * Most RecipientInfos (of any kind) a message may have (DESIGN section 9); more is
 * `TOO_MANY_RECIPIENTS`, decided while the header is read.
 */
export const MAX_RECIPIENTS = 16;

/** The input is not a recording this service can open. */
export function notCms(message: string, cause?: unknown): ValidationError {
  return new ValidationError('NOT_CMS', message, cause === undefined ? undefined : { cause });
}

/** The recording is damaged; whatever was decrypted from it must be thrown away. */
export function damaged(detail: string, cause?: unknown): ValidationError {
  return new ValidationError(
    'INTEGRITY_CHECK_FAILED',
    `The recording failed its integrity check: ${detail}. The file was altered, damaged or cut short; discard anything decrypted from it and use an intact copy.`,
    cause === undefined ? undefined : { cause },
  );
}

export function tooManyRecipients(): ValidationError {
  return new ValidationError(
    'TOO_MANY_RECIPIENTS',
    `The recording has more than ${MAX_RECIPIENTS} recipients; at most ${MAX_RECIPIENTS} are accepted, so that opening one recording costs a bounded amount of RSA work. Encrypt it for fewer certificates.`,
  );
}

/** An OID with its name, for the algorithms and content types a message may wrongly carry. */
export function describeOid(oid: string): string {
  const names: Record<string, string> = {
    [CMS_OID.envelopedData]: 'EnvelopedData',
    [CMS_OID.signedData]: 'SignedData',
    [CMS_OID.data]: 'Data',
    '2.16.840.1.101.3.4.1.2': 'AES-128-CBC',
    '2.16.840.1.101.3.4.1.22': 'AES-192-CBC',
    '2.16.840.1.101.3.4.1.42': 'AES-256-CBC',
    [CMS_OID.rsaEncryption]: 'RSA PKCS#1 v1.5',
  };
  return names[oid] ? `${names[oid]} (${oid})` : oid;
}

/** What to tell someone whose recording uses a key transport we do not take. */
export const OAEP_HINT = 'encrypt with -keyopt rsa_padding_mode:oaep -keyopt rsa_oaep_md:sha256';
