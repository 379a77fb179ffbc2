/**
 * Upload validation: every rule of DESIGN section 3 and every code of section 4, in one place
 * used by the API (preview, upload, verify-key), the CLI (`reccert inspect`) and the benchmarks.
 */
import type { KeyObject } from 'node:crypto';
import type { CertificateDetails, UploadFlow } from '../domain/types';
import { ValidationError, type Warning } from '../errors';
import { CertificateStructureError, type ParsedCertificate, parseCertificateDer } from './certificate';
import { ISO_COUNTRY_CODES } from './countries';
import { DerError } from './der';
import { OID } from './oids';
import { looksLikePem, type PemBlock, type PemError, parsePemBlocks } from './pem';
import {
  type KeyFormatPolicy,
  keyFormatOf,
  type ParsedPrivateKey,
  type PrivateKeyFormat,
  parsePrivateKeyBlock,
  parsePrivateKeyBlockAsync,
  rsaPublicNumbers,
} from './private-key';
import { MIN_RSA_BITS } from './rsa-rules';

export { ANY_KEY_FORMAT, type KeyFormatPolicy, keyFormatOf } from './private-key';

export { MAX_RSA_BITS, MIN_RSA_BITS } from './rsa-rules';
export const EXPIRES_SOON_DAYS = 30;
const DAY_MS = 86_400_000;

export interface UploadInput {
  certificate: string;
  privateKey?: string | undefined;
  privateKeyPassword?: string | undefined;
}

export interface ValidationOptions {
  /** The upload flow to check for; it decides the key formats accepted (`keyFormatOf`). */
  flow: UploadFlow;
  now: Date;
  /** Preview and inspect may run without a key; upload requires one. */
  requirePrivateKey: boolean;
}

export interface ValidatedUpload {
  certificate: ParsedCertificate;
  /** PEM of the certificate alone (a bundle's key stripped). */
  certificatePem: string;
  details: CertificateDetails;
  warnings: Warning[];
  /** Present when a key was given; callers hand it to custody and drop it. */
  privateKey: { key: KeyObject; format: PrivateKeyFormat } | undefined;
}

const certField = { field: 'certificate' };
const PRIVATE_KEY_LABELS = new Set([
  'PRIVATE KEY',
  'RSA PRIVATE KEY',
  'ENCRYPTED PRIVATE KEY',
  'EC PRIVATE KEY',
]);

function certificateBlocks(text: string): { cert: PemBlock; bundledKey: PemBlock | undefined } {
  if (!looksLikePem(text)) {
    throw new ValidationError(
      'INVALID_PEM',
      'The certificate is not PEM text (expected -----BEGIN CERTIFICATE-----). If you have a DER (.cer/.der) file, convert it: openssl x509 -inform DER -in cert.der -out cert.pem',
      { details: certField },
    );
  }
  let blocks: PemBlock[];
  try {
    blocks = parsePemBlocks(text);
  } catch (error) {
    throw new ValidationError(
      'INVALID_PEM',
      `The certificate PEM is malformed: ${(error as PemError).message}.`,
      {
        details: certField,
        cause: error,
      },
    );
  }
  if (blocks.length === 0) {
    throw new ValidationError('INVALID_PEM', 'The certificate PEM has no complete BEGIN/END block.', {
      details: certField,
    });
  }
  const certs = blocks.filter((b) => b.label === 'CERTIFICATE' || b.label === 'X509 CERTIFICATE');
  const keys = blocks.filter((b) => PRIVATE_KEY_LABELS.has(b.label));
  if (certs.length > 1) {
    throw new ValidationError(
      'MULTIPLE_CERTIFICATES',
      `The file holds ${certs.length} certificates; chains are not supported. Upload only the recording certificate itself.`,
      { details: { ...certField, count: certs.length } },
    );
  }
  const cert = certs[0];
  if (!cert) {
    const first = blocks[0]!;
    const what =
      first.label === 'CERTIFICATE REQUEST' || first.label === 'NEW CERTIFICATE REQUEST'
        ? 'a certificate signing request (CSR); sign it first (openssl req -x509 ...) and upload the certificate'
        : PRIVATE_KEY_LABELS.has(first.label)
          ? 'a private key; put the key in the private key field and the certificate here'
          : `a '${first.label}' block`;
    throw new ValidationError('NOT_A_CERTIFICATE', `The certificate field holds ${what}.`, {
      details: { ...certField, found: first.label },
    });
  }
  if (keys.length > 1) {
    throw new ValidationError(
      'INVALID_PRIVATE_KEY',
      'The certificate bundle holds more than one private key.',
      {
        details: { field: 'privateKey' },
      },
    );
  }
  return { cert, bundledKey: keys[0] };
}

