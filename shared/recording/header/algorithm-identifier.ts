/**
 * AlgorithmIdentifier (RFC 5280 4.1.1.2) and the hash algorithm identifiers inside RSAES-OAEP
 * parameters.
 *
 * ```asn1
 * AlgorithmIdentifier ::= SEQUENCE {
 *   algorithm   OBJECT IDENTIFIER,
 *   parameters  ANY DEFINED BY algorithm OPTIONAL }
 * ```
 */
import { children, DerError, type DerNode, readOid, TAG } from '../../pki/der';

/** The children of a node that must be a SEQUENCE. */
export function sequenceOf(node: DerNode | undefined, what: string): DerNode[] {
  if (!node || node.tag !== TAG.SEQUENCE) throw new DerError(`${what} is not a SEQUENCE`);
  return children(node);
}

/** A hash AlgorithmIdentifier: an OID with absent or NULL parameters (RFC 4055 2.1). */
export function readHashAlgorithm(node: DerNode | undefined): string {
  const [oid, params, ...rest] = sequenceOf(node, 'a hash AlgorithmIdentifier');
  if (!oid || rest.length > 0 || (params && (params.tag !== TAG.NULL || params.value.length !== 0))) {
    throw new DerError('malformed hash AlgorithmIdentifier');
  }
  return readOid(oid);
}
