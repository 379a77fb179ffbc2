/**
 * The one set of schemas: handlers validate with them and the OpenAPI document is generated
 * from them (shared/http/openapi.ts), so the two cannot drift apart.
 */
import * as z from 'zod';
import { ERROR_CODES, WARNING_CODES } from '../errors';

const NAME = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$/;

export const TenantId = z
  .string()
  .regex(NAME)
  .meta({ description: 'Tenant id (letters, digits, _ . -; up to 64).' });
export const CertificateId = z
  .string()
  .regex(/^[0-9a-f]{32}$/)
  .meta({ description: 'Certificate id: the first 32 hex digits of its SHA-256 fingerprint.' });
export const ProfileId = z.string().regex(NAME).meta({ description: "IVR profile id, e.g. 'record'." });

const IsoTime = z.string().meta({ description: 'ISO 8601 UTC time.' });
const Pem = z.string().max(64 * 1024);

export const Warning = z.object({ code: z.enum(WARNING_CODES), message: z.string() }).meta({ id: 'Warning' });

export const ErrorBody = z
  .object({
    error: z.object({
      code: z.enum(ERROR_CODES),
      message: z.string(),
      details: z.record(z.string(), z.unknown()).optional(),
    }),
  })
  .meta({ id: 'Error' });

export const CertificateStatus = z.enum(['active', 'expiring', 'expired', 'retired']);

const detailsShape = {
  subjectName: z.string().meta({ description: 'The CN, else the whole subject DN.' }),
  serialNumber: z
    .string()
    .meta({ description: 'Upper-case hex, as `openssl x509 -noout -serial` prints it.' }),
  subjectDN: z
    .string()
    .meta({ description: 'RFC 4514, as `openssl x509 -noout -subject -nameopt RFC2253,-esc_msb`.' }),
  issuerDN: z.string(),
  notBefore: IsoTime,
  notAfter: IsoTime,
  keyAlgorithm: z.literal('RSA'),
  keySize: z.number().int(),
  fingerprintSha256: z.string().regex(/^[0-9a-f]{64}$/),
  selfSigned: z.boolean(),
};

export const CertificatePreview = z
  .object({ ...detailsShape, warnings: z.array(Warning) })
  .meta({ id: 'CertificatePreview' });

export const Certificate = z
  .object({
    id: CertificateId,
    tenantId: TenantId,
    alias: z.string(),
    ...detailsShape,
    status: CertificateStatus,
    uploadedAt: IsoTime,
    uploadedBy: z.string(),
    ivrProfiles: z
      .array(z.string())
      .meta({ description: 'IVR profiles on which it is the active certificate.' }),
    screenRecording: z.boolean(),
    warnings: z.array(Warning),
    key: z.string().optional().meta({ description: 'Azure flow: the Key Vault key id.' }),
  })
  .meta({ id: 'Certificate' });

export const CertificateList = z
  .object({ items: z.array(Certificate), nextCursor: z.string().optional() })
  .meta({ id: 'CertificateList' });

/** Upload / preview body (JSON form; multipart carries the same fields as parts). */
export const UploadBody = z
  .object({
    certificate: Pem.meta({
      description: 'Certificate PEM; on the azure flow may also hold the PKCS#8 key (bundle).',
    }),
    privateKey: Pem.optional(),
    privateKeyPassword: z.string().max(1024).optional(),
  })
  .meta({ id: 'UploadBody' });

export const VerifyKeyBody = z
  .object({ privateKey: Pem.optional(), privateKeyPassword: z.string().max(1024).optional() })
  .meta({ id: 'VerifyKeyBody' });

export const VerifyKeyResult = z.object({ matches: z.boolean() }).meta({ id: 'VerifyKeyResult' });

export const IvrProfile = z
  .object({
    id: ProfileId,
    activeCertificateId: CertificateId,
    previousCertificateIds: z.array(CertificateId),
    updatedAt: IsoTime,
  })
  .meta({ id: 'IvrProfile' });

export const AssignBody = z.object({ certificateId: CertificateId }).meta({ id: 'AssignBody' });
export const AssignAccepted = z
  .object({ requestId: z.string(), status: z.literal('pending') })
  .meta({ id: 'AssignAccepted' });

export const ScreenRecording = z
  .object({ certificateIds: z.array(CertificateId), encryptionEnabled: z.boolean() })
  .meta({ id: 'ScreenRecording' });

export const ScreenRecordingPatch = z
  .object({
    add: z.array(CertificateId).max(50).optional(),
    remove: z.array(CertificateId).max(50).optional(),
    confirmDisableEncryption: z.boolean().optional(),
  })
  .meta({ id: 'ScreenRecordingPatch' });

export const ActiveIn = z
  .object({
    ivrProfiles: z
      .array(z.string())
      .meta({ description: 'IVR profiles on which the certificate was the active one.' }),
    screenRecording: z.boolean().meta({ description: 'Whether it was in the screen-recording set.' }),
  })
  .meta({ id: 'ActiveIn', description: 'Where recordings were being encrypted with the certificate.' });

