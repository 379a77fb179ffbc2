/**
 * Recipient certificates: what CMS needs from them (issuer DER, serial, RSA public key) and the
 * RSAES-OAEP SHA-256 key wrap both sides use.
 */
import { constants, type KeyObject, publicEncrypt, X509Certificate } from 'node:crypto';
import { ValidationError } from '../errors';
import { formatSerial } from '../pki/certificate';
import { child, children, DerError, type DerNode, parseDer, TAG } from '../pki/der';
import type { RecipientId } from './ports';

/** A certificate as callers hold it: PEM text, PEM or DER bytes, or a parsed X509Certificate. */
export type CertificateInput = string | Buffer | X509Certificate;

/** A recipient certificate reduced to what CMS uses. */
export interface Recipient extends RecipientId {
  /** The serial number INTEGER, whole TLV, exactly as the certificate encodes it. */
  serialTlv: Buffer;
  publicKey: KeyObject;
  certificate: X509Certificate;
}

function toX509(input: CertificateInput): X509Certificate {
  if (input instanceof X509Certificate) return input;
  try {
    return new X509Certificate(input);
  } catch (cause) {
    throw new ValidationError(
      'NOT_A_CERTIFICATE',
      'A recipient is not a readable X.509 certificate (PEM or DER).',
      {
        cause,
      },
    );
  }
}

/** Issuer Name and serial INTEGER of a certificate, straight from its DER. */
export function issuerAndSerial(certificateDer: Buffer): { issuer: DerNode; serial: DerNode } {
  const cert = parseDer(certificateDer);
  const tbs = child(children(cert), 0, TAG.SEQUENCE);
  const fields = children(tbs);
  let i = fields[0]?.tag === 0xa0 ? 1 : 0; // [0] EXPLICIT version
  const serial = child(fields, i++, TAG.INTEGER);
  i++; // signature algorithm
  const issuer = child(fields, i, TAG.SEQUENCE);
  return { issuer, serial };
}

/**
 * Reads a recipient certificate. Throws `ValidationError` (`NOT_A_CERTIFICATE`,
 * `UNSUPPORTED_KEY_ALGORITHM`) when it cannot receive recordings.
 */
export function toRecipient(input: CertificateInput): Recipient {
  const certificate = toX509(input);
  let parts: { issuer: DerNode; serial: DerNode };
  try {
    parts = issuerAndSerial(certificate.raw);
  } catch (cause) {
    if (!(cause instanceof DerError)) throw cause;
    throw new ValidationError(
      'NOT_A_CERTIFICATE',
      `A recipient certificate is malformed: ${cause.message}.`,
      {
        cause,
      },
    );
  }
  const publicKey = certificate.publicKey;
  if (publicKey.asymmetricKeyType !== 'rsa') {
    throw new ValidationError(
      'UNSUPPORTED_KEY_ALGORITHM',
      `Recordings are encrypted to RSA certificates; the certificate with serial ${formatSerial(parts.serial.value)} has a ${publicKey.asymmetricKeyType ?? 'unknown'} key.`,
    );
  }
  return {
    issuerDer: Buffer.from(parts.issuer.raw),
    serialHex: formatSerial(parts.serial.value),
    serialTlv: Buffer.from(parts.serial.raw),
    publicKey,
    certificate,
  };
}

/** A recipient's public key alone: what a caller that already parsed the certificate holds. */
export type RecipientKey = Pick<Recipient, 'publicKey'>;

function isRecipient(value: CertificateInput | RecipientKey): value is RecipientKey {
  return typeof value === 'object' && !Buffer.isBuffer(value) && !(value instanceof X509Certificate);
}

/** Same issuer DER and serial number. */
export function sameRecipient(a: RecipientId, b: RecipientId): boolean {
  return a.serialHex === b.serialHex && a.issuerDer.equals(b.issuerDer);
}

/**
 * Wraps `key` to the certificate with RSAES-OAEP, SHA-256 and MGF1-SHA-256: what the CMS
 * recipient info carries, and what the upload-time check wraps before unwrapping it again.
 */
export function wrapSessionKey(certificate: CertificateInput | RecipientKey, key: Buffer): Buffer {
  const recipient = isRecipient(certificate) ? certificate : toRecipient(certificate);
  return publicEncrypt(
    { key: recipient.publicKey, padding: constants.RSA_PKCS1_OAEP_PADDING, oaepHash: 'sha256' },
    key,
  );
}