function certificateChecks(parsed: ParsedCertificate, now: Date, warnings: Warning[]): void {
  if (parsed.publicKeyAlgorithm !== OID.rsaEncryption) {
    throw new ValidationError(
      'UNSUPPORTED_KEY_ALGORITHM',
      `The certificate's key is ${parsed.publicKeyAlgorithmName}; recording certificates must carry an RSA key (2048 bits or more).`,
      { details: { ...certField, algorithm: parsed.publicKeyAlgorithmName } },
    );
  }
  // Size and soundness (rule 2) come before the signature: see ParsedCertificate.publicKeyProblem.
  if (parsed.publicKeyProblem) throw parsed.publicKeyProblem;
  if (!parsed.publicKey || parsed.details.keySize === 0) {
    throw new ValidationError('NOT_A_CERTIFICATE', "The certificate's RSA public key cannot be read.", {
      details: certField,
    });
  }
  if (parsed.selfIssued && !parsed.signatureValid) {
    throw new ValidationError(
      'INVALID_SIGNATURE',
      'The certificate is self-issued but its signature does not verify with its own key: the file is damaged or was altered. Generate it again.',
      { details: certField },
    );
  }
  if (parsed.keyUsage && !parsed.keyUsage.keyEncipherment) {
    throw new ValidationError(
      'KEY_USAGE_FORBIDS_ENCRYPTION',
      `The certificate's KeyUsage (${parsed.keyUsage.names.join(', ') || 'empty'}) does not allow keyEncipherment, which recording encryption needs to wrap session keys. Reissue it with keyUsage = keyEncipherment (or without a KeyUsage extension).`,
      { details: { ...certField, keyUsage: parsed.keyUsage.names } },
    );
  }
  if (now.getTime() < parsed.notBefore.getTime()) {
    throw new ValidationError(
      'CERTIFICATE_NOT_YET_VALID',
      `The certificate is not valid until ${parsed.details.notBefore}. Upload it once it is valid, or check the clock of the machine that made it.`,
      { details: { ...certField, notBefore: parsed.details.notBefore } },
    );
  }
  if (now.getTime() > parsed.notAfter.getTime()) {
    throw new ValidationError(
      'CERTIFICATE_EXPIRED',
      `The certificate expired on ${parsed.details.notAfter}. Generate a new certificate.`,
      { details: { ...certField, notAfter: parsed.details.notAfter } },
    );
  }
  const daysLeft = (parsed.notAfter.getTime() - now.getTime()) / DAY_MS;
  if (daysLeft < EXPIRES_SOON_DAYS) {
    warnings.push({
      code: 'EXPIRES_SOON',
      message: `The certificate expires in ${Math.max(0, Math.floor(daysLeft))} days (${parsed.details.notAfter}); plan its replacement now.`,
    });
  }
  for (const country of parsed.countries) {
    if (!ISO_COUNTRY_CODES.has(country)) {
      warnings.push({
        code: 'NON_STANDARD_COUNTRY',
        message: `The country '${country}' is not an ISO 3166-1 alpha-2 code (for example US, GB, DE).`,
      });
    }
  }
}

function keyBlock(text: string): PemBlock {
  const invalid = (message: string, cause?: unknown) =>
    new ValidationError('INVALID_PRIVATE_KEY', message, { details: { field: 'privateKey' }, cause });
  if (!looksLikePem(text)) {
    throw invalid(
      'The private key is not PEM text (expected -----BEGIN PRIVATE KEY----- or -----BEGIN RSA PRIVATE KEY-----).',
    );
  }
  let blocks: PemBlock[];
  try {
    blocks = parsePemBlocks(text);
  } catch (error) {
    throw invalid(`The private key PEM is malformed: ${(error as PemError).message}.`, error);
  }
  if (blocks.length === 0) throw invalid('The private key PEM has no complete BEGIN/END block.');
  const keys = blocks.filter((b) => b.label.endsWith('PRIVATE KEY'));
  if (keys.length > 1) throw invalid('The private key field holds more than one key. Upload exactly one.');
  return keys[0] ?? blocks[0]!;
}

