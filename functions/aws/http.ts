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
  bearerToken,
  collectQuery,
  createApiHandler,
  errorResponse,
} from '../../shared/http/api-handler';
import { isPreflight } from '../../shared/http/cors';
import { REQUEST_ID_HEADER, requestIdOf } from '../../shared/http/request-id';
import type { AnyRoute } from '../../shared/http/route-specs';
import { type MetricName, type Metrics, ROUTE_METRICS } from '../../shared/metrics';
import type { CoreDeps } from '../../shared/usecases/deps';
import { once } from '../common/once';
import { VERSION } from '../common/version';
import { lambdaMetrics } from './adapters/emf-metrics';
import { assertServesExactly, type HttpFunctionName, methodsAllowedOn } from './routing';
import type { HttpApiEvent, HttpApiHandler, HttpApiResult } from './runtime';

/** How API Gateway renders a claim value for the function: strings as they are, arrays "[a b]". */
function gatewayRendering(value: unknown): string | undefined {
  if (typeof value === 'string') return value;
  if (typeof value === 'number' || typeof value === 'boolean') return String(value);
  if (Array.isArray(value) && value.every((v) => ['string', 'number', 'boolean'].includes(typeof v))) {
    return `[${value.map(String).join(' ')}]`;
  }
  return undefined;
}

/**
 * The claims of the token API Gateway's JWT authorizer verified, with their JSON types back.
 * The authorizer hands claims on as strings, so a number or a one-element array can no longer be
 * told from a string; the token it verified still travels in the Authorization header. Its
 * payload is used only when every claim renders exactly to what the gateway passed on (same
 * names, same values), so a second token in the header can change no value, only restore types.
 * Otherwise the gateway's strings are read under their own narrow rules (`api-gateway`).
 */
export function authorizerClaims(
  gatewayClaims: Record<string, unknown>,
  authorization: string | undefined,
): { claims: Record<string, unknown>; transport: 'jwt' | 'api-gateway' } {
  const fallback = { claims: gatewayClaims, transport: 'api-gateway' as const };
  const token = authorization === undefined ? undefined : bearerToken({ authorization });
  const payloadPart = token?.split('.')[1];
  if (payloadPart === undefined) return fallback;
  let payload: unknown;
  try {
    payload = JSON.parse(Buffer.from(payloadPart, 'base64url').toString('utf8'));
  } catch {
    return fallback;
  }
  if (payload === null || typeof payload !== 'object' || Array.isArray(payload)) return fallback;
  const typed = payload as Record<string, unknown>;
  const names = Object.keys(gatewayClaims);
  const agrees =
    names.length === Object.keys(typed).length &&
    names.every(
      (name) => Object.hasOwn(typed, name) && gatewayRendering(typed[name]) === gatewayClaims[name],
    );
  return agrees ? { claims: typed, transport: 'jwt' } : fallback;
}

/** API Gateway event -> ApiRequest; the claims are those the JWT authorizer verified. */
export function toApiRequest(event: HttpApiEvent): ApiRequest {
  const headers: Record<string, string | undefined> = {};
  for (const [name, value] of Object.entries(event.headers ?? {})) headers[name.toLowerCase()] = value;
  if (event.cookies?.length) headers.cookie = event.cookies.join('; ');
  const query: Record<string, string | undefined> = {};
  // API Gateway joins repeated parameters with commas in queryStringParameters; the raw string
  // keeps them apart, and the first one wins as on the other runtimes.
  const pairs = [...new URLSearchParams(event.rawQueryString ?? '')];
  for (const [name, value] of pairs) query[name] ??= value;
  const claims = event.requestContext.authorizer?.jwt?.claims;
  return {
    method: event.requestContext.http.method.toUpperCase(),
    path: event.rawPath,
    query,
    queryAll: collectQuery(pairs),
    headers,
    ...(event.body === undefined || event.body === null
      ? {}
      : { body: Buffer.from(event.body, event.isBase64Encoded ? 'base64' : 'utf8') }),
    ...(claims ? verifiedClaimsOf(claims as Record<string, unknown>, headers.authorization) : {}),
  };
}

function verifiedClaimsOf(
  gatewayClaims: Record<string, unknown>,
  authorization: string | undefined,
): Pick<ApiRequest, 'verifiedClaims' | 'verifiedClaimsTransport'> {
  const { claims, transport } = authorizerClaims(gatewayClaims, authorization);
  return { verifiedClaims: claims, verifiedClaimsTransport: transport };
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
  options: { routes: AnyRoute[]; openApiDocument?: () => unknown; metrics?: Metrics },
): HttpApiHandler {
  assertServesExactly(fn, options.routes);
  const metrics = options.metrics ?? lambdaMetrics(fn);
  // API Gateway's routeKey is "METHOD /path/{param}", exactly as the route table writes it.
  const metricOfRoute = new Map<string, MetricName>();
  for (const route of options.routes) {
    const metric = ROUTE_METRICS.get(route.operationId);
    if (metric !== undefined) metricOfRoute.set(`${route.method} ${route.path}`, metric);
  }
  const api = once(() =>
    createApiHandler({
      deps: makeDeps(),
      authenticate: claimsRequired,
      version: VERSION,
      routes: options.routes,
      ...(options.openApiDocument ? { openApiDocument: options.openApiDocument } : {}),
    }),
  );
  // No CORS header here: API Gateway answers preflights from the stack's corsConfiguration and
  // adds the CORS headers to every integration response itself (it ignores any the function sets).
  return async (event, context) => {
    const request = toApiRequest(event);
    if (event.routeKey === '$default') {
      // The $default route catches OPTIONS too: should API Gateway pass a preflight on rather than
      // answer it, a 2xx lets it add its CORS headers (a 405 would fail the preflight).
      const response = isPreflight(request.method, request.headers)
        ? { status: 204, headers: {}, body: '' }
        : unmatchedRouteResponse(event.requestContext.http.method, event.rawPath);
      response.headers[REQUEST_ID_HEADER] = requestIdOf(request.headers);
      return toHttpApiResult(response);
    }
    const response = await api()({
      ...request,
      ...(context?.awsRequestId ? { logFields: { awsRequestId: context.awsRequestId } } : {}),
    });
    const metric = metricOfRoute.get(event.routeKey);
    if (metric !== undefined && response.status >= 200 && response.status < 300)
      metrics.count({ [metric]: 1 });
    return toHttpApiResult(response);
  };
}

/** Whether an invocation came from API Gateway (HTTP API) rather than a schedule. */
export function isHttpApiEvent(event: unknown): event is HttpApiEvent {
  const context = (event as { requestContext?: { http?: { method?: unknown } } } | null)?.requestContext;
  return typeof context?.http?.method === 'string';
}
