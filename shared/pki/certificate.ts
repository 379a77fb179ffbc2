/**
 * X.509 certificate parsing into the details DESIGN section 4 shows, in the formats openssl
 * prints: RFC 4514 DNs, upper-case hex serial, SHA-256 fingerprint of the DER.
 */
import { createHash, createPublicKey, type KeyObject, X509Certificate } from 'node:crypto';
import type { CertificateDetails } from '../domain/types';
import type { ValidationError } from '../errors';
import { child, children, DerError, type DerNode, parseDer, readOid, readTime, TAG } from './der';
import { attributeValues, formatName } from './name';
import { KEY_ALGORITHM_NAMES, OID } from './oids';
import { checkRsaPublicKey, rsaPublicIntegers } from './rsa-rules';

/** The DER is a certificate, but one that breaks RFC 5280's structure rules (INVALID_CERTIFICATE). */
export class CertificateStructureError extends DerError {
  constructor(message: string) {
    super(message);
    this.name = 'CertificateStructureError';
  }
}

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
  /**
   * Why the RSA public key breaks rule 2 (KEY_TOO_LARGE, KEY_TOO_SMALL, WEAK_PUBLIC_KEY), if it
   * does; the signature is then not checked at all, since checking it is work a hostile key
   * chooses the cost of, and e=1 makes any "signature" verify.
   */
  publicKeyProblem: ValidationError | undefined;
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

/** Extensions (RFC 5280 4.1.2.9, 4.2): a non-empty SEQUENCE, each extension at most once. */
function readExtensions(wrapper: DerNode): Map<string, Buffer> {
  const [sequence, ...rest] = children(wrapper);
  if (sequence?.tag !== TAG.SEQUENCE || rest.length > 0) throw new DerError('bad extensions field');
  const extensions = children(sequence);
  if (extensions.length === 0) {
    throw new CertificateStructureError(
      'its extensions field is present but empty (RFC 5280 4.1.2.9 requires at least one)',
    );
  }
  const seen = new Map<string, Buffer>();
  for (const ext of extensions) {
    if (ext.tag !== TAG.SEQUENCE) throw new DerError('an extension is not a SEQUENCE');
    const parts = children(ext);
    const oid = readOid(child(parts, 0));
    const value = parts[parts.length - 1];
    if (parts.length < 2 || parts.length > 3 || (parts.length === 3 && parts[1]!.tag !== TAG.BOOLEAN)) {
      throw new DerError('malformed extension');
    }
    if (!value || value.tag !== TAG.OCTET_STRING) throw new DerError('extension without a value');
    if (seen.has(oid)) {
      throw new CertificateStructureError(
        `it holds the extension ${oid} twice (RFC 5280 4.2 allows one instance)`,
      );
    }
    seen.set(oid, value.value);
  }
  return seen;
}

/** The optional fields after subjectPublicKeyInfo: [1], [2], [3], each once and in order, by version. */
function readOptionalFields(fields: DerNode[], version: number): Map<string, Buffer> | undefined {
  let last = 0;
  let extensions: Map<string, Buffer> | undefined;
  for (const field of fields) {
    const number = field.tag === 0x81 ? 1 : field.tag === 0x82 ? 2 : field.tag === 0xa3 ? 3 : 0;
    if (number === 0 || number <= last) throw new DerError('unexpected field after the public key');
    last = number;
    if (number === 3) {
      if (version !== 3)
        throw new CertificateStructureError(
          `it carries extensions but is a version ${version} certificate (RFC 5280 4.1.2.9: v3 only)`,
        );
      extensions = readExtensions(field);
    } else if (version === 1) {
      throw new CertificateStructureError(
        'it carries a unique identifier but is a version 1 certificate (RFC 5280 4.1.2.8)',
      );
    }
  }
  return extensions;
}

function readVersion(field: DerNode | undefined): number {
  if (field?.tag !== 0xa0) return 1;
  const [integer, ...rest] = children(field);
  if (
    integer?.tag !== TAG.INTEGER ||
    rest.length > 0 ||
    integer.value.length !== 1 ||
    integer.value[0]! > 2
  ) {
    throw new CertificateStructureError('its version is not v1, v2 or v3');
  }
  return integer.value[0]! + 1;
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
  const outerAlgorithm = child(top, 1, TAG.SEQUENCE);
  child(top, 2, TAG.BIT_STRING);
  const fields = children(tbs);
  const version = readVersion(fields[0]);
  let i = fields[0]?.tag === 0xa0 ? 1 : 0;
  const serial = child(fields, i++, TAG.INTEGER);
  const innerAlgorithm = child(fields, i++, TAG.SEQUENCE);
  const issuer = child(fields, i++, TAG.SEQUENCE);
  const validity = children(child(fields, i++, TAG.SEQUENCE));
  const subject = child(fields, i++, TAG.SEQUENCE);
  const spki = child(fields, i++, TAG.SEQUENCE);
  const extensions = readOptionalFields(fields.slice(i), version);
  if (!innerAlgorithm.raw.equals(outerAlgorithm.raw)) {
    throw new CertificateStructureError(
      'the signature algorithm inside it differs from the one its signature is made with (RFC 5280 4.1.1.2)',
    );
  }
  const keyUsageValue = extensions?.get(OID.keyUsage);
  const keyUsage = keyUsageValue ? parseKeyUsage(keyUsageValue) : undefined;
  const notBefore = readTime(child(validity, 0));
  const notAfter = readTime(child(validity, 1));
  const algorithm = readOid(child(children(child(children(spki), 0, TAG.SEQUENCE)), 0));

  const subjectDN = formatName(subject);
  const issuerDN = formatName(issuer);
  const commonNames = attributeValues(subject, '2.5.4.3');
  const selfIssued = issuer.raw.equals(subject.raw);

  // Rule 2 on the key as encoded, before OpenSSL does anything with it.
  let publicKeyProblem: ValidationError | undefined;
  let rsaReadable = true;
  let rsaBits = 0;
  if (algorithm === OID.rsaEncryption) {
    try {
      const { modulus, exponent } = rsaPublicIntegers(spki);
      rsaBits = checkRsaPublicKey(modulus, exponent, {
        field: 'certificate',
        what: "The certificate's RSA key",
      });
    } catch (error) {
      if (error instanceof DerError) rsaReadable = false;
      else {
        publicKeyProblem = error as ValidationError;
        rsaBits = Number((publicKeyProblem.details as { keySize?: number } | undefined)?.keySize ?? 0);
      }
    }
  }

  let publicKey: KeyObject | undefined;
  let keySize = rsaBits;
  if (rsaReadable && !publicKeyProblem) {
    try {
      publicKey = createPublicKey({ key: spki.raw, format: 'der', type: 'spki' });
      keySize = publicKey.asymmetricKeyDetails?.modulusLength ?? 0;
    } catch {
      publicKey = undefined;
    }
  }

  let signatureValid = false;
  // OpenSSL must be able to read it too: it is what every later step (and the peer) uses.
  let x509: X509Certificate | undefined;
  if (!publicKeyProblem) {
    try {
      x509 = new X509Certificate(der);
    } catch {
      throw new DerError('the certificate structure is not valid X.509');
    }
  }
  if (x509 && selfIssued && publicKey && algorithm === OID.rsaEncryption) {
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
    publicKeyProblem,
    selfIssued,
    signatureValid,
    keyUsage,
    issuerDer: issuer.raw,
    serialDer: serial.value,
    countries: attributeValues(subject, '2.5.4.6'),
  };
}