/** Parses the certificate's DER with the codes of section 4 (NOT_A_CERTIFICATE, INVALID_CERTIFICATE). */
function parseCertificateBlock(block: PemBlock): ParsedCertificate {
  try {
    return parseCertificateDer(block.der);
  } catch (error) {
    if (error instanceof CertificateStructureError) {
      throw new ValidationError(
        'INVALID_CERTIFICATE',
        `The certificate breaks RFC 5280's structure rules: ${error.message}. Reissue it (openssl req -x509 makes conforming certificates).`,
        { details: certField, cause: error },
      );
    }
    if (error instanceof DerError) {
      throw new ValidationError(
        'NOT_A_CERTIFICATE',
        `The CERTIFICATE block is not a valid X.509 certificate (${error.message}).`,
        { details: certField, cause: error },
      );
    }
    throw error;
  }
}

interface UploadPlan {
  parsed: ParsedCertificate;
  cert: PemBlock;
  keyBlock: PemBlock | undefined;
  warnings: Warning[];
}

/** Every certificate rule, and finding the key's block: all of validation but the key itself. */
function planUpload(input: UploadInput, options: ValidationOptions): UploadPlan {
  const warnings: Warning[] = [];
  if (typeof input.certificate !== 'string' || input.certificate.trim() === '') {
    throw new ValidationError(
      'VALIDATION_ERROR',
      'The certificate is required (PEM text or file part `certificate`).',
      {
        details: certField,
      },
    );
  }
  const { cert, bundledKey } = certificateBlocks(input.certificate);
  const parsed = parseCertificateBlock(cert);
  certificateChecks(parsed, options.now, warnings);

  const keyText = input.privateKey?.trim() ? input.privateKey : undefined;
  if (keyText !== undefined && bundledKey) {
    throw new ValidationError(
      'VALIDATION_ERROR',
      'A private key was given both inside the certificate bundle and separately. Give it once.',
      { details: { field: 'privateKey' } },
    );
  }
  const block = keyText !== undefined ? keyBlock(keyText) : bundledKey;
  if (!block) {
    if (options.requirePrivateKey) {
      throw new ValidationError(
        'PRIVATE_KEY_REQUIRED',
        'The private key is required: add the key file (or, on the Azure flow, a PEM bundle with the certificate and its PKCS#8 key).',
        { details: { field: 'privateKey' } },
      );
    }
    if (input.privateKeyPassword) {
      warnings.push({
        code: 'PASSWORD_IGNORED',
        message: 'A password was given without a private key; it was ignored.',
      });
    }
  }
  return { parsed, cert, keyBlock: block, warnings };
}

function finishUpload(plan: UploadPlan, key: ParsedPrivateKey | undefined): ValidatedUpload {
  const { parsed, warnings } = plan;
  if (key) {
    warnings.push(...key.warnings);
    checkKeyMatches(parsed, key.key);
  }
  return {
    certificate: parsed,
    certificatePem: certificatePemOf(plan.cert),
    details: parsed.details,
    warnings,
    privateKey: key ? { key: key.key, format: key.format } : undefined,
  };
}

/**
 * Validates a certificate and (optionally) its private key. Throws `ValidationError` with the
 * first rule broken; returns the details and warnings otherwise. The certificate's rules run
 * first and cheapest first, so hostile input is refused before any costly work is spent on it.
 * An encrypted key's derivation runs on the calling thread (bounded by section 9's limits): for
 * tools and tests; a server uses `validateUploadAsync`.
 */
export function validateUpload(input: UploadInput, options: ValidationOptions): ValidatedUpload {
  const plan = planUpload(input, options);
  const key = plan.keyBlock
    ? parsePrivateKeyBlock(plan.keyBlock, input.privateKeyPassword, keyFormatOf(options.flow))
    : undefined;
  return finishUpload(plan, key);
}

