/**
 * The HTTP side of the Lambda functions behind API Gateway (HTTP API, payload format 2.0): the
 * translation to and from the runtime-neutral ApiRequest/ApiResponse, the answers of the
 * `$default` route, and `httpFunction`, the shared API handler restricted to one function's
 * routes. Kept apart from runtime.ts so that a function without HTTP routes bundles none of it.
 */
import { AppError, AuthError } from '../../shared/errors';
import {
  type ApiRequest,
  type ApiResponse,
  createApiHandler,
  errorResponse,
} from '../../shared/http/api-handler';
import type { AnyRoute } from '../../shared/http/route-specs';
import type { CoreDeps } from '../../shared/usecases/deps';
import { once } from '../common/once';
import { VERSION } from '../common/version';
import { assertServesExactly, type HttpFunctionName, methodsAllowedOn } from './routing';
import type { HttpApiEvent, HttpApiHandler, HttpApiResult } from './runtime';

/** API Gateway event -> ApiRequest; the claims are those the JWT authorizer verified. */
export function toApiRequest(event: HttpApiEvent): ApiRequest {
  const headers: Record<string, string | undefined> = {};
  for (const [name, value] of Object.entries(event.headers ?? {})) headers[name.toLowerCase()] = value;
  if (event.cookies?.length) headers.cookie = event.cookies.join('; ');
  const query: Record<string, string | undefined> = {};
  // API Gateway joins repeated parameters with commas in queryStringParameters; the raw string
  // keeps them apart, and the first one wins as on the other runtimes.
  for (const [name, value] of new URLSearchParams(event.rawQueryString ?? '')) query[name] ??= value;
  const claims = event.requestContext.authorizer?.jwt?.claims;
  return {
    method: event.requestContext.http.method.toUpperCase(),
    path: event.rawPath,
    query,
    headers,
    ...(event.body === undefined || event.body === null
      ? {}
      : { body: Buffer.from(event.body, event.isBase64Encoded ? 'base64' : 'utf8') }),
    ...(claims ? { verifiedClaims: claims as Record<string, unknown> } : {}),
  };
}

/** ApiResponse -> API Gateway result; binary bodies travel base64-encoded. */
export function toHttpApiResult(response: ApiResponse): HttpApiResult {
  const binary = Buffer.isBuffer(response.body);
  return {
    statusCode: response.status,
    headers: response.headers,
    body: binary ? (response.body as Buffer).toString('base64') : (response.body as string),
    isBase64Encoded: binary,
  };
}

/**
 * The answer of the API's `$default` route (no authorizer): the request matched no route, so
 * it is 405 when the path exists with other methods and 404 otherwise, in the contract's shape.
 */
export function unmatchedRouteResponse(method: string, path: string): ApiResponse {
  const allowed = methodsAllowedOn(path);
  if (allowed.length === 0) return errorResponse(new AppError('NOT_FOUND', `No route ${method} ${path}.`));
  return errorResponse(
    new AppError('METHOD_NOT_ALLOWED', `${method} is not allowed here; use ${allowed.join(', ')}.`, {
      details: { allowed },
    }),
  );
}

/** Behind API Gateway a token is checked before the function runs; without claims, refuse. */
async function claimsRequired(): Promise<never> {
  throw new AuthError('UNAUTHORIZED', 'A valid bearer token is required.');
}

/**
 * The Lambda handler of one HTTP function: the shared API handler restricted to the routes of
 * this function's groups, with deps built on the first invocation. The handler file passes its
 * routes in (importing only its groups' route modules keeps other use cases out of its bundle);
 * they are checked against the routing table at load.
 */
export function httpFunction(
  fn: HttpFunctionName,
  makeDeps: () => CoreDeps,
  options: { routes: AnyRoute[]; openApiDocument?: () => unknown },
): HttpApiHandler {
  assertServesExactly(fn, options.routes);
  const api = once(() =>
    createApiHandler({
      deps: makeDeps(),
      authenticate: claimsRequired,
      version: VERSION,
      routes: options.routes,
      ...(options.openApiDocument ? { openApiDocument: options.openApiDocument } : {}),
    }),
  );
  return async (event) => {
    if (event.routeKey === '$default') {
      return toHttpApiResult(unmatchedRouteResponse(event.requestContext.http.method, event.rawPath));
    }
    return toHttpApiResult(await api()(toApiRequest(event)));
  };
}

/** Whether an invocation came from API Gateway (HTTP API) rather than a schedule. */
export function isHttpApiEvent(event: unknown): event is HttpApiEvent {
  const context = (event as { requestContext?: { http?: { method?: unknown } } } | null)?.requestContext;
  return typeof context?.http?.method === 'string';
}
