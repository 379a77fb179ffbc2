/**
 * Handlers of the read routes: reads of certificates, profiles, screen-recording sets,
 * notifications and audit, and verify-key (which stores nothing).
 */
import { getIvrProfile, getScreenRecording } from '../../usecases/assignments';
import { getCertificate, listCertificates, verifyKey } from '../../usecases/certificates';
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
  withHandler(SPECS.verifyKey, async ({ deps, params, body }) => ({
    status: 200,
    body: await verifyKey(deps, params.tenantId!, params.certificateId!, body),
  })),
  withHandler(SPECS.getIvrProfile, async ({ deps, params }) => ({
    status: 200,
    body: await getIvrProfile(deps, params.tenantId!, params.profileId!),
  })),
  withHandler(SPECS.getScreenRecordingCertificates, async ({ deps, params }) => ({
    status: 200,
    body: await getScreenRecording(deps, params.tenantId!),
  })),
  withHandler(SPECS.listNotifications, async ({ deps, params }) => {
    const items = await deps.repo.listNotifications(params.tenantId!);
    return { status: 200, body: { items: items.map(({ tenantId: _t, ...n }) => n) } };
  }),
  withHandler(SPECS.listAudit, async ({ deps, params, query }) => {
    const limit = query.limit ?? 200;
    const entries = await deps.repo.listAudit(params.tenantId!, query.certificateId ? 1000 : limit);
    const items = entries
      .filter((e) => !query.certificateId || e.certificateId === query.certificateId)
      .slice(0, limit)
      .map(({ tenantId: _t, ...e }) => e);
    return { status: 200, body: { items } };
  }),
];
