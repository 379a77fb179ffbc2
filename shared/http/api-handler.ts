/**
 * The runtime-neutral request handler: match the route, authenticate, authorize, validate,
 * call the use case, and map errors to `{error: {code, message, details}}` in one place.
 * Runtimes translate their own request and response shapes to and from these.
 *
 * The handler takes the routes it serves as an argument and imports no route table, so a
 * deployment serving one permission group bundles only that group's use cases; a runtime
 * serving the whole API passes `routes` of shared/http/routes.ts.
 */
import { Readable } from 'node:stream';
import type { z } from 'zod';
import type { Principal } from '../domain/types';
import { AppError, UnavailableError, ValidationError } from '../errors';
import { withFields } from '../logging';
import type { CoreDeps } from '../usecases/deps';
import { authorize, type ClaimsTransport, principalFromClaims } from './auth';
import { MAX_BODY_BYTES, parseBody, readLimited } from './body';
import { compilePathTemplate } from './path-template';
import { REQUEST_ID_HEADER, requestIdOf } from './request-id';
import type { AnyRoute } from './route-specs';
import { STATUS_OF, WWW_AUTHENTICATE } from './status';

export interface ApiRequest {
  method: string;
  /** Path without the query string, e.g. /v1/tenants/acme/certificates. */
  path: string;
  query: Record<string, string | undefined>;
  /** Every value of each query parameter, in order (see `collectQuery`); routes with repeatable parameters read it. */
  queryAll?: Record<string, string[]>;
  /** Header names in lower case. */
  headers: Record<string, string | undefined>;
  /** The whole body, when the runtime has it (Lambda, Functions). */
  body?: Buffer;
  /** The body as a stream, when the runtime streams it (local server); read only as needed. */
  bodyStream?: Readable;
  /**
   * Claims API Gateway's JWT authorizer already verified, as it passes them on (strings; see
   * shared/http/auth.ts for the one exception this transport needs).
   */
  verifiedClaims?: Record<string, unknown>;
  /** How `verifiedClaims` arrived (default `api-gateway`: flattened to strings). */
  verifiedClaimsTransport?: ClaimsTransport;
  /** The request id when the runtime already chose it (shared/http/request-id.ts); else chosen here. */
  requestId?: string;
  /** The platform's id of this invocation for the log lines (`awsRequestId`, `invocationId`). */
  logFields?: Record<string, string>;
}

export interface ApiResponse {
  status: number;
  headers: Record<string, string>;
  body: string | Buffer;
  /**
   * A streamed body: write it out, and abort the response (do not finish it) if `completed`
   * rejects. Only runtimes that asked for streams get one (see `ApiOptions.streamResponses`).
   */
  stream?: { body: Readable; completed: Promise<unknown> };
}

/** Verifies the bearer token of a request and returns the caller. */
export type Authenticator = (request: ApiRequest) => Promise<Principal>;

export interface ApiOptions {
  deps: CoreDeps;
  authenticate: Authenticator;
  version: string;
  basePath?: string;
  /** The routes served: every route (shared/http/routes.ts), or one function's permission groups. */
  routes: AnyRoute[];
  /** Called with the OpenAPI document route; kept separate to avoid an import cycle. */
  openApiDocument?: () => unknown;
  /**
   * True when the runtime can stream a response body. Otherwise streamed results are buffered
   * and returned only once they proved genuine (their integrity failure becomes an error body).
   */
  streamResponses?: boolean;
  /**
   * Most bytes a buffered streamed result may have (runtimes that do not stream responses);
   * default `DEFAULT_BUFFERED_RESPONSE_BYTES`. Use cases refuse larger results up front.
   */
  maxBufferedResponseBytes?: number;
}

/**
 * What a buffered response can carry by default: Lambda returns at most 6 MB of payload, and a
 * binary body travels base64-encoded in it (4/3 larger), so 4 MiB with room for the headers.
 */
export const DEFAULT_BUFFERED_RESPONSE_BYTES = 4 * 1024 * 1024;

interface CompiledRoute {
  route: AnyRoute;
  pattern: RegExp;
  names: string[];
}

function compile(route: AnyRoute): CompiledRoute {
  return { route, ...compilePathTemplate(route.path) };
}

const JSON_HEADERS = { 'content-type': 'application/json; charset=utf-8', 'cache-control': 'no-store' };

