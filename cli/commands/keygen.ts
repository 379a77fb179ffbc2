/**
 * `reccert keygen`: what `openssl genrsa` + `openssl req -x509 -subj ...` do in the product
 * documentation, with the DN checked first and the result checked by the upload validation.
 */
import { generateKeyPair, type KeyObject } from 'node:crypto';
import { resolve } from 'node:path';
import { promisify } from 'node:util';
import { buildSelfSigned, type KeyUsageName, type NameAttribute } from '../../shared/pki/builder';
import { ISO_COUNTRY_CODES } from '../../shared/pki/countries';
import { validateUploadAsync } from '../../shared/pki/validate';
import { flag, intOption, type Parsed, parseCommandArgs, positionals, str } from '../args';
import { EXIT, UsageError } from '../errors';
import { detailRows, json, table, warningLines } from '../format';
import { type Io, refuseOverwrite, removeQuietly, stageFile } from '../io';

const NAME = 'keygen';
const generateKeyPairAsync = promisify(generateKeyPair);

export const BITS = [2048, 3072, 4096] as const;
const MIN_DAYS = 1;
const MAX_DAYS = 36500;
/**
 * Backdating notBefore keeps a certificate made on a machine whose clock runs a little fast from
 * being refused as CERTIFICATE_NOT_YET_VALID by a service whose clock does not.
 */
const BACKDATE_MS = 5 * 60_000;

/**
 * Extensions of the certificate. It is a self-signed end-entity certificate that wraps session
 * keys, so:
 * - KeyUsage (critical) = digitalSignature + keyEncipherment: keyEncipherment is what the service
 *   requires (DESIGN rule 5) and what makes Azure Key Vault (and Lowkey Vault) give the imported
 *   key the wrapKey/unwrapKey operations; digitalSignature is what `openssl req -x509` keys are
 *   normally used for and lets the vault sign with it too.
 * - basicConstraints CA:FALSE plus subject and authority key identifiers (the builder's standard
 *   set). `openssl verify -CAfile tenant.pem tenant.pem` trusts the certificate because it *is*
 *   the trust anchor (OpenSSL replaces a self-signed leaf by its identical trusted copy and then
 *   checks no issuer KeyUsage), so neither keyCertSign nor CA:TRUE is needed; that holds with
 *   -x509_strict as well, and the tests run both. Asserting keyCertSign without CA:TRUE would
 *   break RFC 5280 (4.2.1.9) and strict verifiers, and CA:TRUE would let the tenant's recording
 *   key act as a certificate authority, which it must not.
 */
const KEY_USAGE: KeyUsageName[] = ['digitalSignature', 'keyEncipherment'];

export const help = `Usage: reccert keygen --cn NAME --country CC --org ORG [--state STATE] [options]

Generate an RSA private key and a self-signed X.509 v3 recording certificate, as
  openssl genrsa -out tenant.key 2048
  openssl req -new -x509 -key tenant.key -out tenant.pem -days 3650 \\
    -subj "/CN=Genesys Recording/C=US/ST=California/O=Genesys"
do, with the DN checked first and the result checked by the upload validation.

Subject (DN) fields, in this order in the certificate:
  --cn NAME          common name, the certificate's name in the admin UI (1 to 64 characters)
  --country CC       two-letter ISO 3166 country code (US, GB, DE, ...)
  --state STATE      state or province (optional, 1 to 128 characters)
  --org ORG          organization (1 to 64 characters)
Non-ASCII text is written as UTF-8.

Options:
  --days N           validity in days, ${MIN_DAYS} to ${MAX_DAYS} (default 3650)
  --bits N           RSA key size: ${BITS.join(', ')} (default 2048)
  --out-key FILE     private key file (default tenant.key), written with mode 0600
  --out-cert FILE    certificate file (default tenant.pem)
  --pkcs1            write the key as PKCS#1 (BEGIN RSA PRIVATE KEY, like genrsa -traditional)
                     instead of PKCS#8 (BEGIN PRIVATE KEY); the Azure flow needs PKCS#8
  --force            replace existing output files
  --json             print the result as JSON
  -h, --help         show this help

The certificate's KeyUsage is digitalSignature + keyEncipherment, so cloud key vaults let the
key unwrap recording session keys. Existing files are never overwritten without --force, and
the key file appears complete or not at all.
`;

const OPTIONS = {
  cn: { type: 'string' },
  country: { type: 'string' },
  state: { type: 'string' },
  org: { type: 'string' },
  days: { type: 'string' },
  bits: { type: 'string' },
  'out-key': { type: 'string' },
  'out-cert': { type: 'string' },
  pkcs1: { type: 'boolean' },
  force: { type: 'boolean' },
} as const;

/** Letter pairs people type that are not ISO 3166 codes, and what they mean. */
const COUNTRY_HINTS: Record<string, string> = { UK: 'GB', EN: 'GB', EL: 'GR', SP: 'ES', GE: 'DE', SW: 'SE' };

// biome-ignore lint/suspicious/noControlCharactersInRegex: control characters are exactly what is refused.
const CONTROL = /[\u0000-\u001f\u007f-\u009f]/;

