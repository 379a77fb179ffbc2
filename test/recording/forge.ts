/**
 * Hostile recordings built from genuine ones: the recipientInfos of a DER AuthEnvelopedData
 * replaced by forged ones (many recipients naming one certificate, with random wrapped keys),
 * everything else (content, tag) kept, and the outer lengths re-encoded.
 */
import { randomBytes } from 'node:crypto';
import { children, der, parseDer, TAG, tlv } from '../../shared/pki/der';
import { toRecipient } from '../../shared/recording';
import { RSAES_OAEP_SHA256_ALGORITHM } from '../../shared/recording/cms';
import { issuerAndSerial } from '../../shared/recording/recipients';

/** A KeyTransRecipientInfo naming `certificatePem` with a random (useless) wrapped key. */
export function forgedRecipient(certificatePem: string): Buffer {
  const recipient = toRecipient(certificatePem);
  const { issuer, serial } = issuerAndSerial(recipient.certificate.raw);
  const modulusBytes = (recipient.publicKey.asymmetricKeyDetails?.modulusLength ?? 2048) / 8;
  return der.sequence(
    der.integer(0),
    der.sequence(Buffer.from(issuer.raw), Buffer.from(serial.raw)),
    RSAES_OAEP_SHA256_ALGORITHM,
    der.octetString(randomBytes(modulusBytes)),
  );
}

/** A KEKRecipientInfo ([2]): a kind of recipient the service never unwraps. */
export function kekRecipient(): Buffer {
  return tlv(
    0xa2,
    Buffer.concat([
      der.integer(4),
      der.sequence(der.octetString(randomBytes(8))),
      der.sequence(der.oid('2.16.840.1.101.3.4.1.45')),
      der.octetString(randomBytes(40)),
    ]),
  );
}

/** The RecipientInfos of a DER recording (definite lengths, as `encryptRecording` writes it). */
export function recipientInfosOf(cms: Buffer): Buffer[] {
  const aed = children(children(parseDer(cms))[1]!)[0]!;
  return children(children(aed)[1]!).map((n) => Buffer.from(n.raw));
}

/** `cms` (DER) with its RecipientInfos replaced by `infos`, in that order. */
export function withRecipientInfos(cms: Buffer, infos: Buffer[]): Buffer {
  const [type, explicit] = children(parseDer(cms));
  const aed = children(explicit!)[0]!;
  if (aed.tag !== TAG.SEQUENCE) throw new Error('not an AuthEnvelopedData');
  const [version, , ...rest] = children(aed);
  return der.sequence(
    Buffer.from(type!.raw),
    der.explicit(
      0,
      der.sequence(
        Buffer.from(version!.raw),
        tlv(TAG.SET, Buffer.concat(infos)),
        ...rest.map((n) => Buffer.from(n.raw)),
      ),
    ),
  );
}