export function errorResponse(error: AppError, extraHeaders: Record<string, string> = {}): ApiResponse {
  const headers: Record<string, string> = { ...JSON_HEADERS, ...extraHeaders };
  if (error instanceof UnavailableError) headers['retry-after'] = String(error.retryAfterSeconds);
  if (error.code === 'UNAUTHORIZED') headers['www-authenticate'] = WWW_AUTHENTICATE;
  return {
    status: STATUS_OF[error.code],
    headers,
    body: JSON.stringify({
      error: {
        code: error.code,
        message: error.message,
        ...(error.details ? { details: error.details } : {}),
      },
    }),
  };
}

/** A zod failure as the API's VALIDATION_ERROR (the first issue in the message, five in details). */
export function zodMessage(where: string, error: z.ZodError): ValidationError {
  const issues = error.issues
    .slice(0, 5)
    .map((i) => ({ path: i.path.join('.') || where, message: i.message }));
  const first = issues[0];
  return new ValidationError(
    'VALIDATION_ERROR',
    first ? `Invalid ${where}: ${first.path} — ${first.message}` : `Invalid ${where}.`,
    { details: { issues } },
  );
}

/**
 * Every value of each query parameter, in order, for `ApiRequest.queryAll`. Prototype-free:
 * parameter names are the caller's.
 */
export function collectQuery(pairs: Iterable<[string, string]>): Record<string, string[]> {
  const all: Record<string, string[]> = Object.create(null);
  for (const [name, value] of pairs) {
    const values = all[name];
    if (values) values.push(value);
    else all[name] = [value];
  }
  return all;
}

/** Bearer token from the Authorization header, or undefined. */
export function bearerToken(headers: Record<string, string | undefined>): string | undefined {
  const value = headers.authorization;
  if (!value) return undefined;
  const match = /^Bearer\s+(\S+)\s*$/i.exec(value);
  return match?.[1];
}

