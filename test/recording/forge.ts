/**
 * Hostile recordings built from genuine ones: the recipientInfos of a DER AuthEnvelopedData
 * replaced by forged ones (many recipients naming one certificate, with random wrapped keys),
 * everything else (content, tag) kept, and the outer lengths re-encoded.
 */
import { randomBytes } from 'node:crypto';
import { children, type DerNode, der, parseDer, TAG, tlv } from '../../shared/pki/der';
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

/**
 * `cms` (DER) with its RecipientInfos replaced by `infos`, in that order; with `indefinite`, the
 * SET is BER indefinite-length (as a streaming encoder may write it).
 */
export function withRecipientInfos(
  cms: Buffer,
  infos: Buffer[],
  options: { indefinite?: boolean } = {},
): Buffer {
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
        options.indefinite
          ? Buffer.concat([Buffer.from([TAG.SET, 0x80]), ...infos, Buffer.from([0, 0])])
          : tlv(TAG.SET, Buffer.concat(infos)),
        ...rest.map((n) => Buffer.from(n.raw)),
      ),
    ),
  );
}

/** A named byte range of a recording. */
export interface Region {
  name: string;
  start: number;
  end: number;
}

/** Where the parts of a DER recording (as `encryptRecording` writes it) lie, for tampering. */
export function regionsOf(cms: Buffer): Region[] {
  const at = (node: DerNode, name: string, valueOnly = false): Region => {
    const start = node.raw.byteOffset - cms.byteOffset;
    const headerLength = valueOnly ? node.raw.length - node.value.length : 0;
    return { name, start: start + headerLength, end: start + node.raw.length };
  };
  const root = parseDer(cms);
  const [type, explicit] = children(root);
  const aed = children(explicit!)[0]!;
  const [version, infos, eci, mac] = children(aed);
  const info = children(infos!)[0]!;
  const [, rid, keyAlgorithm, wrappedKey] = children(info);
  const [innerType, algorithm, content] = children(eci!);
  const [, gcmParams] = children(algorithm!);
  const [iv] = children(gcmParams!);
  return [
    { name: 'outer header', start: 0, end: root.raw.length - root.value.length },
    at(type!, 'content type'),
    at(version!, 'version'),
    at(rid!, 'recipient issuer and serial'),
    at(keyAlgorithm!, 'key transport algorithm'),
    at(wrappedKey!, 'wrapped key', true),
    at(innerType!, 'encrypted content type'),
    at(iv!, 'GCM nonce (IV)', true),
    at(content!, 'encrypted content', true),
    at(mac!, 'authentication tag', true),
  ];
}
