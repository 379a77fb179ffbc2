/**
 * What each v1 route is (DESIGN section 4), without what it does: method, path, access, schemas,
 * success and error codes, and the permission group. The OpenAPI document, the API's 404/405
 * answers and the AWS routing need only this, so they do not pull in any use case; the handlers
 * are attached per group in shared/http/route-groups/ and the whole table is shared/http/routes.ts.
 */
import type { Readable } from 'node:stream';
import * as z from 'zod';
import type { Principal, Role } from '../domain/types';
import { type ErrorCode, UPLOAD_VALIDATION_CODES } from '../errors';
import type { CoreDeps } from '../usecases/deps';
import * as S from './schemas';

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
  /** Most bytes a streamed result may have where the runtime buffers responses; else unset. */
  maxResponseBytes?: number;
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

/** A route without its handler. `Q` and `B` are the validated query and body. */
export interface RouteSpec<Q = unknown, B = unknown> {
  operationId: string;
  method: 'GET' | 'POST' | 'PUT' | 'PATCH' | 'DELETE';
  /** Path template with {param} segments. */
  path: string;
  summary: string;
  /** Who may call: nobody needs a token for public routes; tenant routes check the path's tenant. */
  access: 'public' | { roles: Role[]; tenantScoped: boolean };
  params?: z.ZodObject;
  query?: z.ZodType<Q>;
  /** Query parameters that may repeat (`?to=a&to=b`): the schema sees every value, as an array. */
  repeatedQuery?: readonly string[];
  body?: { schema: z.ZodType<B>; multipart?: boolean; required?: boolean };
  /** A streamed body of one of these media types (not buffered, no size limit). */
  streamBody?: { contentTypes: string[] };
  success: { status: number; description: string; schema?: z.ZodType };
  errors: ErrorCode[];
  /** Grouping used to split functions by the permissions they need (AWS, Azure). */
  group: 'public' | 'read' | 'write' | 'operator' | 'decrypt';
}

export interface Route<Q = unknown, B = unknown> extends RouteSpec<Q, B> {
  handle(ctx: RouteContext<Q, B>): Promise<RouteResult>;
}

// Each route keeps its own Q and B; the table stores them type-erased.
// biome-ignore lint/suspicious/noExplicitAny: heterogeneous route table
export type AnyRoute = Route<any, any>;
// biome-ignore lint/suspicious/noExplicitAny: heterogeneous route table
export type AnyRouteSpec = RouteSpec<any, any>;

function spec<Q = Record<string, never>, B = undefined>(s: RouteSpec<Q, B>): RouteSpec<Q, B> {
  return s;
}

