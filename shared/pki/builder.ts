/**
 * Builds X.509 v3 certificates: self-signed recording certificates for `reccert keygen`, and
 * certificates with chosen dates and defects for tests. Signing uses node:crypto (OpenSSL).
 */
import { createHash, createPublicKey, type KeyObject, randomBytes, sign } from 'node:crypto';
import { der, TAG, tlv } from './der';
import { OID } from './oids';
import { toPem } from './pem';

/** Attribute types that `buildName` accepts, by OpenSSL short name. */
const NAME_OIDS: Record<string, string> = {
  CN: '2.5.4.3',
  C: '2.5.4.6',
  L: '2.5.4.7',
  ST: '2.5.4.8',
  O: '2.5.4.10',
  OU: '2.5.4.11',
  emailAddress: '1.2.840.113549.1.9.1',
  serialNumber: '2.5.4.5',
};

export type NameAttribute = [type: string, value: string];

/**
 * A DER Name from attributes in order (C as PrintableString and emailAddress as IA5String, as
 * openssl writes them; everything else UTF8String).
 */
export function buildName(attributes: NameAttribute[]): Buffer {
  return der.sequence(
    ...attributes.map(([type, value]) => {
      const oid = NAME_OIDS[type] ?? type;
      const encoded =
        type === 'C'
          ? der.printable(value)
          : type === 'emailAddress'
            ? tlv(TAG.IA5_STRING, Buffer.from(value, 'latin1'))
            : der.utf8(value);
      return der.set(der.sequence(der.oid(oid), encoded));
    }),
  );
}

export type KeyUsageName =
  | 'digitalSignature'
  | 'nonRepudiation'
  | 'keyEncipherment'
  | 'dataEncipherment'
  | 'keyAgreement'
  | 'keyCertSign'
  | 'cRLSign';

const KEY_USAGE_BITS: Record<KeyUsageName, number> = {
  digitalSignature: 0,
  nonRepudiation: 1,
  keyEncipherment: 2,
  dataEncipherment: 3,
  keyAgreement: 4,
  keyCertSign: 5,
  cRLSign: 6,
};

function keyUsageExtension(usages: KeyUsageName[]): Buffer {
  let bits = 0;
  for (const u of usages) bits |= 0x80 >> KEY_USAGE_BITS[u];
  let unused = 0;
  if (bits === 0) unused = 7;
  else while (((bits >> unused) & 1) === 0) unused++;
  const ext = der.bitString(Buffer.from([bits]), unused);
  return der.sequence(der.oid(OID.keyUsage), der.boolean(true), der.octetString(ext));
}

export interface CertificateOptions {
  /** Subject and (self-signed) issuer. */
  subject: NameAttribute[];
  /** Issuer name if different from the subject (the certificate is then signed by `signingKey`). */
  issuer?: NameAttribute[];
  publicKey: KeyObject;
  /** The key that signs; the subject's own private key for a self-signed certificate. */
  signingKey: KeyObject;
  notBefore: Date;
  notAfter: Date;
  /** Serial as a positive BigInt; random 16 bytes when omitted. */
  serial?: bigint;
  /** KeyUsage extension (critical); null for none. Default: digitalSignature + keyEncipherment. */
  keyUsage?: KeyUsageName[] | null;
  /** Adds basicConstraints CA:FALSE plus subject/authority key identifiers (default true). */
  standardExtensions?: boolean;
}

function subjectKeyId(spki: Buffer): Buffer {
  // RFC 5280 4.2.1.2 method 1: SHA-1 of the subjectPublicKey BIT STRING contents.
  return createHash('sha1').update(spki).digest();
}

/** Builds and signs a certificate (sha256WithRSAEncryption for RSA keys, ecdsa-with-SHA256 for EC). */
export function buildCertificate(options: CertificateOptions): { der: Buffer; pem: string } {
  const spki = options.publicKey.export({ format: 'der', type: 'spki' });
  const subject = buildName(options.subject);
  const issuer = options.issuer ? buildName(options.issuer) : subject;
  const serial = options.serial ?? BigInt(`0x${randomBytes(16).toString('hex')}`) >> 1n;
  const rsaSigner = options.signingKey.asymmetricKeyType === 'rsa';
  const sigAlg = rsaSigner
    ? der.sequence(der.oid(OID.sha256WithRSAEncryption), der.null())
    : der.sequence(der.oid('1.2.840.10045.4.3.2'));
  const extensions: Buffer[] = [];
  const keyUsage =
    options.keyUsage === undefined
      ? (['digitalSignature', 'keyEncipherment'] as KeyUsageName[])
      : options.keyUsage;
  if (options.standardExtensions !== false) {
    const keyId = subjectKeyId(spki);
    extensions.push(
      der.sequence(der.oid(OID.basicConstraints), der.boolean(true), der.octetString(der.sequence())),
    );
    extensions.push(der.sequence(der.oid(OID.subjectKeyIdentifier), der.octetString(der.octetString(keyId))));
    if (!options.issuer) {
      extensions.push(
        der.sequence(
          der.oid(OID.authorityKeyIdentifier),
          der.octetString(der.sequence(der.implicit(0, keyId))),
        ),
      );
    }
  }
  if (keyUsage) extensions.push(keyUsageExtension(keyUsage));
  const tbs = der.sequence(
    der.explicit(0, der.integer(2)),
    der.integer(serial),
    sigAlg,
    issuer,
    der.sequence(der.time(options.notBefore), der.time(options.notAfter)),
    subject,
    spki,
    ...(extensions.length ? [der.explicit(3, der.sequence(...extensions))] : []),
  );
  const signature = sign('sha256', tbs, options.signingKey);
  const certificate = der.sequence(tbs, sigAlg, der.bitString(signature));
  return { der: certificate, pem: toPem('CERTIFICATE', certificate) };
}

/** Convenience for the common case: a self-signed certificate for a private key. */
export function buildSelfSigned(
  privateKey: KeyObject,
  options: Omit<CertificateOptions, 'publicKey' | 'signingKey'>,
): { der: Buffer; pem: string } {
  return buildCertificate({ ...options, publicKey: createPublicKey(privateKey), signingKey: privateKey });
}
