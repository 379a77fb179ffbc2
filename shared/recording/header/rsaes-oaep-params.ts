/**
 * RSAES-OAEP parameters (RFC 8017 A.2.1, RFC 4055 4.1): only SHA-256 with MGF1-SHA-256 and an
 * empty label is accepted, which is what `openssl cms -keyopt rsa_oaep_md:sha256` writes.
 *
 * ```asn1
 * RSAES-OAEP-params ::= SEQUENCE {
 *   hashAlgorithm     [0] HashAlgorithm    DEFAULT sha1,
 *   maskGenAlgorithm  [1] MaskGenAlgorithm DEFAULT mgf1SHA1,
 *   pSourceAlgorithm  [2] PSourceAlgorithm DEFAULT pSpecifiedEmpty }
 * ```
 */
import { children, DerError, type DerNode, readOid, TAG } from '../../pki/der';
import { CMS_OID } from '../cms';
import { readHashAlgorithm, sequenceOf } from './algorithm-identifier';
import { OAEP_HINT } from './errors';

/**
 * Why an RSAES-OAEP parameter set is not SHA-256/MGF1-SHA-256/empty label, or undefined when it
 * is. Throws `DerError` when the parameters are malformed.
 */
export function oaepParamsProblem(params: DerNode | undefined): string | undefined {
  if (!params) return 'RSAES-OAEP with its SHA-1 defaults is not supported';
  let hash: string = CMS_OID.sha1;
  let mgfHash: string = CMS_OID.sha1;
  let previous = 0;
  for (const field of sequenceOf(params, 'RSAES-OAEP parameters')) {
    const inner = children(field);
    if (field.tag <= previous || inner.length !== 1) throw new DerError('malformed RSAES-OAEP parameters');
    previous = field.tag;
    if (field.tag === 0xa0) {
      hash = readHashAlgorithm(inner[0]);
    } else if (field.tag === 0xa1) {
      const [mgf, mgfParams, ...rest] = sequenceOf(inner[0], 'the mask generation AlgorithmIdentifier');
      if (!mgf || rest.length > 0) throw new DerError('malformed mask generation AlgorithmIdentifier');
      if (readOid(mgf) !== CMS_OID.mgf1) return 'only the MGF1 mask generation is supported';
      mgfHash = readHashAlgorithm(mgfParams);
    } else if (field.tag === 0xa2) {
      const [source, label, ...rest] = sequenceOf(inner[0], 'the pSource AlgorithmIdentifier');
      if (!source || !label || rest.length > 0 || label.tag !== TAG.OCTET_STRING) {
        throw new DerError('malformed pSource AlgorithmIdentifier');
      }
      if (readOid(source) !== CMS_OID.pSpecified || label.value.length !== 0) {
        return 'an RSAES-OAEP label is not supported';
      }
    } else {
      throw new DerError('malformed RSAES-OAEP parameters');
    }
  }
  if (hash !== CMS_OID.sha256 || mgfHash !== CMS_OID.sha256) {
    return `RSAES-OAEP with hash ${hash} and MGF1 hash ${mgfHash} is not supported (SHA-256 is); ${OAEP_HINT}`;
  }
  return undefined;
}
