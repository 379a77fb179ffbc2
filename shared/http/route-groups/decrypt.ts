/** Handlers of the decrypt routes: recording playback and rewrap through key custody. */
import { decryptRecording } from '../../usecases/recordings';
import { rewrapRecording } from '../../usecases/rewrap';
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
  withHandler(
    SPECS.rewrapRecording,
    async ({ deps, principal, params, query, bodyStream, maxResponseBytes }) => {
      const rewrapped = await rewrapRecording(
        deps,
        principal,
        params.tenantId!,
        query.to,
        bodyStream,
        maxResponseBytes === undefined ? {} : { maxPlaintextBytes: maxResponseBytes },
      );
      return {
        status: 200,
        headers: { 'content-length': String(rewrapped.bytes) },
        stream: { body: rewrapped.cms, completed: rewrapped.delivered, contentType: 'application/cms' },
      };
    },
  ),
];
