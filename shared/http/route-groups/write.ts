/**
 * Handlers of the write routes: preview and upload, delete, IVR assignment requests and
 * screen-recording changes, and verify-key (which stores nothing but runs the upload's key
 * validation).
 */
import { changeScreenRecording, requestIvrAssignment } from '../../usecases/assignments';
import { previewCertificate, uploadCertificate } from '../../usecases/certificate-upload';
import { deleteCertificate, verifyKey } from '../../usecases/certificates';
import { type AnyRoute, SPECS, withHandler } from '../route-specs';

/** The write group's routes, each with its handler. */
export const writeRoutes: AnyRoute[] = [
  withHandler(SPECS.verifyKey, async ({ deps, params, body }) => ({
    status: 200,
    body: await verifyKey(deps, params.tenantId!, params.certificateId!, body),
  })),
  withHandler(SPECS.previewCertificate, async ({ deps, body }) => ({
    status: 200,
    body: await previewCertificate(deps, body),
  })),
  withHandler(SPECS.uploadCertificate, async ({ deps, principal, params, body, basePath }) => {
    const tenantId = params.tenantId!;
    const view = await uploadCertificate(deps, principal, tenantId, body);
    return {
      status: 201,
      body: view,
      headers: {
        location: `${basePath}/v1/tenants/${encodeURIComponent(tenantId)}/certificates/${view.id}`,
      },
    };
  }),
  withHandler(SPECS.deleteCertificate, async ({ deps, principal, params, query }) => {
    await deleteCertificate(deps, principal, params.tenantId!, params.certificateId!, query.force === 'true');
    return { status: 204 };
  }),
  withHandler(SPECS.assignRecordingCertificate, async ({ deps, principal, params, body }) => ({
    status: 202,
    body: await requestIvrAssignment(
      deps,
      principal,
      params.tenantId!,
      params.profileId!,
      body.certificateId,
    ),
  })),
  withHandler(SPECS.changeScreenRecordingCertificates, async ({ deps, principal, params, body }) => ({
    status: 200,
    body: await changeScreenRecording(deps, principal, params.tenantId!, body),
  })),
];