/** Builds the handler for `options.routes`. */
export function createApiHandler(options: ApiOptions): (request: ApiRequest) => Promise<ApiResponse> {
  const compiled = options.routes.map(compile);
  const basePath = options.basePath ?? '';

  /**
   * The first route of this method whose path matches, in table order. Only the routes of the
   * method are tried: every request pays for this, and a miss then looks at all paths for its
   * 404 or 405.
   */
  function matchRoute(method: string, path: string): { c: CompiledRoute; m: RegExpExecArray } | undefined {
    for (const c of compiled) {
      if (c.route.method !== method) continue;
      const m = c.pattern.exec(path);
      if (m) return { c, m };
    }
    return undefined;
  }

  async function dispatch(request: ApiRequest, deps: CoreDeps): Promise<ApiResponse> {
    if (request.method === 'GET' && request.path === '/v1/openapi.json' && options.openApiDocument) {
      return {
        status: 200,
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify(options.openApiDocument()),
      };
    }
    const hit = matchRoute(request.method, request.path);
    if (!hit) {
      const pathMatches = compiled.filter((c) => c.pattern.test(request.path));
      if (pathMatches.length === 0)
        throw new AppError('NOT_FOUND', `No route ${request.method} ${request.path}.`);
      const allowed = pathMatches.map((c) => c.route.method).join(', ');
      throw new AppError('METHOD_NOT_ALLOWED', `${request.method} is not allowed here; use ${allowed}.`, {
        details: { allowed: pathMatches.map((c) => c.route.method) },
      });
    }
    const { route } = hit.c;
    const rawParams: Record<string, string> = {};
    hit.c.names.forEach((name, i) => {
      try {
        rawParams[name] = decodeURIComponent(hit.m[i + 1]!);
      } catch {
        rawParams[name] = hit.m[i + 1]!;
      }
    });

    let principal: Principal = { subject: 'anonymous', tenants: [], roles: [] };
    if (route.access !== 'public') {
      principal = request.verifiedClaims
        ? principalFromClaims(request.verifiedClaims, {
            transport: request.verifiedClaimsTransport ?? 'api-gateway',
            now: new Date(),
          })
        : await options.authenticate(request);
      authorize(principal, route.access.roles, route.access.tenantScoped ? rawParams.tenantId : undefined);
    }

    let params: Record<string, string> = rawParams;
    if (route.params) {
      const parsed = route.params.safeParse(rawParams);
      if (!parsed.success) throw zodMessage('path', parsed.error);
      params = parsed.data as Record<string, string>;
    }
    let query: unknown = {};
    if (route.query) {
      const input: Record<string, unknown> = { ...request.query };
      for (const name of route.repeatedQuery ?? []) {
        const single = request.query[name];
        input[name] = request.queryAll?.[name] ?? (single === undefined ? [] : [single]);
      }
      const parsed = route.query.safeParse(input);
      if (!parsed.success) throw zodMessage('query', parsed.error);
      query = parsed.data;
    }
    let body: unknown;
    let bodyStream: Readable = Readable.from([]);
    if (route.streamBody) {
      const type = (request.headers['content-type'] ?? '').split(';')[0]!.trim().toLowerCase();
      if (!route.streamBody.contentTypes.includes(type)) {
        throw new AppError(
          'UNSUPPORTED_MEDIA_TYPE',
          `Send the recording as ${route.streamBody.contentTypes[0]} (got '${type || 'none'}').`,
          { details: { accepted: route.streamBody.contentTypes } },
        );
      }
      bodyStream = request.bodyStream ?? Readable.from(request.body ? [request.body] : []);
    } else if (route.body) {
      const raw = request.body ?? (await readLimited(request.bodyStream, request.headers, MAX_BODY_BYTES));
      const parsed = route.body.schema.safeParse(
        await parseBody(raw, request.headers['content-type'], route.body.multipart === true),
      );
      if (!parsed.success) throw zodMessage('body', parsed.error);
      body = parsed.data;
    }
    const result = await route.handle({
      deps,
      principal,
      params,
      query,
      body,
      bodyStream,
      basePath,
      version: options.version,
      ...(options.streamResponses
        ? {}
        : { maxResponseBytes: options.maxBufferedResponseBytes ?? DEFAULT_BUFFERED_RESPONSE_BYTES }),
    });
    if (result.stream) {
      const headers = {
        'content-type': result.stream.contentType,
        'cache-control': 'no-store',
        ...(result.headers ?? {}),
      };
      if (options.streamResponses) {
        return {
          status: result.status,
          headers,
          body: '',
          stream: { body: result.stream.body, completed: result.stream.completed },
        };
      }
      return { status: result.status, headers, body: await bufferGenuineStream(result.stream) };
    }
    if (result.body === undefined)
      return { status: result.status, headers: { ...(result.headers ?? {}) }, body: '' };
    return {
      status: result.status,
      headers: { ...JSON_HEADERS, ...(result.headers ?? {}) },
      body: JSON.stringify(result.body),
    };
  }

  return async (request) => {
    const started = Date.now();
    const requestId = request.requestId ?? requestIdOf(request.headers);
    // One request's deps: the same ports with a logger that stamps its ids on every line, so the
    // use cases log through `deps.logger` as always and no global or async context is needed.
    const log = withFields(options.deps.logger, { requestId, ...request.logFields });
    const deps: CoreDeps = { ...options.deps, logger: log };
    let response: ApiResponse;
    try {
      response = await dispatch(request, deps);
    } catch (error) {
      if (error instanceof AppError) {
        response = errorResponse(error);
      } else {
        // A dependency failed (or a bug): the caller may retry; the cause goes to the log only.
        log.error('request failed', { method: request.method, path: request.path, error: describe(error) });
        response = errorResponse(
          new UnavailableError(
            'The service could not complete the request; nothing was changed. Retry shortly.',
            {
              cause: error,
            },
          ),
        );
      }
    }
    log.info('request', {
      method: request.method,
      path: request.path,
      status: response.status,
      ms: Date.now() - started,
    });
    response.headers[REQUEST_ID_HEADER] = requestId;
    return response;
  };
}

/** Error text for logs: name, code and message only (never request bodies). */
function describe(error: unknown): string {
  if (error instanceof Error)
    return `${error.name}${(error as { code?: string }).code ? ` ${(error as { code?: string }).code}` : ''}: ${error.message}`;
  return String(error);
}

/**
 * Collects a streamed result for runtimes that buffer responses (Lambda behind API Gateway,
 * Functions without HTTP streaming). Resolves only once the stream ended AND proved genuine
 * (`completed`), so a caller gets the error rather than a partial body; `completed` can settle
 * before the stream has delivered its last chunks, hence waiting for both.
 */
async function bufferGenuineStream(stream: { body: Readable; completed: Promise<unknown> }): Promise<Buffer> {
  const chunks: Buffer[] = [];
  const ended = new Promise<void>((resolve, reject) => {
    stream.body.on('data', (chunk: Buffer) => chunks.push(chunk));
    stream.body.once('end', resolve);
    stream.body.once('error', reject);
  });
  await Promise.all([stream.completed, ended]);
  return Buffer.concat(chunks);
}
