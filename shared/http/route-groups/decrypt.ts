/** Handlers of the decrypt route: recording playback through key custody. */
import { decryptRecording } from '../../usecases/recordings';
import { type AnyRoute, SPECS, withHandler } from '../route-specs';

/** The decrypt group's routes, each with its handler. */
export const decryptRoutes: AnyRoute[] = [
  withHandler(SPECS.decryptRecording, async ({ deps, principal, params, bodyStream }) => {
    const session = await decryptRecording(deps, principal, params.tenantId!, bodyStream);
    return {
      status: 200,
      stream: {
        body: session.plaintext,
        completed: session.completed,
        contentType: 'application/octet-stream',
      },
    };
  }),
];
