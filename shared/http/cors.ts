/**
 * CORS for the admin page hosted on another origin (DESIGN section 5, `RECCERT_CORS_ORIGINS`):
 * the answers every runtime gives, whoever gives them (the local server itself; on AWS the
 * emulated API Gateway, on Azure the emulated Functions host, as the real services do from the
 * IaC's list). Exact origins only: tokens travel in `Authorization`, so a wildcard is refused.
 */

/** Request headers a page may send: the token, JSON bodies, and its own request id. */
export const CORS_ALLOWED_HEADERS = ['Authorization', 'Content-Type', 'X-Request-Id'] as const;
/** Response headers a page may read besides the safelisted ones. */
export const CORS_EXPOSED_HEADERS = ['Location', 'X-Request-Id'] as const;
/** How long a browser may cache a preflight answer (seconds; Chromium caps it at 7200). */
export const CORS_MAX_AGE_SECONDS = 600;

/** The origins served, as configured (exact `scheme://host[:port]`, no path). */
export type CorsOrigins = readonly string[];

/**
 * Checks a comma-separated origin list; returns the origins or the reason it is refused (the
 * caller raises it as its own configuration error, naming the setting).
 */
export function parseCorsOrigins(value: string | undefined): { origins: string[] } | { refused: string } {
  const origins = (value ?? '')
    .split(',')
    .map((o) => o.trim())
    .filter(Boolean);
  for (const origin of origins) {
    if (origin === '*' || origin.includes('*')) {
      return {
        refused:
          "'*' is not allowed: the API's bearer tokens are credentials, so each origin must be named exactly (e.g. https://admin.example.com).",
      };
    }
    let url: URL;
    try {
      url = new URL(origin);
    } catch {
      return { refused: `'${origin}' is not an origin (scheme://host[:port]).` };
    }
    if ((url.protocol !== 'https:' && url.protocol !== 'http:') || url.origin !== origin) {
      return {
        refused: `'${origin}' is not an origin: write it as a browser sends it, scheme://host[:port] with no path or trailing slash (${url.protocol === 'http:' || url.protocol === 'https:' ? url.origin : 'http or https'}).`,
      };
    }
  }
  return { origins: [...new Set(origins)] };
}

/** Whether `origin` (the request's `Origin` header) is one of `origins`, compared exactly. */
export function originAllowed(origins: CorsOrigins, origin: string | undefined): origin is string {
  return origin !== undefined && origins.includes(origin);
}

/** Whether a request is a CORS preflight: OPTIONS with `Access-Control-Request-Method`. */
export function isPreflight(method: string, headers: Record<string, string | undefined>): boolean {
  return method.toUpperCase() === 'OPTIONS' && headers['access-control-request-method'] !== undefined;
}

/**
 * The answer to a preflight: 204, and the allow headers only for an allowed origin. Another
 * origin gets 204 without them, as API Gateway HTTP API and the Functions host answer: the
 * browser refuses the call for their absence, and a status would tell it nothing more.
 */
export function preflightHeaders(
  origins: CorsOrigins,
  origin: string | undefined,
  methods: readonly string[],
): Record<string, string> {
  if (!originAllowed(origins, origin)) return { vary: 'Origin' };
  return {
    'access-control-allow-origin': origin,
    'access-control-allow-methods': methods.join(', '),
    'access-control-allow-headers': CORS_ALLOWED_HEADERS.join(', '),
    'access-control-max-age': String(CORS_MAX_AGE_SECONDS),
    vary: 'Origin',
  };
}

/**
 * Headers for an actual (non-preflight) response: the origin echoed (never `*`) and the headers
 * a page may read; only `Vary: Origin` for another origin, and nothing when CORS is off.
 */
export function corsResponseHeaders(
  origins: CorsOrigins,
  origin: string | undefined,
): Record<string, string> {
  if (origins.length === 0) return {};
  if (!originAllowed(origins, origin)) return { vary: 'Origin' };
  return {
    'access-control-allow-origin': origin,
    'access-control-expose-headers': CORS_EXPOSED_HEADERS.join(', '),
    vary: 'Origin',
  };
}

/** The methods of a route table, each once, for `Access-Control-Allow-Methods`. */
export function corsMethods(routes: readonly { method: string }[]): string[] {
  return [...new Set(routes.map((r) => r.method.toUpperCase()))];
}
