/**
 * The CMS vocabulary of recording encryption (RFC 5652, RFC 5083, RFC 5084, RFC 8017): object
 * identifiers and the fixed algorithm identifiers, encoded exactly as OpenSSL 3.0 writes them.
 */
import { der } from '../pki/der';

export const CMS_OID = {
  data: '1.2.840.113549.1.7.1',
  signedData: '1.2.840.113549.1.7.2',
  envelopedData: '1.2.840.113549.1.7.3',
  authEnvelopedData: '1.2.840.113549.1.9.16.1.23',
  aes128Gcm: '2.16.840.1.101.3.4.1.6',
  aes192Gcm: '2.16.840.1.101.3.4.1.26',
  aes256Gcm: '2.16.840.1.101.3.4.1.46',
  rsaEncryption: '1.2.840.113549.1.1.1',
  rsaesOaep: '1.2.840.113549.1.1.7',
  mgf1: '1.2.840.113549.1.1.8',
  pSpecified: '1.2.840.113549.1.1.9',
  sha1: '1.3.14.3.2.26',
  sha256: '2.16.840.1.101.3.4.2.1',
} as const;

/** Content-encryption algorithms the decryptor accepts, by OID: cipher name and key size. */
export const GCM_CIPHERS: Record<
  string,
  { cipher: 'aes-128-gcm' | 'aes-192-gcm' | 'aes-256-gcm'; keyLength: number }
> = {
  [CMS_OID.aes128Gcm]: { cipher: 'aes-128-gcm', keyLength: 16 },
  [CMS_OID.aes192Gcm]: { cipher: 'aes-192-gcm', keyLength: 24 },
  [CMS_OID.aes256Gcm]: { cipher: 'aes-256-gcm', keyLength: 32 },
};

/** Nonce and tag sizes the encryptor writes (RFC 5084 recommends a 12-byte nonce). */
export const GCM_IV_LENGTH = 12;
export const GCM_TAG_LENGTH = 16;

/**
 * RSAES-OAEP AlgorithmIdentifier with explicit SHA-256 and MGF1-SHA-256 parameters, hash
 * parameters absent: byte for byte what `openssl cms -keyopt rsa_oaep_md:sha256` writes.
 */
export const RSAES_OAEP_SHA256_ALGORITHM: Buffer = der.sequence(
  der.oid(CMS_OID.rsaesOaep),
  der.sequence(
    der.explicit(0, der.sequence(der.oid(CMS_OID.sha256))),
    der.explicit(1, der.sequence(der.oid(CMS_OID.mgf1), der.sequence(der.oid(CMS_OID.sha256)))),
  ),
);

/** AES-256-GCM AlgorithmIdentifier with GCMParameters { nonce, icvLen }. */
export function aes256GcmAlgorithm(iv: Buffer, tagLength: number = GCM_TAG_LENGTH): Buffer {
  return der.sequence(der.oid(CMS_OID.aes256Gcm), der.sequence(der.octetString(iv), der.integer(tagLength)));
}

/** Encoded content-type OIDs, for recognising a message from its first bytes. */
export const ENCODED_OID = {
  authEnvelopedData: der.oid(CMS_OID.authEnvelopedData),
  data: der.oid(CMS_OID.data),
};
