/**
 * The route table of HTTP API v1 (DESIGN section 4): one definition per route that the local
 * server, the Lambda handlers and the Azure functions all dispatch through, and that the
 * OpenAPI document is generated from.
 */
import type { Readable } from 'node:stream';
import { z } from 'zod';
import type { Principal, Role } from '../domain/types';
import type { ErrorCode } from '../errors';
import {
  changeScreenRecording,
  getIvrProfile,
  getScreenRecording,
  requestIvrAssignment,
} from '../usecases/assignments';
import {
  deleteCertificate,
  getCertificate,
  listCertificates,
  previewCertificate,
  uploadCertificate,
  verifyKey,
} from '../usecases/certificates';
import type { CoreDeps } from '../usecases/deps';
import { runExpiryScan } from '../usecases/expiry-scan';
import { decryptRecording } from '../usecases/recordings';
import * as S from './schemas';
import { UPLOAD_VALIDATION_CODES } from './status';

export interface RouteContext<Q, B> {
  deps: CoreDeps;
  /** The request body as a stream (streaming routes only). */
  bodyStream: Readable;
  principal: Principal;
  params: Record<string, string>;
  query: Q;
  body: B;
  /** The API's own base path for Location headers ('' unless deployed under a prefix). */
  basePath: string;
  version: string;
}

export interface RouteResult {
  status: number;
  body?: unknown;
  headers?: Record<string, string>;
  /**
   * A streamed body (e.g. decrypted audio). `completed` settles when the stream proved genuine;
   * when it rejects, runtimes must abort the response rather than finish it.
   */
  stream?: { body: Readable; completed: Promise<unknown>; contentType: string };
}

export interface Route<Q = unknown, B = unknown> {
  operationId: string;
  method: 'GET' | 'POST' | 'PUT' | 'PATCH' | 'DELETE';
  /** Path template with {param} segments. */
  path: string;
  summary: string;
  /** Who may call: nobody needs a token for public routes; tenant routes check the path's tenant. */
  access: 'public' | { roles: Role[]; tenantScoped: boolean };
  params?: z.ZodObject;
  query?: z.ZodType<Q>;
  body?: { schema: z.ZodType<B>; multipart?: boolean; required?: boolean };
  /** A streamed body of one of these media types (not buffered, no size limit). */
  streamBody?: { contentTypes: string[] };
  success: { status: number; description: string; schema?: z.ZodType };
  errors: ErrorCode[];
  /** Grouping used to split functions by the permissions they need (AWS, Azure). */
  group: 'public' | 'read' | 'write' | 'operator' | 'decrypt';
  handle(ctx: RouteContext<Q, B>): Promise<RouteResult>;
}

// Each route keeps its own Q and B; the table stores them type-erased.
// biome-ignore lint/suspicious/noExplicitAny: heterogeneous route table
export type AnyRoute = Route<any, any>;

function route<Q = Record<string, never>, B = undefined>(spec: Route<Q, B>): AnyRoute {
  return spec as AnyRoute;
}

const READERS: Role[] = ['admin', 'decrypt'];
const ADMINS: Role[] = ['admin'];
const tenant = { roles: READERS, tenantScoped: true };
const tenantAdmin = { roles: ADMINS, tenantScoped: true };
const AUTH_ERRORS: ErrorCode[] = ['UNAUTHORIZED', 'FORBIDDEN'];

const TenantParams = z.object({ tenantId: S.TenantId });
// Any string: an id that cannot exist is simply not found (404), not a malformed request.
const CertificateParams = z.object({ tenantId: S.TenantId, certificateId: z.string() });
const ProfileParams = z.object({ tenantId: S.TenantId, profileId: S.ProfileId });

