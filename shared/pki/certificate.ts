/**
 * X.509 certificate parsing into the details DESIGN section 4 shows, in the formats openssl
 * prints: RFC 4514 DNs, upper-case hex serial, SHA-256 fingerprint of the DER.
 */
import { createHash, createPublicKey, type KeyObject, X509Certificate } from 'node:crypto';
import type { CertificateDetails } from '../domain/types';
import { child, children, DerError, parseDer, readOid, readTime, TAG } from './der';
import { attributeValues, formatName } from './name';
import { KEY_ALGORITHM_NAMES, OID } from './oids';

/** A parsed certificate: the details plus what validation needs. */
export interface ParsedCertificate {
  der: Buffer;
  details: CertificateDetails;
  notBefore: Date;
  notAfter: Date;
  /** Dotted OID of the subject public key algorithm. */
  publicKeyAlgorithm: string;
  /** Human name of that algorithm (RSA, EC, ...). */
  publicKeyAlgorithmName: string;
  publicKey: KeyObject | undefined;
  /** Issuer and subject DER are byte-identical. */
  selfIssued: boolean;
  /** Whether the signature verifies with the certificate's own key (self-issued only). */
  signatureValid: boolean;
  /** KeyUsage bits if the extension is present. */
  keyUsage: { keyEncipherment: boolean; names: string[] } | undefined;
  issuerDer: Buffer;
  /** Serial number INTEGER contents (two's complement, as encoded). */
  serialDer: Buffer;
  countries: string[];
}

const KEY_USAGE_NAMES = [
  'digitalSignature',
  'nonRepudiation',
  'keyEncipherment',
  'dataEncipherment',
  'keyAgreement',
  'keyCertSign',
  'cRLSign',
  'encipherOnly',
  'decipherOnly',
];

/** Serial as `openssl x509 -noout -serial` prints it: upper-case hex of the magnitude. */
export function formatSerial(contents: Buffer): string {
  if (contents.length === 0) return '00';
  const negative = (contents[0]! & 0x80) !== 0;
  let magnitude: Buffer = contents;
  if (negative) {
    let n = (1n << BigInt(contents.length * 8)) - BigInt(`0x${contents.toString('hex')}`);
    let hex = n.toString(16);
    if (hex.length % 2) hex = `0${hex}`;
    magnitude = Buffer.from(hex, 'hex');
    n = 0n;
  }
  let start = 0;
  while (start < magnitude.length - 1 && magnitude[start] === 0) start++;
  const hex = magnitude.subarray(start).toString('hex').toUpperCase();
  return negative ? `-${hex}` : hex;
}

function parseKeyUsage(extnValue: Buffer): { keyEncipherment: boolean; names: string[] } {
  const bits = parseDer(extnValue);
  if (bits.tag !== TAG.BIT_STRING || bits.value.length === 0) throw new DerError('bad KeyUsage');
  const unused = bits.value[0]!;
  if (unused > 7) throw new DerError('bad KeyUsage unused bits');
  const bytes = bits.value.subarray(1);
  const names: string[] = [];
  KEY_USAGE_NAMES.forEach((name, i) => {
    const byte = bytes[i >> 3];
    if (byte !== undefined && (byte & (0x80 >> (i & 7))) !== 0) names.push(name);
  });
  return { keyEncipherment: names.includes('keyEncipherment'), names };
}

function isoSeconds(d: Date): string {
  return d.toISOString().replace(/\.\d{3}Z$/, 'Z');
}

/**
 * Parses a certificate from DER. Throws `DerError` if the structure is not an X.509
 * certificate. Signature checking uses the platform's X.509 implementation (OpenSSL).
 */
export function parseCertificateDer(der: Buffer): ParsedCertificate {
  const cert = parseDer(der);
  if (cert.tag !== TAG.SEQUENCE) throw new DerError('a certificate is a SEQUENCE');
  const top = children(cert);
  if (top.length !== 3) throw new DerError('a certificate has three parts');
  const tbs = child(top, 0, TAG.SEQUENCE);
  child(top, 1, TAG.SEQUENCE);
  child(top, 2, TAG.BIT_STRING);
  const fields = children(tbs);
  let i = 0;
  if (fields[0]?.tag === 0xa0) i++; // [0] EXPLICIT version
  const serial = child(fields, i++, TAG.INTEGER);
  child(fields, i++, TAG.SEQUENCE); // signature algorithm
  const issuer = child(fields, i++, TAG.SEQUENCE);
  const validity = children(child(fields, i++, TAG.SEQUENCE));
  const subject = child(fields, i++, TAG.SEQUENCE);
  const spki = child(fields, i++, TAG.SEQUENCE);
  let keyUsage: ParsedCertificate['keyUsage'];
  for (const extra of fields.slice(i)) {
    if (extra.tag !== 0xa3) continue;
    const extensions = children(children(extra)[0] ?? extra);
    for (const ext of extensions) {
      const parts = children(ext);
      const oid = readOid(child(parts, 0));
      const value = parts[parts.length - 1];
      if (!value || value.tag !== TAG.OCTET_STRING) throw new DerError('extension without a value');
      if (oid === OID.keyUsage) keyUsage = parseKeyUsage(value.value);
    }
  }
  const notBefore = readTime(child(validity, 0));
  const notAfter = readTime(child(validity, 1));
  const algorithm = readOid(child(children(child(children(spki), 0, TAG.SEQUENCE)), 0));

  const subjectDN = formatName(subject);
  const issuerDN = formatName(issuer);
  const commonNames = attributeValues(subject, '2.5.4.3');
  const selfIssued = issuer.raw.equals(subject.raw);

  let publicKey: KeyObject | undefined;
  let keySize = 0;
  try {
    publicKey = createPublicKey({ key: spki.raw, format: 'der', type: 'spki' });
    keySize = publicKey.asymmetricKeyDetails?.modulusLength ?? 0;
  } catch {
    publicKey = undefined;
  }

  // OpenSSL must be able to read it too: it is what every later step (and the peer) uses.
  let x509: X509Certificate;
  try {
    x509 = new X509Certificate(der);
  } catch {
    throw new DerError('the certificate structure is not valid X.509');
  }
  let signatureValid = false;
  if (selfIssued && publicKey && algorithm === OID.rsaEncryption) {
    try {
      signatureValid = x509.verify(publicKey);
    } catch {
      signatureValid = false;
    }
  }

  const details: CertificateDetails = {
    subjectName: commonNames[0] ?? subjectDN,
    serialNumber: formatSerial(serial.value),
    subjectDN,
    issuerDN,
    notBefore: isoSeconds(notBefore),
    notAfter: isoSeconds(notAfter),
    keyAlgorithm: 'RSA',
    keySize,
    fingerprintSha256: createHash('sha256').update(der).digest('hex'),
    selfSigned: selfIssued && signatureValid,
  };
  return {
    der,
    details,
    notBefore,
    notAfter,
    publicKeyAlgorithm: algorithm,
    publicKeyAlgorithmName: KEY_ALGORITHM_NAMES[algorithm] ?? algorithm,
    publicKey,
    selfIssued,
    signatureValid,
    keyUsage,
    issuerDer: issuer.raw,
    serialDer: serial.value,
    countries: attributeValues(subject, '2.5.4.6'),
  };
}
