import type { Warning } from '../errors';

/** Which documented upload flow a deployment plays (DESIGN section 2). */
export type UploadFlow = 'aws' | 'azure';

/** Roles of DESIGN rule 10. */
export type Role = 'admin' | 'decrypt' | 'operator';

/** The authenticated caller, whatever runtime validated the token. */
export interface Principal {
  subject: string;
  tenants: string[];
  roles: Role[];
}

export type CertificateStatus = 'active' | 'expiring' | 'expired' | 'retired';

/** What parsing a certificate yields: the fields shown to the administrator. */
export interface CertificateDetails {
  subjectName: string;
  serialNumber: string;
  subjectDN: string;
  issuerDN: string;
  notBefore: string;
  notAfter: string;
  keyAlgorithm: 'RSA';
  keySize: number;
  fingerprintSha256: string;
  selfSigned: boolean;
}

/** A stored certificate's metadata (never any private key bytes). */
export interface CertificateRecord extends CertificateDetails {
  tenantId: string;
  id: string;
  alias: string;
  certificatePem: string;
  uploadedAt: string;
  uploadedBy: string;
  warnings: Warning[];
  /** Where key custody keeps the sealed private key; opaque to the core. */
  keyRef: string;
  /** The key's id in the vault, shown as `key` on the azure flow. */
  keyId?: string;
  /**
   * Expiry index: when the next expiry threshold is crossed (ISO 8601), or null once the
   * "expired" notice has gone out. The scan reads only records with nextNotifyAt <= now.
   */
  nextNotifyAt: string | null;
  /**
   * The most urgent threshold already handled (days; 0 = expired), or null: notified, or passed
   * while the certificate was not in use (rule 14: no notice then, and none sent late).
   */
  notifiedThresholdDays: number | null;
}

export interface IvrProfile {
  id: string;
  activeCertificateId: string;
  /** Certificates this profile had before, most recent first, without duplicates. */
  previousCertificateIds: string[];
  updatedAt: string;
  /** When the request that set the active certificate was made; older requests are superseded. */
  requestedAt?: string;
}

export interface ScreenRecordingSet {
  certificateIds: string[];
  /** Every certificate ever in the set: recordings may depend on them. */
  everIncluded: string[];
  updatedAt: string | null;
}

/**
 * Everything about a tenant that assignment rules read and change together. It is stored as one
 * versioned record so each change is a single conditional write (DESIGN rule 12, and no lost
 * update under concurrency).
 */
export interface TenantAssignments {
  /**
   * Profiles by id. Prototype-free (ids are caller input, `constructor` included): read it only
   * through `profileOf` / `profilesOf` and change it through `withProfile` (domain/assignments).
   */
  profiles: Record<string, IvrProfile>;
  screen: ScreenRecordingSet;
  /** Ids of assignment requests already applied (bounded), so redelivery changes nothing. */
  appliedRequestIds: string[];
  /**
   * Assignment requests accepted (202, or the azure flow's automatic one) and not yet applied
   * or rejected by the consumer. Their certificates count as in use (DESIGN rule 12).
   */
  pending: PendingAssignment[];
}

/** An accepted IVR assignment request the consumer has not handled yet. */
export interface PendingAssignment {
  requestId: string;
  profileId: string;
  certificateId: string;
  /** When it was requested; past `PENDING_ASSIGNMENT_TTL_MS` it no longer protects anything. */
  requestedAt: string;
}

export interface VersionedAssignments {
  state: TenantAssignments;
  /** Opaque version token; undefined when the tenant has no assignment record yet. */
  version: string | undefined;
}

export type NotificationKind = 'expiring' | 'expired';

/** Where a certificate is what recordings are encrypted with (DESIGN rule 14). */
export interface ActiveIn {
  /** IVR profiles on which it is the active certificate, sorted. */
  ivrProfiles: string[];
  /** Whether it is in the screen-recording set. */
  screenRecording: boolean;
}

export interface ExpiryNotification {
  tenantId: string;
  certificateId: string;
  kind: NotificationKind;
  /** The threshold crossed, in days; 0 for `expired`. */
  thresholdDays: number;
  notAfter: string;
  createdAt: string;
  /** Where the certificate was active when the notice was made. */
  activeIn: ActiveIn;
  /** Whether a newer usable certificate, not yet assigned anywhere, existed then. */
  replacementAvailable: boolean;
}

export type AuditAction =
  | 'certificate.upload'
  | 'certificate.delete'
  | 'ivr.assign.requested'
  | 'ivr.assign.applied'
  | 'ivr.assign.rejected'
  | 'screen.change'
  | 'recording.decrypt'
  | 'recording.rewrap'
  | 'recording.job'
  | 'escrow.register'
  | 'escrow.backup';

export interface AuditEntry {
  id: string;
  tenantId: string;
  at: string;
  actor: string;
  action: AuditAction;
  certificateId?: string;
  details?: Record<string, unknown>;
}

export type DomainEventType =
  | 'CertificateUploaded'
  | 'IvrAssignmentRequested'
  | 'IvrAssignmentApplied'
  | 'ScreenRecordingCertificatesChanged'
  | 'CertificateExpiring'
  | 'CertificateExpired'
  | 'CertificateDeleted';

/** A domain event (DESIGN section 5). `id` is unique and is what consumers deduplicate on. */
export interface DomainEvent<T extends DomainEventType = DomainEventType> {
  id: string;
  type: T;
  tenantId: string;
  occurredAt: string;
  data: Record<string, unknown>;
}

export interface IvrAssignmentRequestedData {
  requestId: string;
  profileId: string;
  certificateId: string;
  requestedBy: string;
}

/**
 * A tenant's escrow certificate (DESIGN rule 15): every private key is also sealed to it. Its
 * private key stays with the tenant, offline; the service holds only this public certificate.
 */
export interface EscrowCertificate {
  tenantId: string;
  certificatePem: string;
  fingerprintSha256: string;
  subjectDN: string;
  notAfter: string;
  registeredAt: string;
  registeredBy: string;
}

/**
 * One private key sealed to the tenant's escrow certificate: CMS AuthEnvelopedData (DER) of the
 * key's PKCS#8 DER. Only the tenant's escrow key opens it; it is still key material (never in a
 * response unsealed, a log line or the audit trail).
 */
export interface EscrowCopy {
  tenantId: string;
  certificateId: string;
  /** The escrow certificate it is sealed to. */
  escrowFingerprintSha256: string;
  cms: Buffer;
  sealedAt: string;
}
