/**
 * The content-encryption AlgorithmIdentifier of a recording: AES-GCM with its parameters
 * (RFC 5084 3.2). The tag may be 12 to 16 bytes; the nonce 1 to 64.
 *
 * ```asn1
 * ContentEncryptionAlgorithmIdentifier ::= AlgorithmIdentifier  -- id-aes{128,192,256}-GCM
 *
 * GCMParameters ::= SEQUENCE {
 *   aes-nonce  OCTET STRING,       -- recommended size is 12 octets
 *   aes-ICVlen AES-GCM-ICVlen DEFAULT 12 }
 *
 * AES-GCM-ICVlen ::= INTEGER (12 | 13 | 14 | 15 | 16)
 * ```
 */
import { DerError, type DerNode, readOid, TAG } from '../../pki/der';
import { GCM_CIPHERS } from '../cms';
import { sequenceOf } from './algorithm-identifier';
import { describeOid, notCms } from './errors';

/** What the decipher needs. */
export interface GcmAlgorithm {
  cipher: { cipher: 'aes-128-gcm' | 'aes-192-gcm' | 'aes-256-gcm'; keyLength: number };
  iv: Buffer;
  tagLength: number;
}

/**
 * Reads the content-encryption AlgorithmIdentifier. Throws `NOT_CMS` for another algorithm or
 * unusable parameters, `DerError` when it is malformed.
 */
export function parseGcmAlgorithm(node: DerNode): GcmAlgorithm {
  const [algorithmOid, params, ...extra] = sequenceOf(node, 'contentEncryptionAlgorithm');
  if (!algorithmOid || extra.length > 0) throw new DerError('malformed contentEncryptionAlgorithm');
  const algorithmName = readOid(algorithmOid);
  const cipher = GCM_CIPHERS[algorithmName];
  if (!cipher) {
    throw notCms(
      `Content encryption ${describeOid(algorithmName)} is not supported; recordings use AES-GCM (openssl cms -encrypt -aes-256-gcm).`,
    );
  }
  const [nonce, icvLen, ...more] = sequenceOf(params, 'GCMParameters');
  if (more.length > 0) throw new DerError('malformed GCMParameters');
  if (!nonce || nonce.tag !== TAG.OCTET_STRING || nonce.value.length < 1 || nonce.value.length > 64) {
    throw notCms('The AES-GCM parameters carry no usable nonce.');
  }
  let tagLength = 12; // RFC 5084 default
  if (icvLen) {
    if (icvLen.tag !== TAG.INTEGER || icvLen.value.length !== 1)
      throw notCms('The AES-GCM tag length is malformed.');
    tagLength = icvLen.value[0]!;
  }
  if (tagLength < 12 || tagLength > 16)
    throw notCms(`An AES-GCM tag of ${tagLength} bytes is not supported (12 to 16).`);
  return { cipher, iv: Buffer.from(nonce.value), tagLength };
}
