/**
 * The decrypt function: escrow and key backup (the routes that open stored keys: KMS Decrypt and
 * S3 reads, escrow items in the table), and plays back a CMS recording by unwrapping its session key with the
 * tenant's sealed private key (S3 object + KMS data key), and audits every attempt. The body
 * arrives whole (API Gateway buffers it), and the plaintext is returned only once its GCM tag
 * verified: a tampered recording is answered 422, never a partial plaintext. A Lambda response
 * carries at most 6 MB (a binary body base64-encoded in it), so a genuine recording of more than
 * 4 MiB of plaintext is answered 413 PAYLOAD_TOO_LARGE (shared/http/api-handler.ts's default).
 *
 * The AWS wiring (decrypt-deps.ts: SDK clients, adapters) is loaded on the first request, not at
 * require time, so the require time of a cold start carries no AWS SDK.
 */
import { decryptRoutes } from '../../../shared/http/route-groups/decrypt';
import type { CoreDeps } from '../../../shared/usecases/deps';
import { once } from '../../common/once';
import { httpFunction } from '../http';
import type { HttpApiHandler } from '../runtime';

/** The decrypt function over the given deps. */
export function decryptFunction(makeDeps: () => CoreDeps): HttpApiHandler {
  return httpFunction('decrypt', makeDeps, { routes: decryptRoutes });
}

/** Loads the SDK and builds the deps, once: what the first request pays on top of the require time. */
export const loadDeps = once(() =>
  // require() inside the function, not import: esbuild bundles the module but runs it only here,
  // and tsx and jest resolve it as they resolve the static imports.
  (require('./decrypt-deps') as typeof import('./decrypt-deps')).lambdaDecryptDeps(),
);

/** Lambda entry point (API Gateway HTTP API, payload 2.0). */
export const handler = decryptFunction(loadDeps);