export const Notification = z
  .object({
    certificateId: CertificateId,
    kind: z.enum(['expiring', 'expired']),
    thresholdDays: z.number().int(),
    notAfter: IsoTime,
    createdAt: IsoTime,
    activeIn: ActiveIn,
    replacementAvailable: z.boolean().meta({
      description:
        'Whether a newer usable certificate, not yet assigned anywhere, existed when the notice was made.',
    }),
    message: z.string().meta({
      description:
        'What will happen and what to do: recordings keep being encrypted with the expired certificate until another one is assigned.',
    }),
  })
  .meta({ id: 'Notification' });

const NextCursor = z
  .string()
  .optional()
  .meta({ description: 'Present when more items follow: pass it as `cursor` to read the next page.' });

export const NotificationList = z
  .object({ items: z.array(Notification), nextCursor: NextCursor })
  .meta({ id: 'NotificationList' });

export const AuditEntry = z
  .object({
    id: z.string(),
    at: IsoTime,
    actor: z.string(),
    action: z.string(),
    certificateId: z.string().optional(),
    details: z.record(z.string(), z.unknown()).optional(),
  })
  .meta({ id: 'AuditEntry' });

export const AuditList = z
  .object({ items: z.array(AuditEntry), nextCursor: NextCursor })
  .meta({ id: 'AuditList' });

/** How far ahead of the server clock an operator's scan time may be (clock skew, not the future). */
export const MAX_SCAN_AHEAD_MS = 5 * 60_000;

export const ExpiryScanBody = z
  .object({
    now: z.iso
      .datetime({ offset: true })
      // A scan ahead of time writes lasting notices and moves cursors past real thresholds; a
      // past time stays allowed (an operator re-runs a missed day).
      .refine((value) => Date.parse(value) <= Date.now() + MAX_SCAN_AHEAD_MS, {
        error: () =>
          `is more than ${MAX_SCAN_AHEAD_MS / 60_000} minutes ahead of the server clock (${new Date().toISOString()}); a scan cannot run ahead of time, only as of now or a past time`,
      })
      .optional()
      .meta({
        description: `Scan as if it were this time: now or a past time (to re-run a missed day); at most ${MAX_SCAN_AHEAD_MS / 60_000} minutes ahead of the server clock.`,
      }),
  })
  .meta({ id: 'ExpiryScanBody' });

export const ExpiryScanResult = z
  .object({
    scanned: z.number().int(),
    notifications: z.array(Notification.extend({ tenantId: TenantId })),
  })
  .meta({ id: 'ExpiryScanResult' });

/** The escrow certificate (PEM): its private key stays with the tenant. */
export const EscrowCertificateBody = z
  .object({
    certificate: Pem.meta({
      description:
        'The escrow certificate, PEM (the same certificate rules as an upload). Never send its private key.',
    }),
  })
  .meta({ id: 'EscrowCertificateBody' });

export const EscrowStatus = z
  .object({
    fingerprintSha256: z.string().regex(/^[0-9a-f]{64}$/),
    subjectDN: z.string(),
    notAfter: IsoTime,
    escrowedKeys: z
      .number()
      .int()
      .meta({ description: 'How many keys are escrowed to this certificate now.' }),
    notEscrowed: z
      .array(z.object({ certificateId: CertificateId, reason: z.string() }))
      .meta({ description: 'Keys that could not be escrowed, and why.' }),
  })
  .meta({ id: 'EscrowStatus' });

export const Health = z.object({ status: z.literal('ok'), version: z.string() }).meta({ id: 'Health' });

/** An opaque cursor from a list's `nextCursor` (same tenant, list and filter). */
const Cursor = z
  .string()
  .max(1024)
  .meta({ description: 'The `nextCursor` of the previous page of the same list, tenant and filter.' });

export const ListQuery = z.object({
  status: CertificateStatus.optional(),
  limit: z.coerce.number().int().min(1).max(500).optional().meta({ description: 'Page size (default 100).' }),
  cursor: Cursor.optional(),
});

export const NotificationQuery = z.object({
  limit: z.coerce.number().int().min(1).max(500).optional().meta({ description: 'Page size (default 100).' }),
  cursor: Cursor.optional(),
});

export const DeleteQuery = z.object({ force: z.enum(['true', 'false']).optional() });
export const AuditQuery = z.object({
  limit: z.coerce
    .number()
    .int()
    .min(1)
    .max(1000)
    .optional()
    .meta({ description: 'Page size (default 200).' }),
  certificateId: CertificateId.optional(),
  cursor: Cursor.optional(),
});

export const RewrapQuery = z.object({
  to: z
    .array(z.union([CertificateId, z.literal('escrow')]))
    .min(1)
    .max(4)
    .meta({
      description:
        "A target certificate id of the tenant, or `escrow` for the tenant's escrow certificate; repeat the parameter for several (at most 4). The recording is rewrapped for these instead of its current recipients.",
    }),
});
