/**
 * Handlers of the read routes: reads of certificates, profiles, screen-recording sets,
 * notifications and audit.
 */
import { withNoticeMessage } from '../../domain/expiry-notice';
import { getIvrProfile, getScreenRecording } from '../../usecases/assignments';
import { getCertificate, listCertificates } from '../../usecases/certificates';
import { decodeCursor, encodeCursor } from '../../usecases/cursor';
import { type AnyRoute, SPECS, withHandler } from '../route-specs';

/** The read group's routes, each with its handler. */
export const readRoutes: AnyRoute[] = [
  withHandler(SPECS.listCertificates, async ({ deps, params, query }) => ({
    status: 200,
    body: await listCertificates(deps, params.tenantId!, {
      status: query.status,
      limit: query.limit ?? 100,
      cursor: query.cursor,
    }),
  })),
  withHandler(SPECS.getCertificate, async ({ deps, params }) => ({
    status: 200,
    body: await getCertificate(deps, params.tenantId!, params.certificateId!),
  })),
  withHandler(SPECS.getIvrProfile, async ({ deps, params }) => ({
    status: 200,
    body: await getIvrProfile(deps, params.tenantId!, params.profileId!),
  })),
  withHandler(SPECS.getScreenRecordingCertificates, async ({ deps, params }) => ({
    status: 200,
    body: await getScreenRecording(deps, params.tenantId!),
  })),
  withHandler(SPECS.listNotifications, async ({ deps, params, query }) => {
    const scope = { tenantId: params.tenantId!, list: 'notifications' } as const;
    const page = await deps.repo.pageNotifications(scope.tenantId, {
      limit: query.limit ?? 100,
      after: query.cursor === undefined ? undefined : decodeCursor(query.cursor, scope),
    });
    return {
      status: 200,
      body: {
        items: page.items.map((n) => {
          const { tenantId: _t, ...item } = withNoticeMessage(n);
          return item;
        }),
        ...(page.next === undefined ? {} : { nextCursor: encodeCursor(scope, page.next) }),
      },
    };
  }),
  withHandler(SPECS.listAudit, async ({ deps, params, query }) => {
    const scope = { tenantId: params.tenantId!, list: 'audit', filter: query.certificateId } as const;
    // The store filters by certificate (its own index), so no older match is left out.
    const page = await deps.repo.pageAudit(scope.tenantId, {
      limit: query.limit ?? 200,
      certificateId: query.certificateId,
      after: query.cursor === undefined ? undefined : decodeCursor(query.cursor, scope),
    });
    return {
      status: 200,
      body: {
        items: page.items.map(({ tenantId: _t, ...e }) => e),
        ...(page.next === undefined ? {} : { nextCursor: encodeCursor(scope, page.next) }),
      },
    };
  }),
];