/** A route: its spec with the handler of its use case (the handler sees the spec's Q and B). */
export function withHandler<Q, B>(
  s: RouteSpec<Q, B>,
  handle: (ctx: RouteContext<Q, B>) => Promise<RouteResult>,
): AnyRoute {
  return { ...s, handle } as AnyRoute;
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

/** Every v1 route's spec by operationId, in the order of the route table. */
export const SPECS = {
  getHealth: spec({
    operationId: 'getHealth',
    method: 'GET',
    path: '/v1/health',
    summary: 'Liveness and version',
    access: 'public',
    group: 'public',
    success: { status: 200, description: 'Up', schema: S.Health },
    errors: [],
  }),
  previewCertificate: spec({
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
  }),
  uploadCertificate: spec({
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
  }),
  listCertificates: spec<z.infer<typeof S.ListQuery>>({
    operationId: 'listCertificates',
    method: 'GET',
    path: '/v1/tenants/{tenantId}/certificates',
    summary: "The tenant's certificates, a page at a time in id order (`nextCursor` reads on)",
    access: tenant,
    group: 'read',
    params: TenantParams,
    query: S.ListQuery,
    success: { status: 200, description: 'A page of certificates', schema: S.CertificateList },
    errors: [...AUTH_ERRORS, 'VALIDATION_ERROR'],
  }),
  getCertificate: spec({
    operationId: 'getCertificate',
    method: 'GET',
    path: '/v1/tenants/{tenantId}/certificates/{certificateId}',
    summary: 'One certificate',
    access: tenant,
    group: 'read',
    params: CertificateParams,
    success: { status: 200, description: 'The certificate', schema: S.Certificate },
    errors: [...AUTH_ERRORS, 'NOT_FOUND'],
  }),
  deleteCertificate: spec<z.infer<typeof S.DeleteQuery>>({
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
  }),
  verifyKey: spec<Record<string, never>, z.infer<typeof S.VerifyKeyBody>>({
    operationId: 'verifyKey',
    method: 'POST',
    path: '/v1/tenants/{tenantId}/certificates/{certificateId}/verify-key',
    summary: 'Does this private key (not stored) belong to the certificate?',
    access: tenant,
    // Served with upload and preview: it runs the same key validation (PEM, PKCS#8, key
    // derivation, multipart), which the read path's bundle does not carry. It stores nothing.
    group: 'write',
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
  }),
  getIvrProfile: spec({
    operationId: 'getIvrProfile',
    method: 'GET',
    path: '/v1/tenants/{tenantId}/ivr-profiles/{profileId}',
    summary: 'An IVR profile and its active recording certificate',
    access: tenant,
    group: 'read',
    params: ProfileParams,
    success: { status: 200, description: 'The profile', schema: S.IvrProfile },
    errors: [...AUTH_ERRORS, 'NOT_FOUND', 'VALIDATION_ERROR'],
  }),
  assignRecordingCertificate: spec<Record<string, never>, z.infer<typeof S.AssignBody>>({
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
  }),
  getScreenRecordingCertificates: spec({
    operationId: 'getScreenRecordingCertificates',
    method: 'GET',
    path: '/v1/tenants/{tenantId}/screen-recording-certificates',
    summary: 'The certificates screen recordings are encrypted for',
    access: tenant,
    group: 'read',
    params: TenantParams,
    success: { status: 200, description: 'The set', schema: S.ScreenRecording },
    errors: [...AUTH_ERRORS],
  }),
  changeScreenRecordingCertificates: spec<Record<string, never>, z.infer<typeof S.ScreenRecordingPatch>>({
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
  }),
  listNotifications: spec<z.infer<typeof S.NotificationQuery>>({
    operationId: 'listNotifications',
    method: 'GET',
    path: '/v1/tenants/{tenantId}/notifications',
    summary: 'Expiry notices, a page at a time by certificate and threshold (`nextCursor` reads on)',
    access: tenant,
    group: 'read',
    params: TenantParams,
    query: S.NotificationQuery,
    success: { status: 200, description: 'A page of notifications', schema: S.NotificationList },
    errors: [...AUTH_ERRORS, 'VALIDATION_ERROR'],
  }),
  listAudit: spec<z.infer<typeof S.AuditQuery>>({
    operationId: 'listAudit',
    method: 'GET',
    path: '/v1/tenants/{tenantId}/audit',
    summary:
      'The audit trail, newest first, a page at a time (`nextCursor` reads on); `certificateId` is filtered by the store, so no older entry is left out',
    access: tenant,
    group: 'read',
    params: TenantParams,
    query: S.AuditQuery,
    success: { status: 200, description: 'Audit entries', schema: S.AuditList },
    errors: [...AUTH_ERRORS, 'VALIDATION_ERROR'],
  }),
  runExpiryScan: spec<Record<string, never>, z.infer<typeof S.ExpiryScanBody>>({
    operationId: 'runExpiryScan',
    method: 'POST',
    path: '/v1/expiry-scan',
    summary:
      'Run the expiry scan now (the same code as the scheduled one), optionally as of a given past time (400 when it is more than 5 minutes ahead of the server clock)',
    access: { roles: ['operator'], tenantScoped: false },
    group: 'operator',
    body: { schema: S.ExpiryScanBody },
    success: { status: 200, description: 'What this run read and created', schema: S.ExpiryScanResult },
    errors: [...AUTH_ERRORS, 'VALIDATION_ERROR', 'UNSUPPORTED_MEDIA_TYPE'],
  }),
  decryptRecording: spec({
    operationId: 'decryptRecording',
    method: 'POST',
    path: '/v1/tenants/{tenantId}/recordings/decrypt',
    summary:
      "Decrypt a CMS recording with the tenant's keys; the plaintext is sent only once the whole recording verified, and the playback is audited before it",
    access: { roles: ['decrypt'], tenantScoped: true },
    group: 'decrypt',
    params: TenantParams,
    streamBody: { contentTypes: ['application/cms', 'application/pkcs7-mime', 'application/octet-stream'] },
    success: {
      status: 200,
      description:
        'The plaintext recording (application/octet-stream, with Content-Length), sent only after its GCM tag verified. A recording with more than 16 recipients is TOO_MANY_RECIPIENTS; at most 4 unwrap attempts are made (NO_MATCHING_KEY after them). Where responses are buffered (AWS Lambda: 4 MiB, Azure Functions: 64 MiB of plaintext) a larger genuine recording is PAYLOAD_TOO_LARGE; SERVICE_UNAVAILABLE when the playback could not be audited (nothing is sent then).',
    },
    errors: [
      ...AUTH_ERRORS,
      'NOT_CMS',
      'TOO_MANY_RECIPIENTS',
      'NO_MATCHING_KEY',
      'INTEGRITY_CHECK_FAILED',
      'PAYLOAD_TOO_LARGE',
      'UNSUPPORTED_MEDIA_TYPE',
      'SERVICE_UNAVAILABLE',
    ],
  }),
  rewrapRecording: spec<z.infer<typeof S.RewrapQuery>>({
    operationId: 'rewrapRecording',
    method: 'POST',
    path: '/v1/tenants/{tenantId}/recordings/rewrap',
    summary:
      "Rewrap a CMS recording for the tenant's certificates named by `to` (repeat it, at most 4; `escrow` names the escrow certificate): the session key is unwrapped through custody and wrapped for them instead of the current recipients; the encrypted content and tag are unchanged, and the result is sent only once the tag verified (audited as recording.rewrap)",
    access: { roles: ['decrypt'], tenantScoped: true },
    group: 'decrypt',
    params: TenantParams,
    query: S.RewrapQuery,
    repeatedQuery: ['to'],
    streamBody: { contentTypes: ['application/cms', 'application/pkcs7-mime', 'application/octet-stream'] },
    success: {
      status: 200,
      description:
        'The rewrapped recording (application/cms, with Content-Length): the same encrypted content and tag with a new header. Targets must be current certificates of the tenant (404 unknown, 409 CERTIFICATE_NOT_USABLE when expired or retired). Limits as decrypt: 16 recipients, 4 unwrap attempts; where responses are buffered a larger recording is PAYLOAD_TOO_LARGE.',
    },
    errors: [
      ...AUTH_ERRORS,
      'VALIDATION_ERROR',
      'NOT_FOUND',
      'CERTIFICATE_NOT_USABLE',
      'NO_ESCROW_CERTIFICATE',
      'NOT_CMS',
      'TOO_MANY_RECIPIENTS',
      'NO_MATCHING_KEY',
      'INTEGRITY_CHECK_FAILED',
      'PAYLOAD_TOO_LARGE',
      'UNSUPPORTED_MEDIA_TYPE',
      'SERVICE_UNAVAILABLE',
    ],
  }),
  // Escrow and backup open stored keys: served by the function that may unseal them (AWS: decrypt).
  putEscrowCertificate: spec<Record<string, never>, z.infer<typeof S.EscrowCertificateBody>>({
    operationId: 'putEscrowCertificate',
    method: 'PUT',
    path: '/v1/tenants/{tenantId}/escrow-certificate',
    summary:
      'Register or replace the escrow certificate; every key already held is escrowed to it where the custody can open it, and later uploads are sealed to it too',
    access: tenantAdmin,
    group: 'decrypt',
    params: TenantParams,
    body: { schema: S.EscrowCertificateBody, required: true },
    success: {
      status: 200,
      description: 'Registered; what is escrowed to it and what could not be, and why',
      schema: S.EscrowStatus,
    },
    errors: [
      ...AUTH_ERRORS,
      'INVALID_PEM',
      'NOT_A_CERTIFICATE',
      'INVALID_CERTIFICATE',
      'MULTIPLE_CERTIFICATES',
      'UNSUPPORTED_KEY_ALGORITHM',
      'KEY_TOO_SMALL',
      'KEY_TOO_LARGE',
      'WEAK_PUBLIC_KEY',
      'CERTIFICATE_EXPIRED',
      'CERTIFICATE_NOT_YET_VALID',
      'INVALID_SIGNATURE',
      'KEY_USAGE_FORBIDS_ENCRYPTION',
      'VALIDATION_ERROR',
      'PAYLOAD_TOO_LARGE',
      'UNSUPPORTED_MEDIA_TYPE',
      'SERVICE_UNAVAILABLE',
    ],
  }),
  getEscrowCertificate: spec({
    operationId: 'getEscrowCertificate',
    method: 'GET',
    path: '/v1/tenants/{tenantId}/escrow-certificate',
    summary: 'The escrow certificate, and what is escrowed to it',
    access: tenantAdmin,
    group: 'decrypt',
    params: TenantParams,
    success: { status: 200, description: 'The escrow certificate and its keys', schema: S.EscrowStatus },
    errors: [...AUTH_ERRORS, 'NOT_FOUND'],
  }),
  getKeyBackup: spec({
    operationId: 'getKeyBackup',
    method: 'GET',
    path: '/v1/tenants/{tenantId}/key-backup',
    summary:
      'Every certificate of the tenant (expired and retired too) with its key where escrowed, as one CMS file only the escrow key opens (audited)',
    access: tenantAdmin,
    group: 'decrypt',
    params: TenantParams,
    success: {
      status: 200,
      description:
        'application/cms (DER): AuthEnvelopedData for the escrow certificate; open with `openssl cms -decrypt -binary -inform DER -in backup.cms -inkey escrow.key -recip escrow.pem`. The plaintext is a PEM bundle with `certificateId:`, `status:`, `activeIn:` lines before each pair.',
    },
    errors: [...AUTH_ERRORS, 'NO_ESCROW_CERTIFICATE', 'PAYLOAD_TOO_LARGE', 'SERVICE_UNAVAILABLE'],
  }),
};

/** Every v1 route's spec, in the order of the route table (and of the OpenAPI document). */
export const ROUTE_SPECS: AnyRouteSpec[] = Object.values(SPECS);
