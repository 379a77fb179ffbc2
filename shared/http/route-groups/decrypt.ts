/**
 * Handlers of the decrypt group: recording playback and rewrap through key custody, and escrow and key
 * backup, which open stored keys too.
 */
import { Readable } from 'node:stream';
import { getEscrowStatus, keyBackup, registerEscrowCertificate } from '../../usecases/escrow';
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
  withHandler(SPECS.putEscrowCertificate, async ({ deps, principal, params, body }) => ({
    status: 200,
    body: await registerEscrowCertificate(deps, principal, params.tenantId!, body),
  })),
  withHandler(SPECS.getEscrowCertificate, async ({ deps, params }) => ({
    status: 200,
    body: await getEscrowStatus(deps, params.tenantId!),
  })),
  withHandler(SPECS.getKeyBackup, async ({ deps, principal, params, maxResponseBytes }) => {
    const tenantId = params.tenantId!;
    const backup = await keyBackup(
      deps,
      principal,
      tenantId,
      maxResponseBytes === undefined ? {} : { maxBytes: maxResponseBytes },
    );
    return {
      status: 200,
      headers: {
        'content-length': String(backup.cms.length),
        'content-disposition': `attachment; filename="reccert-backup-${tenantId}.cms"`,
      },
      stream: {
        body: Readable.from([backup.cms]),
        completed: Promise.resolve(),
        contentType: 'application/cms',
      },
    };
  }),
];