function dnValue(
  parsed: Parsed,
  option: string,
  label: string,
  max: number,
  requiredField: boolean,
): string | undefined {
  const raw = str(parsed, option);
  if (raw === undefined) {
    if (requiredField) throw new UsageError(`missing --${option} (${label})`, NAME);
    return undefined;
  }
  const value = raw.trim();
  if (value === '') throw new UsageError(`--${option} (${label}) must not be empty`, NAME);
  if (CONTROL.test(value))
    throw new UsageError(`--${option} (${label}) must not contain control characters`, NAME);
  const length = [...value].length;
  if (length > max)
    throw new UsageError(`--${option} (${label}) is ${length} characters; at most ${max} are allowed`, NAME);
  return value;
}

function country(parsed: Parsed): string {
  const raw = str(parsed, 'country');
  if (raw === undefined)
    throw new UsageError('missing --country (two-letter country code, for example US)', NAME);
  const code = raw.trim().toUpperCase();
  if (!/^[A-Z]{2}$/.test(code)) {
    throw new UsageError(
      `--country must be a two-letter country code such as US, GB or DE; got '${raw}'`,
      NAME,
    );
  }
  if (!ISO_COUNTRY_CODES.has(code)) {
    const hint = COUNTRY_HINTS[code];
    throw new UsageError(
      `--country '${code}' is not an ISO 3166-1 country code${hint ? `; did you mean ${hint}?` : ''}`,
      NAME,
    );
  }
  return code;
}

/** The subject in the documentation's order: /CN=.../C=../ST=../O=... */
export function subjectFrom(parsed: Parsed): NameAttribute[] {
  const cn = dnValue(parsed, 'cn', 'common name', 64, true)!;
  const c = country(parsed);
  const st = dnValue(parsed, 'state', 'state or province', 128, false);
  const o = dnValue(parsed, 'org', 'organization', 64, true)!;
  return [['CN', cn], ['C', c], ...(st ? [['ST', st] as NameAttribute] : []), ['O', o]];
}

export async function run(argv: string[], io: Io): Promise<number> {
  const parsed = parseCommandArgs(NAME, argv, OPTIONS);
  positionals(parsed, NAME, [], 0);
  const subject = subjectFrom(parsed);
  const days = intOption(parsed, 'days', NAME, { min: MIN_DAYS, max: MAX_DAYS, fallback: 3650 });
  const bits = intOption(parsed, 'bits', NAME, { min: 2048, max: 4096, allowed: BITS, fallback: 2048 });
  const keyPath = str(parsed, 'out-key') ?? 'tenant.key';
  const certPath = str(parsed, 'out-cert') ?? 'tenant.pem';
  const pkcs1 = flag(parsed, 'pkcs1');
  const force = flag(parsed, 'force');
  if (resolve(io.cwd, keyPath) === resolve(io.cwd, certPath)) {
    throw new UsageError('--out-key and --out-cert must be different files', NAME);
  }
  // Fail before the (slow) key generation; the final move checks again without a race.
  refuseOverwrite(io, keyPath, force);
  refuseOverwrite(io, certPath, force);

  const { privateKey } = (await generateKeyPairAsync('rsa', {
    modulusLength: bits,
    publicExponent: 0x10001,
  })) as {
    privateKey: KeyObject;
  };
  const now = new Date();
  const notBefore = new Date(Math.floor((now.getTime() - BACKDATE_MS) / 1000) * 1000);
  const notAfter = new Date(Math.floor(now.getTime() / 1000) * 1000 + days * 86_400_000);
  const certificate = buildSelfSigned(privateKey, { subject, notBefore, notAfter, keyUsage: KEY_USAGE });
  const keyPem = privateKey.export({ type: pkcs1 ? 'pkcs1' : 'pkcs8', format: 'pem' }).toString();

  // What we made must pass the service's own checks on the flow it is meant for.
  const validated = await validateUploadAsync(
    { certificate: certificate.pem, privateKey: keyPem },
    { flow: pkcs1 ? 'aws' : 'azure', now, requirePrivateKey: true },
  );

  const key = stageFile(io, keyPath, keyPem, { mode: 0o600, force });
  let cert: ReturnType<typeof stageFile>;
  try {
    cert = stageFile(io, certPath, certificate.pem, { mode: 0o644, force });
  } catch (error) {
    key.abort();
    throw error;
  }
  try {
    cert.commit();
  } catch (error) {
    key.abort();
    throw error;
  }
  try {
    key.commit();
  } catch (error) {
    // Without --force the certificate file is ours, just made: do not leave it without its key.
    if (!force) removeQuietly(resolve(io.cwd, certPath));
    throw error;
  }

  const keyFormat = pkcs1 ? 'pkcs1' : 'pkcs8';
  if (flag(parsed, 'json')) {
    io.out(
      json({
        keyFile: keyPath,
        certificateFile: certPath,
        keyFormat,
        days,
        details: validated.details,
        warnings: validated.warnings,
      }),
    );
    return EXIT.ok;
  }
  const lines = [
    `Wrote ${keyPath} (${pkcs1 ? 'PKCS#1' : 'PKCS#8'} RSA ${bits}-bit private key, mode 0600) and ${certPath} (self-signed certificate, ${days} days).`,
    '',
    table(detailRows(validated.details)),
  ];
  const warnings = warningLines(validated.warnings);
  if (warnings) lines.push('', warnings);
  lines.push('', `Keep ${keyPath} secret. Check before uploading: reccert inspect ${certPath} ${keyPath}`);
  io.out(`${lines.join('\n')}\n`);
  return EXIT.ok;
}
