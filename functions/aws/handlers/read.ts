/**
 * The read function: GET routes, health, the OpenAPI document and the API's `$default` route
 * (404/405 bodies). Key validation (verify-key) is served by the write function, so this bundle
 * carries no key parsing, key derivation or multipart parser. Its role reads the table only, so it loads the DynamoDB client and nothing
 * else, and it imports only the public and read route groups (the read-path bundle budget).
 *
 * The AWS wiring (read-deps.ts: SDK client, repository) is loaded on the first request that needs
 * deps, not at require time, so the require time of a cold start carries no AWS SDK.
 */
import { buildOpenApiDocument } from '../../../shared/http/openapi';
import { publicRoutes } from '../../../shared/http/route-groups/public';
import { readRoutes } from '../../../shared/http/route-groups/read';
import type { CoreDeps } from '../../../shared/usecases/deps';
import { once } from '../../common/once';
import { VERSION } from '../../common/version';
import { httpFunction } from '../http';
import type { HttpApiHandler } from '../runtime';

/** The read function over the given deps: public and read routes, the OpenAPI document, and 404/405. */
export function readFunction(makeDeps: () => CoreDeps): HttpApiHandler {
  return httpFunction('read', makeDeps, {
    routes: [...publicRoutes, ...readRoutes],
    openApiDocument: once(() => buildOpenApiDocument(VERSION)),
  });
}

/** Loads the SDK and builds the deps, once: what the first request pays on top of the require time. */
export const loadDeps = once(() =>
  // require() inside the function, not import: esbuild bundles the module but runs it only here,
  // and tsx and jest resolve it as they resolve the static imports.
  (require('./read-deps') as typeof import('./read-deps')).lambdaReadDeps(),
);

/** Lambda entry point (API Gateway HTTP API, payload 2.0). */
export const handler = readFunction(loadDeps);
