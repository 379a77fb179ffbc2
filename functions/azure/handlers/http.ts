/**
 * The HTTP functions: one registration per route of the shared route table (plus the OpenAPI
 * document and a catch-all that answers unknown routes in the API's error shape), all served by
 * `handleHttp`, which translates the Functions v4 `HttpRequest` to the runtime-neutral
 * ApiRequest, dispatches through the runtime's API handler and translates the answer back.
 */
import { Readable } from 'node:stream';
import type { ReadableStream as WebReadableStream } from 'node:stream/web';
import type { HttpMethod, HttpRequest, HttpResponseInit, InvocationContext } from '@azure/functions';
import { AppError, UnavailableError } from '../../../shared/errors';
import {
  type ApiRequest,
  type ApiResponse,
  collectQuery,
  errorResponse,
} from '../../../shared/http/api-handler';
import { MAX_BODY_BYTES, readLimited } from '../../../shared/http/body';
import { CORS_EXPOSED_HEADERS, originAllowed } from '../../../shared/http/cors';
import { compilePathTemplate } from '../../../shared/http/path-template';
import { REQUEST_ID_HEADER, requestIdOf } from '../../../shared/http/request-id';
import { routes } from '../../../shared/http/routes';
import { describeError } from '../../common/describe-error';
import { type AzureRuntime, defaultRuntime } from '../runtime';

/** One HTTP function as the host knows it. */
export interface HttpRegistration {
  /** The function name (unique in the app). */
  name: string;
  methods: HttpMethod[];
  /** The Functions route template (no leading slash; host.json's routePrefix is ""). */
  route: string;
}

const ALL_METHODS: HttpMethod[] = ['GET', 'POST', 'PUT', 'PATCH', 'DELETE'];

/** The route table's `/v1/x/{param}` as a Functions route, `v1/x/{param}` (same parameter syntax). */
export function functionsRoute(path: string): string {
  return path.replace(/^\/+/, '');
}

/**
 * Every HTTP function of the app. The catch-all (`{*path}` has the lowest precedence in the
 * host's routing) lets the shared handler answer unknown paths with 404 and known paths with the
 * wrong method with 405, in the API's error shape, instead of the host's empty 404.
 */
export function httpRegistrations(): HttpRegistration[] {
  return [
    ...routes.map((r) => ({ name: r.operationId, methods: [r.method], route: functionsRoute(r.path) })),
    { name: 'getOpenApiDocument', methods: ['GET'], route: 'v1/openapi.json' },
    { name: 'unmatchedRoute', methods: ALL_METHODS, route: 'v1/{*path}' },
  ];
}

const STREAMING_ROUTES = routes
  .filter((r) => r.streamBody)
  .map((r) => ({ method: r.method, pattern: compilePathTemplate(r.path).pattern }));

/** Whether the request goes to a route whose body is a stream of any size (decrypt). */
function isStreamingRoute(method: string, path: string): boolean {
  return STREAMING_ROUTES.some((r) => r.method === method && r.pattern.test(path));
}

/**
 * HttpRequest -> ApiRequest. Bodies travel as bytes, read with the 64 KiB limit of the API
 * (a larger one is refused with 413 before it is read further), except the recording route's,
 * which the core reads as a stream.
 */
export async function toApiRequest(request: HttpRequest): Promise<ApiRequest> {
  const url = new URL(request.url);
  const method = request.method.toUpperCase();
  const headers: Record<string, string | undefined> = {};
  request.headers.forEach((value, name) => {
    headers[name.toLowerCase()] = value;
  });
  const query: Record<string, string | undefined> = {};
  // The first of repeated parameters wins, as on the other runtimes.
  const pairs = [...request.query];
  for (const [name, value] of pairs) query[name] ??= value;
  // The path stays percent-encoded, as on the other runtimes; the core decodes the parameters.
  const base: ApiRequest = { method, path: url.pathname, query, queryAll: collectQuery(pairs), headers };
  if (request.body === null) return base;
  const stream = Readable.fromWeb(request.body as WebReadableStream<Uint8Array>);
  if (isStreamingRoute(method, base.path)) return { ...base, bodyStream: stream };
  return { ...base, body: await readLimited(stream, headers, MAX_BODY_BYTES) };
}

/** ApiResponse -> HttpResponseInit (bodies as bytes or text, headers as they are). */
export function toHttpResponseInit(response: ApiResponse): HttpResponseInit {
  return {
    status: response.status,
    headers: response.headers,
    body: typeof response.body === 'string' ? response.body : new Uint8Array(response.body),
  };
}

/**
 * The HTTP function over a runtime: translate, dispatch through the runtime's API handler,
 * translate back. A runtime that cannot be built (a missing setting) answers 503 and logs why.
 */
export function httpFunction(
  getRuntime: () => Promise<AzureRuntime>,
): (request: HttpRequest, context: InvocationContext) => Promise<HttpResponseInit> {
  return async (request, context) => {
    const requestId = requestIdOf({
      [REQUEST_ID_HEADER]: request.headers.get(REQUEST_ID_HEADER) ?? undefined,
    });
    const withId = (response: ApiResponse, corsOrigins: readonly string[] = []): HttpResponseInit => {
      response.headers[REQUEST_ID_HEADER] = requestId;
      // The Functions host adds Access-Control-Allow-Origin from the app's CORS setting; exposing
      // headers it cannot configure, so the app names them (only for the origins of that list).
      if (originAllowed(corsOrigins, request.headers.get('origin') ?? undefined))
        response.headers['access-control-expose-headers'] = CORS_EXPOSED_HEADERS.join(', ');
      return toHttpResponseInit(response);
    };
    let runtime: AzureRuntime;
    try {
      runtime = await getRuntime();
    } catch (error) {
      context.error(`reccert could not start: ${describeError(error)}`);
      return withId(
        errorResponse(new UnavailableError('The service is starting or not configured; retry shortly.')),
      );
    }
    const cors = runtime.config.corsOrigins;
    let apiRequest: ApiRequest;
    try {
      apiRequest = await toApiRequest(request);
    } catch (error) {
      if (error instanceof AppError) return withId(errorResponse(error), cors);
      throw error;
    }
    return withId(
      await runtime.api({ ...apiRequest, requestId, logFields: { invocationId: context.invocationId } }),
      cors,
    );
  };
}

/** The HTTP trigger's handler (every HTTP registration uses it): the default runtime's. */
export const handleHttp: (request: HttpRequest, context: InvocationContext) => Promise<HttpResponseInit> =
  httpFunction(defaultRuntime);
