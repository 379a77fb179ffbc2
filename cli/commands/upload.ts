/**
 * `reccert upload`: the API's multipart upload (parts `certificate`, `privateKey`,
 * `privateKeyPassword`) to a running service, local, AWS or Azure, with global fetch.
 */
import { basename } from 'node:path';
import type { CertificateDetails } from '../../shared/domain/types';
import type { Warning } from '../../shared/errors';
import { flag, type Parsed, parseCommandArgs, positionals, str } from '../args';
import { EXIT, RefusedError, UsageError } from '../errors';
import { detailRows, json, table, warningLines } from '../format';
import { type Io, readInputFile, readPassword } from '../io';

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
  url: { type: 'string' },
  tenant: { type: 'string' },
  token: { type: 'string' },
  'token-file': { type: 'string' },
  password: { type: 'string' },
  'password-file': { type: 'string' },
  preview: { type: 'boolean' },
  timeout: { type: 'string' },
} as const;

const LOOPBACK = new Set(['localhost', '127.0.0.1', '[::1]']);

function baseUrl(parsed: Parsed, io: Io): URL {
  const raw = str(parsed, 'url') ?? io.env.RECCERT_URL;
  if (!raw) throw new UsageError('missing --url (the service, for example http://127.0.0.1:8080)', NAME);
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    throw new UsageError(`--url '${raw}' is not a URL`, NAME);
  }
  if (url.protocol !== 'https:' && url.protocol !== 'http:') {
    throw new UsageError(`--url must be http or https, not ${url.protocol}`, NAME);
  }
  if (url.protocol === 'http:' && !LOOPBACK.has(url.hostname) && !url.hostname.startsWith('127.')) {
    throw new UsageError(
      `refusing to send a private key over plain http to ${url.hostname}; use https`,
      NAME,
    );
  }
  if (url.username || url.password)
    throw new UsageError('--url must not hold credentials; use --token', NAME);
  if (url.search || url.hash) throw new UsageError('--url must be the base URL, without ? or #', NAME);
  return url;
}

async function token(parsed: Parsed, io: Io): Promise<string> {
  const inline = str(parsed, 'token');
  const file = str(parsed, 'token-file');
  if (inline !== undefined && file !== undefined)
    throw new UsageError('give --token or --token-file, not both', NAME);
  let value = inline;
  if (file !== undefined)
    value = file === '-' ? await io.readStdin() : readInputFile(io, file, 'token file', NAME);
  value = (value ?? io.env.RECCERT_TOKEN ?? '').trim();
  if (value === '') throw new UsageError('missing --token (or RECCERT_TOKEN, or --token-file)', NAME);
  if (/\s/.test(value)) throw new UsageError('the token must be one word (a JWT), without spaces', NAME);
  return value.replace(/^Bearer\s+/i, '');
}

function timeoutSeconds(parsed: Parsed): number {
  const raw = str(parsed, 'timeout');
  if (raw === undefined) return 60;
  const value = Number(raw);
  if (!/^\d+$/.test(raw) || value < 1 || value > 3600) {
    throw new UsageError(`--timeout must be whole seconds from 1 to 3600, not '${raw}'`, NAME);
  }
  return value;
}

interface ApiError {
  error?: { code?: unknown; message?: unknown; details?: unknown };
}

/** Turns a non-2xx answer into the service's `CODE: message` (exit 1; 3 for 5xx). */
function refusal(status: number, statusText: string, body: unknown): RefusedError {
  const exitCode = status >= 500 ? EXIT.unavailable : EXIT.refused;
  const error = (body as ApiError | undefined)?.error;
  if (error && typeof error.code === 'string' && typeof error.message === 'string') {
    const details =
      error.details && typeof error.details === 'object'
        ? (error.details as Record<string, unknown>)
        : undefined;
    return new RefusedError(error.code, error.message, {
      exitCode,
      ...(details ? { details: { ...details, status } } : { details: { status } }),
    });
  }
  return new RefusedError(`HTTP_${status}`, `the service answered ${status} ${statusText}`.trim(), {
    exitCode,
    details: { status },
  });
}

export async function run(argv: string[], io: Io): Promise<number> {
  const parsed = parseCommandArgs(NAME, argv, OPTIONS);
  const [certPath, keyPath] = positionals(parsed, NAME, ['CERT', 'KEY'], 1) as [string, string | undefined];
  const base = baseUrl(parsed, io);
  const tenant = str(parsed, 'tenant');
  if (!tenant || tenant.trim() === '') throw new UsageError('missing --tenant', NAME);
  const bearer = await token(parsed, io);
  const preview = flag(parsed, 'preview');
  const timeout = timeoutSeconds(parsed);
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

  const path = `${base.pathname.replace(/\/+$/, '')}/v1/tenants/${encodeURIComponent(tenant)}/certificates${preview ? '/preview' : ''}`;
  const url = new URL(path, base);
  let response: Response;
  try {
    response = await fetch(url, {
      method: 'POST',
      headers: { authorization: `Bearer ${bearer}`, accept: 'application/json' },
      body: form,
      signal: AbortSignal.timeout(timeout * 1000),
      redirect: 'error',
    });
  } catch (error) {
    throw unreachable(url, error, timeout);
  }
  const text = await response.text();
  let body: unknown;
  try {
    body = text === '' ? undefined : JSON.parse(text);
  } catch {
    body = undefined;
  }
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

function unreachable(url: URL, error: unknown, timeout: number): RefusedError {
  const name = (error as Error).name;
  if (name === 'TimeoutError' || name === 'AbortError') {
    return new RefusedError('TIMEOUT', `no answer from ${url.origin} within ${timeout} seconds`, {
      exitCode: EXIT.unavailable,
    });
  }
  const cause = (error as { cause?: { code?: string; message?: string } }).cause;
  const reason = cause?.code ?? cause?.message ?? (error as Error).message;
  if (name === 'TypeError' && /redirect/i.test(`${cause?.message ?? ''} ${(error as Error).message}`)) {
    return new RefusedError(
      'REDIRECTED',
      `${url.origin} answered with a redirect; give the final URL with --url`,
      {
        exitCode: EXIT.refused,
      },
    );
  }
  return new RefusedError('SERVICE_UNREACHABLE', `cannot reach ${url.origin}: ${reason}`, {
    exitCode: EXIT.unavailable,
  });
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
