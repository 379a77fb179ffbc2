/**
 * Talking to a reccert service (the local runtime, or an AWS or Azure deployment) with global
 * fetch: the `--url --tenant --token` options every such command shares, and the service's
 * answers turned into the CLI's errors and exit codes (1 refused, 3 unreachable or failing).
 */
import type { Parsed } from './args';
import { str } from './args';
import { EXIT, RefusedError, UsageError } from './errors';
import { type Io, readInputFile } from './io';

/** The options of a command that calls the service. */
export const SERVICE_OPTIONS = {
  url: { type: 'string' },
  tenant: { type: 'string' },
  token: { type: 'string' },
  'token-file': { type: 'string' },
  timeout: { type: 'string' },
} as const;

/** Help lines for {@link SERVICE_OPTIONS}; `role` names the role the token needs. */
export function serviceHelp(role: string): string {
  return `  --url URL             the service's base URL (or RECCERT_URL), for example
                        http://127.0.0.1:8080 or https://api.example.com/prod
  --tenant TENANT       the tenant id
  --token TOKEN         bearer token with the ${role} role (or RECCERT_TOKEN, or --token-file)
  --token-file FILE     read the token from FILE ('-' = standard input)
  --timeout SECONDS     give up on one request after this long (default 60)`;
}

/** Where and as whom a command calls the service. */
export interface Service {
  base: URL;
  tenant: string;
  bearer: string;
  timeoutSeconds: number;
}

const LOOPBACK = new Set(['localhost', '127.0.0.1', '[::1]']);

/**
 * The `--url` value, checked. `sends` says what would cross the network (a private key, a
 * token): plain http is allowed only to this machine.
 */
export function baseUrl(parsed: Parsed, io: Io, command: string, sends: string): URL {
  const raw = str(parsed, 'url') ?? io.env.RECCERT_URL;
  if (!raw) throw new UsageError('missing --url (the service, for example http://127.0.0.1:8080)', command);
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    throw new UsageError(`--url '${raw}' is not a URL`, command);
  }
  if (url.protocol !== 'https:' && url.protocol !== 'http:') {
    throw new UsageError(`--url must be http or https, not ${url.protocol}`, command);
  }
  if (url.protocol === 'http:' && !LOOPBACK.has(url.hostname) && !url.hostname.startsWith('127.')) {
    throw new UsageError(`refusing to send ${sends} over plain http to ${url.hostname}; use https`, command);
  }
  if (url.username || url.password)
    throw new UsageError('--url must not hold credentials; use --token', command);
  if (url.search || url.hash) throw new UsageError('--url must be the base URL, without ? or #', command);
  return url;
}

/** The bearer token from `--token`, `--token-file` or RECCERT_TOKEN. */
export async function bearerToken(parsed: Parsed, io: Io, command: string): Promise<string> {
  const inline = str(parsed, 'token');
  const file = str(parsed, 'token-file');
  if (inline !== undefined && file !== undefined)
    throw new UsageError('give --token or --token-file, not both', command);
  let value = inline;
  if (file !== undefined)
    value = file === '-' ? await io.readStdin() : readInputFile(io, file, 'token file', command);
  value = (value ?? io.env.RECCERT_TOKEN ?? '').trim();
  if (value === '') throw new UsageError('missing --token (or RECCERT_TOKEN, or --token-file)', command);
  if (/\s/.test(value)) throw new UsageError('the token must be one word (a JWT), without spaces', command);
  return value.replace(/^Bearer\s+/i, '');
}

/** `--timeout` in seconds (1 to 3600, default 60). */
export function timeoutSeconds(parsed: Parsed, command: string): number {
  const raw = str(parsed, 'timeout');
  if (raw === undefined) return 60;
  const value = Number(raw);
  if (!/^\d+$/.test(raw) || value < 1 || value > 3600) {
    throw new UsageError(`--timeout must be whole seconds from 1 to 3600, not '${raw}'`, command);
  }
  return value;
}

/** Reads and checks every option of {@link SERVICE_OPTIONS}. */
export async function serviceOf(parsed: Parsed, io: Io, command: string, sends: string): Promise<Service> {
  const base = baseUrl(parsed, io, command, sends);
  const tenant = str(parsed, 'tenant');
  if (!tenant || tenant.trim() === '') throw new UsageError('missing --tenant', command);
  const bearer = await bearerToken(parsed, io, command);
  return { base, tenant, bearer, timeoutSeconds: timeoutSeconds(parsed, command) };
}

/** The URL of `path` under the tenant (`path` starts with '/', already encoded). */
export function tenantUrl(service: Service, path: string): URL {
  const prefix = service.base.pathname.replace(/\/+$/, '');
  return new URL(`${prefix}/v1/tenants/${encodeURIComponent(service.tenant)}${path}`, service.base);
}

interface ApiError {
  error?: { code?: unknown; message?: unknown; details?: unknown };
}

/** Turns a non-2xx answer into the service's `CODE: message` (exit 1; 3 for 5xx). */
export function refusal(status: number, statusText: string, body: unknown): RefusedError {
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

/** A fetch that failed before any answer: timeout, redirect, or no connection. */
export function unreachable(url: URL, error: unknown, timeout: number): RefusedError {
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

/** One request with the bearer token; redirects are errors, never followed. */
export async function send(
  service: Service,
  url: URL,
  init: { method: string; body?: string | FormData; contentType?: string; accept?: string },
): Promise<Response> {
  const headers: Record<string, string> = {
    authorization: `Bearer ${service.bearer}`,
    accept: init.accept ?? 'application/json',
  };
  if (init.contentType) headers['content-type'] = init.contentType;
  try {
    return await fetch(url, {
      method: init.method,
      headers,
      ...(init.body === undefined ? {} : { body: init.body }),
      signal: AbortSignal.timeout(service.timeoutSeconds * 1000),
      redirect: 'error',
    });
  } catch (error) {
    throw unreachable(url, error, service.timeoutSeconds);
  }
}

/** The JSON body of an answer, or undefined when it has none or it is not JSON. */
export async function jsonBody(response: Response): Promise<unknown> {
  const text = await response.text();
  try {
    return text === '' ? undefined : JSON.parse(text);
  } catch {
    return undefined;
  }
}

/**
 * A JSON request whose answer must be a 2xx with a JSON object; anything else is thrown as the
 * service's refusal. Returns the status and the object.
 */
export async function callJson(
  service: Service,
  method: string,
  path: string,
  body?: unknown,
): Promise<{ status: number; body: Record<string, unknown> }> {
  const url = tenantUrl(service, path);
  const response = await send(service, url, {
    method,
    ...(body === undefined ? {} : { body: JSON.stringify(body), contentType: 'application/json' }),
  });
  const parsed = await jsonBody(response);
  if (!response.ok) throw refusal(response.status, response.statusText, parsed);
  if (parsed === undefined || typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) {
    throw new RefusedError(
      'INVALID_RESPONSE',
      `the service answered ${response.status} without a JSON object`,
      {
        exitCode: EXIT.unavailable,
      },
    );
  }
  return { status: response.status, body: parsed as Record<string, unknown> };
}
