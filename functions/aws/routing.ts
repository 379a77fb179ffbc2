/**
 * Which Lambda function serves which v1 route. The route table's `group` says what permissions a
 * route needs; this maps each group to the function whose role has exactly those. The CDK stack
 * (API Gateway routes), the handlers (the routes each one serves) and `npm run start:aws` all
 * read this one mapping, so they cannot disagree.
 */
import { type AnyRoute, routes } from '../../shared/http/routes';

/** The HTTP-serving functions (the assignment consumer has no route). */
export type HttpFunctionName = 'read' | 'write' | 'decrypt' | 'expiry-scan';

/** The function of each route group. */
export const FUNCTION_OF_GROUP: Readonly<Record<AnyRoute['group'], HttpFunctionName>> = {
  // Health and the OpenAPI document need no permissions; the read function is the cheapest.
  public: 'read',
  read: 'read',
  write: 'write',
  decrypt: 'decrypt',
  // The operator's on-demand scan runs in the scheduled scan's function, with its role.
  operator: 'expiry-scan',
};

/** The OpenAPI document is served outside the route table, by the read function. */
export const OPENAPI_PATH = '/v1/openapi.json';

/** The routes one function serves. */
export function routesServedBy(fn: HttpFunctionName): AnyRoute[] {
  return routes.filter((route) => FUNCTION_OF_GROUP[route.group] === fn);
}

/** The function that serves `method path` (a concrete path), or undefined for no route. */
export function functionFor(method: string, path: string): HttpFunctionName | undefined {
  if (path === OPENAPI_PATH) return 'read';
  const route = routes.find((r) => r.method === method && pathPattern(r.path).test(path));
  // A known path with another method still goes to a function, which answers 405.
  const anyMethod = route ?? routes.find((r) => pathPattern(r.path).test(path));
  return anyMethod === undefined ? undefined : FUNCTION_OF_GROUP[anyMethod.group];
}

function pathPattern(template: string): RegExp {
  const source = template
    .split(/\{\w+\}/)
    .map((part) => part.replace(/[.*+?^$()|[\]\\]/g, '\\$&'))
    .join('[^/]+');
  return new RegExp(`^${source}/?$`);
}

/** The methods the route table allows on a concrete path (empty: no such path). */
export function methodsAllowedOn(path: string): string[] {
  return routes.filter((r) => pathPattern(r.path).test(path)).map((r) => r.method);
}