export const routes: AnyRoute[] = [
  route({
    operationId: 'getHealth',
    method: 'GET',
    path: '/v1/health',
    summary: 'Liveness and version',
    access: 'public',
    group: 'public',
    success: { status: 200, description: 'Up', schema: S.Health },
    errors: [],
    handle: async (ctx) => ({ status: 200, body: { status: 'ok', version: ctx.version } }),
  }),
  route({
    operationId: 'previewCertificate',
    method: 'POST',
    path: '/v1/tenants/{tenantId}/certificates/preview',
    summary: 'Validate a certificate (and key) and show its details; nothing is stored',
    access: tenantAdmin,
    group: 'write',
    params: TenantParams,
    body: { schema: S.UploadBody, multipart: true, required: true },
    success: {
      status: 200,
      description: 'The certificate details and warnings',
      schema: S.CertificatePreview,
    },
    errors: [...AUTH_ERRORS, ...UPLOAD_VALIDATION_CODES, 'PAYLOAD_TOO_LARGE', 'UNSUPPORTED_MEDIA_TYPE'],
    handle: async ({ deps, body }) => ({ status: 200, body: previewCertificate(deps, body) }),
  }),
  route({
    operationId: 'uploadCertificate',
    method: 'POST',
    path: '/v1/tenants/{tenantId}/certificates',
    summary: 'Upload a certificate and its private key',
    access: tenantAdmin,
    group: 'write',
    params: TenantParams,
    body: { schema: S.UploadBody, multipart: true, required: true },
    success: {
      status: 201,
      description: 'Stored; Location names the new certificate',
      schema: S.Certificate,
    },
    errors: [
      ...AUTH_ERRORS,
      ...UPLOAD_VALIDATION_CODES,
      'CERTIFICATE_EXISTS',
      'PAYLOAD_TOO_LARGE',
      'UNSUPPORTED_MEDIA_TYPE',
      'SERVICE_UNAVAILABLE',
    ],
    handle: async ({ deps, principal, params, body, basePath }) => {
      const tenantId = params.tenantId!;
      const view = await uploadCertificate(deps, principal, tenantId, body);
      return {
        status: 201,
        body: view,
        headers: {
          location: `${basePath}/v1/tenants/${encodeURIComponent(tenantId)}/certificates/${view.id}`,
        },
      };
    },
  }),
  route<z.infer<typeof S.ListQuery>>({
    operationId: 'listCertificates',
    method: 'GET',
    path: '/v1/tenants/{tenantId}/certificates',
    summary: "The tenant's certificates, oldest upload first",
    access: tenant,
    group: 'read',
    params: TenantParams,
    query: S.ListQuery,
    success: { status: 200, description: 'A page of certificates', schema: S.CertificateList },
    errors: [...AUTH_ERRORS, 'VALIDATION_ERROR'],
    handle: async ({ deps, params, query }) => ({
      status: 200,
      body: await listCertificates(deps, params.tenantId!, {
        status: query.status,
        limit: query.limit ?? 100,
        cursor: query.cursor,
      }),
    }),
  }),
  route({
    operationId: 'getCertificate',
    method: 'GET',
    path: '/v1/tenants/{tenantId}/certificates/{certificateId}',
    summary: 'One certificate',
    access: tenant,
    group: 'read',
    params: CertificateParams,
    success: { status: 200, description: 'The certificate', schema: S.Certificate },
    errors: [...AUTH_ERRORS, 'NOT_FOUND'],
    handle: async ({ deps, params }) => ({
      status: 200,
      body: await getCertificate(deps, params.tenantId!, params.certificateId!),
    }),
  }),
  route<z.infer<typeof S.DeleteQuery>>({
    operationId: 'deleteCertificate',
    method: 'DELETE',
    path: '/v1/tenants/{tenantId}/certificates/{certificateId}',
    summary: 'Delete a certificate (refused while assigned; ?force=true for one that was assigned before)',
    access: tenantAdmin,
    group: 'write',
    params: CertificateParams,
    query: S.DeleteQuery,
    success: { status: 204, description: 'Deleted' },
    errors: [...AUTH_ERRORS, 'NOT_FOUND', 'CERTIFICATE_IN_USE', 'CERTIFICATE_RETAINED', 'VALIDATION_ERROR'],
    handle: async ({ deps, principal, params, query }) => {
      await deleteCertificate(
        deps,
        principal,
        params.tenantId!,
        params.certificateId!,
        query.force === 'true',
      );
      return { status: 204 };
    },
  }),
  route<Record<string, never>, z.infer<typeof S.VerifyKeyBody>>({
    operationId: 'verifyKey',
    method: 'POST',
    path: '/v1/tenants/{tenantId}/certificates/{certificateId}/verify-key',
    summary: 'Does this private key (not stored) belong to the certificate?',
    access: tenant,
    group: 'read',
    params: CertificateParams,
    body: { schema: S.VerifyKeyBody, multipart: true, required: true },
    success: { status: 200, description: 'Whether the key matches', schema: S.VerifyKeyResult },
    errors: [
      ...AUTH_ERRORS,
      'NOT_FOUND',
      'PRIVATE_KEY_REQUIRED',
      'INVALID_PRIVATE_KEY',
      'PRIVATE_KEY_ENCRYPTED',
      'UNSUPPORTED_KEY_ALGORITHM',
      'VALIDATION_ERROR',
      'PAYLOAD_TOO_LARGE',
      'UNSUPPORTED_MEDIA_TYPE',
    ],
    handle: async ({ deps, params, body }) => ({
      status: 200,
      body: await verifyKey(deps, params.tenantId!, params.certificateId!, body),
    }),
  }),
  route({
    operationId: 'getIvrProfile',
    method: 'GET',
    path: '/v1/tenants/{tenantId}/ivr-profiles/{profileId}',
    summary: 'An IVR profile and its active recording certificate',
    access: tenant,
    group: 'read',
    params: ProfileParams,
    success: { status: 200, description: 'The profile', schema: S.IvrProfile },
    errors: [...AUTH_ERRORS, 'NOT_FOUND', 'VALIDATION_ERROR'],
    handle: async ({ deps, params }) => ({
      status: 200,
      body: await getIvrProfile(deps, params.tenantId!, params.profileId!),
    }),
  }),
  route<Record<string, never>, z.infer<typeof S.AssignBody>>({
    operationId: 'assignRecordingCertificate',
    method: 'PUT',
    path: '/v1/tenants/{tenantId}/ivr-profiles/{profileId}/recording-certificate',
    summary: 'Request the assignment of a certificate to an IVR profile (applied by an event consumer)',
    access: tenantAdmin,
    group: 'write',
    params: ProfileParams,
    body: { schema: S.AssignBody, required: true },
    success: {
      status: 202,
      description: 'Accepted; pending until the consumer applies it',
      schema: S.AssignAccepted,
    },
    errors: [
      ...AUTH_ERRORS,
      'NOT_FOUND',
      'CERTIFICATE_NOT_USABLE',
      'VALIDATION_ERROR',
      'UNSUPPORTED_MEDIA_TYPE',
    ],
    handle: async ({ deps, principal, params, body }) => ({
      status: 202,
      body: await requestIvrAssignment(
        deps,
        principal,
        params.tenantId!,
        params.profileId!,
        body.certificateId,
      ),
    }),
  }),
  route({
    operationId: 'getScreenRecordingCertificates',
    method: 'GET',
    path: '/v1/tenants/{tenantId}/screen-recording-certificates',
    summary: 'The certificates screen recordings are encrypted for',
    access: tenant,
    group: 'read',
    params: TenantParams,
    success: { status: 200, description: 'The set', schema: S.ScreenRecording },
    errors: [...AUTH_ERRORS],
    handle: async ({ deps, params }) => ({
      status: 200,
      body: await getScreenRecording(deps, params.tenantId!),
    }),
  }),
  route<Record<string, never>, z.infer<typeof S.ScreenRecordingPatch>>({
    operationId: 'changeScreenRecordingCertificates',
    method: 'PATCH',
    path: '/v1/tenants/{tenantId}/screen-recording-certificates',
    summary: 'Add and remove screen-recording certificates in one all-or-nothing change',
    access: tenantAdmin,
    group: 'write',
    params: TenantParams,
    body: { schema: S.ScreenRecordingPatch, required: true },
    success: { status: 200, description: 'The new set', schema: S.ScreenRecording },
    errors: [
      ...AUTH_ERRORS,
      'NOT_FOUND',
      'NO_RECORDING_CERTIFICATE',
      'ENCRYPTION_WOULD_BE_DISABLED',
      'CERTIFICATE_NOT_USABLE',
      'VALIDATION_ERROR',
      'UNSUPPORTED_MEDIA_TYPE',
    ],
    handle: async ({ deps, principal, params, body }) => ({
      status: 200,
      body: await changeScreenRecording(deps, principal, params.tenantId!, body),
    }),
  }),
  route({
    operationId: 'listNotifications',
    method: 'GET',
    path: '/v1/tenants/{tenantId}/notifications',
    summary: 'Expiry notices, newest first',
    access: tenant,
    group: 'read',
    params: TenantParams,
    success: { status: 200, description: 'Notifications', schema: S.NotificationList },
    errors: [...AUTH_ERRORS],
    handle: async ({ deps, params }) => {
      const items = await deps.repo.listNotifications(params.tenantId!);
      return { status: 200, body: { items: items.map(({ tenantId: _t, ...n }) => n) } };
    },
  }),
  route<z.infer<typeof S.AuditQuery>>({
    operationId: 'listAudit',
    method: 'GET',
    path: '/v1/tenants/{tenantId}/audit',
    summary: 'The audit trail, newest first',
    access: tenant,
    group: 'read',
    params: TenantParams,
    query: S.AuditQuery,
    success: { status: 200, description: 'Audit entries', schema: S.AuditList },
    errors: [...AUTH_ERRORS, 'VALIDATION_ERROR'],
    handle: async ({ deps, params, query }) => {
      const limit = query.limit ?? 200;
      const entries = await deps.repo.listAudit(params.tenantId!, query.certificateId ? 1000 : limit);
      const items = entries
        .filter((e) => !query.certificateId || e.certificateId === query.certificateId)
        .slice(0, limit)
        .map(({ tenantId: _t, ...e }) => e);
      return { status: 200, body: { items } };
    },
  }),
  route<Record<string, never>, z.infer<typeof S.ExpiryScanBody>>({
    operationId: 'runExpiryScan',
    method: 'POST',
    path: '/v1/expiry-scan',
    summary: 'Run the expiry scan now (the same code as the scheduled one), optionally as of a given time',
    access: { roles: ['operator'], tenantScoped: false },
    group: 'operator',
    body: { schema: S.ExpiryScanBody },
    success: { status: 200, description: 'What this run read and created', schema: S.ExpiryScanResult },
    errors: [...AUTH_ERRORS, 'VALIDATION_ERROR', 'UNSUPPORTED_MEDIA_TYPE'],
    handle: async ({ deps, body }) => ({
      status: 200,
      body: await runExpiryScan(deps, body.now ? new Date(body.now) : deps.clock.now()),
    }),
  }),
  route({
    operationId: 'decryptRecording',
    method: 'POST',
    path: '/v1/tenants/{tenantId}/recordings/decrypt',
    summary: "Decrypt a CMS recording with the tenant's keys (streamed in and out; audited)",
    access: { roles: ['decrypt'], tenantScoped: true },
    group: 'decrypt',
    params: TenantParams,
    streamBody: { contentTypes: ['application/cms', 'application/pkcs7-mime', 'application/octet-stream'] },
    success: { status: 200, description: 'The plaintext recording (application/octet-stream)' },
    errors: [
      ...AUTH_ERRORS,
      'NOT_CMS',
      'NO_MATCHING_KEY',
      'INTEGRITY_CHECK_FAILED',
      'UNSUPPORTED_MEDIA_TYPE',
    ],
    handle: async ({ deps, principal, params, bodyStream }) => {
      const session = await decryptRecording(deps, principal, params.tenantId!, bodyStream);
      return {
        status: 200,
        stream: {
          body: session.plaintext,
          completed: session.completed,
          contentType: 'application/octet-stream',
        },
      };
    },
  }),
];
