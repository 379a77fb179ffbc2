/**
 * The runtime-neutral request handler: match the route, authenticate, authorize, validate,
 * call the use case, and map errors to `{error: {code, message, details}}` in one place.
 * Runtimes translate their own request and response shapes to and from these.
 *
 * The implementation is shared/http/api-handler.ts; this module adds the default of serving
 * every v1 route (and so imports the whole route table).
 */
import { type ApiOptions, type ApiRequest, type ApiResponse, createRouteHandler } from './api-handler';
import { routes as defaultRoutes } from './routes';

export {
  type ApiOptions,
  type ApiRequest,
  type ApiResponse,
  type Authenticator,
  bearerToken,
  createRouteHandler,
  errorResponse,
} from './api-handler';

/** Builds the handler for a set of routes (default: every v1 route). */
export function createApiHandler(options: ApiOptions): (request: ApiRequest) => Promise<ApiResponse> {
  return createRouteHandler({ ...options, routes: options.routes ?? defaultRoutes });
}
