/**
 * The route table of HTTP API v1 (DESIGN section 4): one definition per route that the local
 * server, the Lambda handlers and the Azure functions all dispatch through, and that the
 * OpenAPI document is generated from.
 *
 * The table is assembled from its parts so that a deployment serving one permission group can
 * import just that group (and so just its use cases): the specs (shared/http/route-specs.ts)
 * and one handler module per group (shared/http/route-groups/). Importing this file pulls in
 * every use case.
 */
import { decryptRoutes } from './route-groups/decrypt';
import { operatorRoutes } from './route-groups/operator';
import { publicRoutes } from './route-groups/public';
import { readRoutes } from './route-groups/read';
import { writeRoutes } from './route-groups/write';
import { type AnyRoute, ROUTE_SPECS } from './route-specs';

export type { AnyRoute, AnyRouteSpec, Route, RouteContext, RouteResult, RouteSpec } from './route-specs';

/** The routes of each permission group (what one function serving that group imports). */
export const ROUTES_OF_GROUP: Readonly<Record<AnyRoute['group'], AnyRoute[]>> = {
  public: publicRoutes,
  read: readRoutes,
  write: writeRoutes,
  operator: operatorRoutes,
  decrypt: decryptRoutes,
};

/** Every v1 route with its handler, in the order of the specs. */
export const routes: AnyRoute[] = ROUTE_SPECS.map((spec) => {
  const route = ROUTES_OF_GROUP[spec.group].find((r) => r.operationId === spec.operationId);
  // A spec without a handler is a programming error; fail at load, not on the first request.
  if (route === undefined) throw new Error(`reccert: route ${spec.operationId} has no handler.`);
  return route;
});
