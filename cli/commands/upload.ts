/**
 * `reccert upload`: the API's multipart upload (parts `certificate`, `privateKey`,
 * `privateKeyPassword`) to a running service, local, AWS or Azure, with global fetch.
 */
import { basename } from 'node:path';
import type { CertificateDetails } from '../../shared/domain/types';
import type { Warning } from '../../shared/errors';
import { flag, parseCommandArgs, positionals } from '../args';
import { EXIT, RefusedError } from '../errors';
import { detailRows, json, table, warningLines } from '../format';
import { type Io, readInputFile, readPassword } from '../io';
import { jsonBody, refusal, SERVICE_OPTIONS, send, serviceOf, tenantUrl } from '../service';

const NAME = 'upload';

export const help = `Usage: reccert upload --url URL --tenant TENANT --token TOKEN CERT [KEY] [options]

Upload a recording certificate and its private key to a reccert service (the local runtime, or
an AWS or Azure deployment): a multipart POST to URL/v1/tenants/TENANT/certificates with the
parts certificate, privateKey and privateKeyPassword. Prints the stored certificate's details,
or the service's error as CODE: message.

Options:
  --url URL             the service's base URL (or RECCERT_URL), for example
                        http://127.0.0.1:8080 or https://api.example.com/prod
  --tenant TENANT       the tenant id
  --token TOKEN         bearer token with the admin role (or RECCERT_TOKEN, or --token-file)
  --token-file FILE     read the token from FILE ('-' = standard input)
  --password PW         password of an encrypted KEY (sent as privateKeyPassword)
  --password-file FILE  read that password from the first line of FILE ('-' = standard input)
  --preview             ask the service to validate only (POST .../certificates/preview);
                        nothing is stored and KEY is not sent
  --timeout SECONDS     give up after this long (default 60)
  --json                print the service's JSON answer
  -h, --help            show this help

Plain http is allowed only to this machine (localhost, 127.0.0.1, ::1): a private key is never
sent unencrypted over a network. Check files offline first with: reccert inspect CERT KEY

Exit codes: 0 stored, 1 refused by the service (validation, 401, 403, 409, ...), 2 usage,
3 service unreachable or failing (5xx).
`;

const OPTIONS = {
  ...SERVICE_OPTIONS,
  password: { type: 'string' },
  'password-file': { type: 'string' },
  preview: { type: 'boolean' },
} as const;

export async function run(argv: string[], io: Io): Promise<number> {
  const parsed = parseCommandArgs(NAME, argv, OPTIONS);
  const [certPath, keyPath] = positionals(parsed, NAME, ['CERT', 'KEY'], 1) as [string, string | undefined];
  const service = await serviceOf(parsed, io, NAME, 'a private key');
  const preview = flag(parsed, 'preview');
  const password = await readPassword(io, parsed.values as Record<string, string | undefined>, NAME);
  const certificate = readInputFile(io, certPath, 'certificate file', NAME);
  const privateKey =
    keyPath === undefined || preview ? undefined : readInputFile(io, keyPath, 'key file', NAME);

  const form = new FormData();
  form.append('certificate', new Blob([certificate], { type: 'application/x-pem-file' }), basename(certPath));
  if (privateKey !== undefined) {
    form.append('privateKey', new Blob([privateKey], { type: 'application/x-pem-file' }), basename(keyPath!));
  }
  // The documented form has the password field even when it is empty.
  if (!preview) form.append('privateKeyPassword', password ?? '');

  const url = tenantUrl(service, `/certificates${preview ? '/preview' : ''}`);
  const response = await send(service, url, { method: 'POST', body: form });
  const body = await jsonBody(response);
  if (!response.ok) throw refusal(response.status, response.statusText, body);
  if (body === undefined || typeof body !== 'object') {
    throw new RefusedError(
      'INVALID_RESPONSE',
      `the service answered ${response.status} without a JSON body`,
      {
        exitCode: EXIT.unavailable,
      },
    );
  }

  const location = response.headers.get('location') ?? undefined;
  if (flag(parsed, 'json')) {
    io.out(json(location ? { ...(body as object), location } : body));
    return EXIT.ok;
  }
  io.out(`${render(body as Record<string, unknown>, { preview, location })}\n`);
  return EXIT.ok;
}

function render(
  body: Record<string, unknown>,
  context: { preview: boolean; location?: string | undefined },
): string {
  const text = (v: unknown) => (typeof v === 'string' ? v : undefined);
  const rows: Array<[string, string | number | boolean | undefined]> = [
    ['Id', text(body.id)],
    ['Alias', text(body.alias)],
    ['Status', text(body.status)],
    ...detailRows(body as unknown as CertificateDetails),
    // On the Azure flow the answer names the Key Vault key that now holds the private key.
    ['Vault key', text(body.key)],
    ['Location', context.location],
  ];
  const lines = [
    context.preview ? 'The service accepts this certificate (preview: nothing was stored).' : 'Uploaded.',
    table(rows),
  ];
  const warnings = Array.isArray(body.warnings) ? warningLines(body.warnings as Warning[]) : '';
  if (warnings) lines.push(warnings);
  return lines.join('\n');
}