/** `validateUpload` with an encrypted key's derivation on the libuv threadpool (DESIGN section 9). */
export async function validateUploadAsync(
  input: UploadInput,
  options: ValidationOptions,
): Promise<ValidatedUpload> {
  const plan = planUpload(input, options);
  const key = plan.keyBlock
    ? await parsePrivateKeyBlockAsync(plan.keyBlock, input.privateKeyPassword, keyFormatOf(options.flow))
    : undefined;
  return finishUpload(plan, key);
}

/**
 * Throws KEY_TOO_SMALL / KEY_MISMATCH unless the key belongs to the certificate. The key's own
 * consistency (INVALID_PRIVATE_KEY) was checked when it was parsed.
 */
export function checkKeyMatches(parsed: ParsedCertificate, key: KeyObject): void {
  const bits = key.asymmetricKeyDetails?.modulusLength ?? 0;
  if (bits < MIN_RSA_BITS) {
    throw new ValidationError(
      'KEY_TOO_SMALL',
      `The private key has ${bits} bits; at least ${MIN_RSA_BITS} are required.`,
      {
        details: { field: 'privateKey', keySize: bits, minimum: MIN_RSA_BITS },
      },
    );
  }
  const fromKey = rsaPublicNumbers(key);
  const fromCert = parsed.publicKey ? rsaPublicNumbers(parsed.publicKey) : undefined;
  if (!fromCert || fromKey.n !== fromCert.n || fromKey.e !== fromCert.e) {
    throw new ValidationError(
      'KEY_MISMATCH',
      'The private key does not belong to this certificate (its public key differs). Choose the key file that was generated with this certificate.',
      { details: { field: 'privateKey' } },
    );
  }
}

/**
 * Parses a private key given as PEM text (with its password, if encrypted), with the same
 * codes as upload: PRIVATE_KEY_REQUIRED, INVALID_PRIVATE_KEY, PRIVATE_KEY_ENCRYPTED, ...
 */
export function parsePrivateKeyInput(
  text: string | undefined,
  password: string | undefined,
  policy: KeyFormatPolicy,
): ParsedPrivateKey {
  return parsePrivateKeyBlock(requiredKeyBlock(text), password, policy);
}

/** `parsePrivateKeyInput` with an encrypted key's derivation on the libuv threadpool. */
export function parsePrivateKeyInputAsync(
  text: string | undefined,
  password: string | undefined,
  policy: KeyFormatPolicy,
): Promise<ParsedPrivateKey> {
  return parsePrivateKeyBlockAsync(requiredKeyBlock(text), password, policy);
}

function requiredKeyBlock(text: string | undefined): PemBlock {
  if (text === undefined || text.trim() === '') {
    throw new ValidationError(
      'PRIVATE_KEY_REQUIRED',
      'The private key is required (file part or field `privateKey`).',
      {
        details: { field: 'privateKey' },
      },
    );
  }
  return keyBlock(text);
}

/** Parses one stored or given certificate PEM (no time or key rules applied). */
export function parseCertificatePem(pem: string): ParsedCertificate {
  const { cert } = certificateBlocks(pem);
  return parseCertificateBlock(cert);
}

/**
 * Checks a certificate that recordings are to be encrypted for (the CLI's `encrypt` and
 * `inspect`): readable, RFC 5280 structure, and an RSA key that rule 2 accepts. Dates are the
 * caller's business. Returns the parsed certificate.
 */
export function checkRecipientCertificate(pem: string): ParsedCertificate {
  const parsed = parseCertificatePem(pem);
  if (parsed.publicKeyAlgorithm !== OID.rsaEncryption) {
    throw new ValidationError(
      'UNSUPPORTED_KEY_ALGORITHM',
      `The certificate's key is ${parsed.publicKeyAlgorithmName}; recordings are encrypted to RSA keys.`,
      { details: certField },
    );
  }
  if (parsed.publicKeyProblem) throw parsed.publicKeyProblem;
  return parsed;
}

function certificatePemOf(block: PemBlock): string {
  const lines = block.der.toString('base64').match(/.{1,64}/g) ?? [];
  return `-----BEGIN CERTIFICATE-----\n${lines.join('\n')}\n-----END CERTIFICATE-----\n`;
}
