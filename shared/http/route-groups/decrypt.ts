/** Handlers of the decrypt route: recording playback through key custody. */
import { decryptRecording } from '../../usecases/recordings';
import { type AnyRoute, SPECS, withHandler } from '../route-specs';

/** The decrypt group's routes, each with its handler. */
export const decryptRoutes: AnyRoute[] = [
  withHandler(SPECS.decryptRecording, async ({ deps, principal, params, bodyStream, maxResponseBytes }) => {
    const playback = await decryptRecording(
      deps,
      principal,
      params.tenantId!,
      bodyStream,
      maxResponseBytes === undefined ? {} : { maxPlaintextBytes: maxResponseBytes },
    );
    return {
      status: 200,
      headers: { 'content-length': String(playback.bytes) },
      stream: {
        body: playback.plaintext,
        completed: playback.delivered,
        contentType: 'application/octet-stream',
      },
    };
  }),
];
