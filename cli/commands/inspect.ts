/**
 * `reccert inspect CERT [KEY]`: the upload API's answer, offline. It runs the service's own
 * validation (`validateUploadAsync`), so the details, error codes and warnings are the API's.
 */
import type { UploadFlow } from '../../shared/domain/types';
import { validateUploadAsync } from '../../shared/pki/validate';
import { flag, type Parsed, parseCommandArgs, positionals, str } from '../args';
import { EXIT, UsageError } from '../errors';
import { detailRows, json, keyFormatName, table, warningLines } from '../format';
import { type Io, readInputFile, readPassword } from '../io';

const NAME = 'inspect';

export const help = `Usage: reccert inspect CERT [KEY] [--flow aws|azure] [--password PW | --password-file FILE] [--json]

Show what the reccert upload API would say about a certificate and its private key, without
sending anything: Subject Name, Serial Number, Subject DN, Issuer DN, validity, key size and
SHA-256 fingerprint, and the same error codes and warnings (EXPIRES_SOON, ...) as the API.

CERT is the certificate PEM, or on the Azure flow a PEM bundle with the certificate and its
PKCS#8 key. KEY is the private key PEM (PKCS#8, PKCS#1 on the AWS flow, or encrypted PKCS#8
with its password). Without a key only the certificate is checked (as the API's preview does).

Options:
  --flow aws|azure      which documented upload flow to check for (default aws; the Azure flow
                        refuses PKCS#1 keys with PKCS8_REQUIRED)
  --password PW         password of an encrypted KEY
  --password-file FILE  read the password from the first line of FILE ('-' = standard input)
  --at DATE             check as of this ISO 8601 date instead of now
  --json                print {"details", "warnings", "privateKey"} as JSON
  -h, --help            show this help

Exit code 0 when the upload would be accepted (perhaps with warnings), 1 when it would be
refused (one line on stderr: CODE: message), 2 for a usage error.
`;

const OPTIONS = {
  flow: { type: 'string' },
  password: { type: 'string' },
  'password-file': { type: 'string' },
  at: { type: 'string' },
} as const;

export function flowOption(parsed: Parsed, command: string, fallback: UploadFlow): UploadFlow {
  const flow = str(parsed, 'flow') ?? fallback;
  if (flow !== 'aws' && flow !== 'azure')
    throw new UsageError(`--flow must be aws or azure, not '${flow}'`, command);
  return flow;
}

function atOption(parsed: Parsed): Date {
  const at = str(parsed, 'at');
  if (at === undefined) return new Date();
  const date = new Date(at);
  if (!/^\d{4}-\d{2}-\d{2}/.test(at) || Number.isNaN(date.getTime())) {
    throw new UsageError(
      `--at must be an ISO 8601 date such as 2030-01-31 or 2030-01-31T12:00:00Z, not '${at}'`,
      NAME,
    );
  }
  return date;
}

export async function run(argv: string[], io: Io): Promise<number> {
  const parsed = parseCommandArgs(NAME, argv, OPTIONS);
  const [certPath, keyPath] = positionals(parsed, NAME, ['CERT', 'KEY'], 1) as [string, string | undefined];
  const flow = flowOption(parsed, NAME, 'aws');
  const now = atOption(parsed);
  const password = await readPassword(io, parsed.values as Record<string, string | undefined>, NAME);
  const certificate = readInputFile(io, certPath, 'certificate file', NAME);
  const privateKey = keyPath === undefined ? undefined : readInputFile(io, keyPath, 'key file', NAME);

  const result = await validateUploadAsync(
    { certificate, privateKey, privateKeyPassword: password },
    { flow, now, requirePrivateKey: false },
  );
  const keyInfo = result.privateKey
    ? { format: result.privateKey.format, matchesCertificate: true }
    : undefined;
  if (flag(parsed, 'json')) {
    io.out(
      json({
        flow,
        accepted: true,
        details: result.details,
        warnings: result.warnings,
        privateKey: keyInfo ?? null,
      }),
    );
    return EXIT.ok;
  }
  const rows: Array<[string, string | number | boolean | undefined]> = [...detailRows(result.details)];
  rows.push([
    'Private key',
    keyInfo
      ? `${keyFormatName(keyInfo.format)}, matches the certificate`
      : 'not given (only the certificate was checked)',
  ]);
  const lines = [table(rows)];
  const warnings = warningLines(result.warnings);
  if (warnings) lines.push('', warnings);
  lines.push(
    '',
    keyInfo
      ? `The ${flow} upload would accept this certificate and key${result.warnings.length ? ' (with warnings)' : ''}.`
      : `The ${flow} upload would accept this certificate${result.warnings.length ? ' (with warnings)' : ''}; give KEY to check the private key too.`,
  );
  io.out(`${lines.join('\n')}\n`);
  return EXIT.ok;
}
