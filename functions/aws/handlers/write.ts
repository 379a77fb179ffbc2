/**
 * The write function: upload and preview, delete, IVR assignment requests and screen-recording
 * changes. It seals keys (KMS data keys + S3), writes metadata and publishes domain events.
 *
 * The AWS wiring (write-deps.ts: SDK clients, adapters) is loaded on the first request, not at
 * require time, so the require time of a cold start carries no AWS SDK.
 */
import { writeRoutes } from '../../../shared/http/route-groups/write';
import type { CoreDeps } from '../../../shared/usecases/deps';
import { once } from '../../common/once';
import { httpFunction } from '../http';
import type { HttpApiHandler } from '../runtime';

/** The write function over the given deps. */
export function writeFunction(makeDeps: () => CoreDeps): HttpApiHandler {
  return httpFunction('write', makeDeps, { routes: writeRoutes });
}

/** Loads the SDK and builds the deps, once: what the first request pays on top of the require time. */
export const loadDeps = once(() =>
  // require() inside the function, not import: esbuild bundles the module but runs it only here,
  // and tsx and jest resolve it as they resolve the static imports.
  (require('./write-deps') as typeof import('./write-deps')).lambdaWriteDeps(),
);

/** Lambda entry point (API Gateway HTTP API, payload 2.0). */
export const handler = writeFunction(loadDeps);
