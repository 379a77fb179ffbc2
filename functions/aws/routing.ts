/**
 * Which Lambda function serves which v1 route. The route table's `group` says what permissions a
 * route needs; this maps each group to the function whose role has exactly those. The CDK stack
 * (API Gateway routes), the handlers (the routes each one serves) and `npm run start:aws` all
 * read this one mapping, so they cannot disagree.
 */
import { compilePathTemplate } from '../../shared/http/path-template';
import { type AnyRoute, type AnyRouteSpec, ROUTE_SPECS } from '../../shared/http/route-specs';

// The route specs, not the route table: routing must not import the use cases (bundle size).
const routes: readonly AnyRouteSpec[] = ROUTE_SPECS;

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

/** The permission groups one function serves. */
export function groupsServedBy(fn: HttpFunctionName): AnyRoute['group'][] {
  return (Object.keys(FUNCTION_OF_GROUP) as AnyRoute['group'][]).filter((g) => FUNCTION_OF_GROUP[g] === fn);
}

/**
 * Refuses a function wired with the wrong routes: each function imports its groups' route
 * modules itself (so it bundles only their use cases), and this checks it got exactly the
 * routes the API Gateway sends it.
 */
export function assertServesExactly(fn: HttpFunctionName, served: readonly AnyRouteSpec[]): void {
  const expected = routes
    .filter((r) => FUNCTION_OF_GROUP[r.group] === fn)
    .map((r) => r.operationId)
    .sort();
  const actual = served.map((r) => r.operationId).sort();
  if (expected.join(',') !== actual.join(',')) {
    throw new Error(
      `reccert: the ${fn} function must serve ${expected.join(', ')}; it was given ${actual.join(', ')}.`,
    );
  }
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
  return compilePathTemplate(template).pattern;
}

/** The methods the route table allows on a concrete path (empty: no such path). */
export function methodsAllowedOn(path: string): string[] {
  return routes.filter((r) => pathPattern(r.path).test(path)).map((r) => r.method);
}
