/**
 * RecipientInfo (RFC 5652 6.2): which recipients a recording names, and the wrapped
 * content-encryption key of each. Only key transport to an issuer and serial number with
 * RSAES-OAEP can be opened; every other kind is kept as a reason, for the error message.
 *
 * ```asn1
 * RecipientInfo ::= CHOICE {
 *   ktri   KeyTransRecipientInfo,
 *   kari   [1] KeyAgreeRecipientInfo,
 *   kekri  [2] KEKRecipientInfo,
 *   pwri   [3] PasswordRecipientInfo,
 *   ori    [4] OtherRecipientInfo }
 *
 * KeyTransRecipientInfo ::= SEQUENCE {
 *   version                 CMSVersion,  -- 0 with issuerAndSerialNumber, 2 with subjectKeyIdentifier
 *   rid                     RecipientIdentifier,
 *   keyEncryptionAlgorithm  KeyEncryptionAlgorithmIdentifier,
 *   encryptedKey            EncryptedKey }
 *
 * RecipientIdentifier ::= CHOICE {
 *   issuerAndSerialNumber  IssuerAndSerialNumber,
 *   subjectKeyIdentifier   [0] SubjectKeyIdentifier }
 *
 * IssuerAndSerialNumber ::= SEQUENCE { issuer Name, serialNumber CertificateSerialNumber }
 * EncryptedKey ::= OCTET STRING
 * ```
 */
import { formatSerial } from '../../pki/certificate';
import { children, DerError, parseDer, readOid, TAG } from '../../pki/der';
import { CMS_OID } from '../cms';
import type { RecipientId } from '../ports';
import { sequenceOf } from './algorithm-identifier';
import { describeOid, OAEP_HINT } from './errors';
import { oaepParamsProblem } from './rsaes-oaep-params';

/** A key transport recipient identified by issuer and serial number. */
export interface KeyTransRecipient {
  id: RecipientId;
  /** The content-encryption key, wrapped for the recipient's public key. */
  wrappedKey: Buffer;
  /** Why this recipient cannot be used (its key transport algorithm), if it cannot. */
  unsupported: string | undefined;
}

const OTHER_KINDS: Record<number, string> = {
  161: 'key agreement',
  162: 'KEK',
  163: 'password',
  164: 'other',
};

/**
 * Reads one RecipientInfo (its whole encoding). Returns the recipient, or a phrase naming the
 * kind of recipient it is when that kind cannot be opened here. Throws `DerError` when malformed.
 */
export function parseRecipientInfo(tag: number, raw: Buffer): KeyTransRecipient | string {
  if (tag !== TAG.SEQUENCE) return `a ${OTHER_KINDS[tag] ?? 'unknown'} recipient`;
  const [version, rid, algorithm, encryptedKey, ...rest] = sequenceOf(parseDer(raw), 'KeyTransRecipientInfo');
  if (
    !version ||
    !rid ||
    !algorithm ||
    !encryptedKey ||
    rest.length > 0 ||
    encryptedKey.tag !== TAG.OCTET_STRING
  ) {
    throw new DerError('malformed KeyTransRecipientInfo');
  }
  if (rid.tag !== TAG.SEQUENCE) return 'a recipient identified by subject key identifier (openssl -keyid)';
  // RFC 5652 6.2.1: version 0 goes with issuerAndSerialNumber.
  if (!version.raw.equals(Buffer.from([2, 1, 0])))
    throw new DerError('KeyTransRecipientInfo version is not 0');
  const [issuer, serial] = children(rid);
  if (!issuer || issuer.tag !== TAG.SEQUENCE || !serial || serial.tag !== TAG.INTEGER) {
    throw new DerError('malformed issuerAndSerialNumber');
  }
  const [algorithmOid, params, ...extra] = sequenceOf(algorithm, 'the key transport AlgorithmIdentifier');
  if (!algorithmOid || extra.length > 0) throw new DerError('malformed AlgorithmIdentifier');
  const oid = readOid(algorithmOid);
  const unsupported =
    oid === CMS_OID.rsaesOaep
      ? oaepParamsProblem(params)
      : `key transport ${describeOid(oid)} is not supported; ${OAEP_HINT}`;
  return {
    id: { issuerDer: Buffer.from(issuer.raw), serialHex: formatSerial(serial.value) },
    wrappedKey: Buffer.from(encryptedKey.value),
    unsupported,
  };
}
