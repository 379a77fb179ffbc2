/**
 * The HTTP functions: one registration per route of the shared route table (plus the OpenAPI
 * document and a catch-all that answers unknown routes in the API's error shape), all served by
 * the one exported handler, which translates to the runtime-neutral request, dispatches through
 * the shared handler and translates back.
 */
import type { HttpMethod, HttpRequest, HttpResponseInit, InvocationContext } from '@azure/functions';
import { routes } from '../../../shared/http/routes';
import { defaultRuntime, httpFunction } from '../runtime';

const serve = httpFunction(defaultRuntime);

/** The HTTP trigger's handler (every HTTP registration uses it). */
export async function handleHttp(
  request: HttpRequest,
  context: InvocationContext,
): Promise<HttpResponseInit> {
  return serve(request, context);
}

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
