/**
 * Ports: the small interfaces the core needs from the outside world. Each runtime
 * (functions/local, functions/aws, functions/azure) provides adapters for them.
 */
import { emptyProfiles } from './domain/assignments';
import type { ExpiryCursor } from './domain/expiry-cursor';
import type {
  AuditEntry,
  CertificateRecord,
  DomainEvent,
  EscrowCertificate,
  EscrowCopy,
  ExpiryNotification,
  TenantAssignments,
  VersionedAssignments,
} from './domain/types';
import { ValidationError } from './errors';

/** A certificate record without its PEM: all that a list of certificates shows. */
export type CertificateSummary = Omit<CertificateRecord, 'certificatePem'>;

/**
 * Metadata store for one or many tenants. Every read is consistent (DESIGN rule 12).
 * Adapters signal lost races with `ConcurrencyConflict` and duplicates with `AlreadyExists`
 * (shared/errors.ts); any other failure is thrown as is and becomes a 503 upstream.
 */
export interface CertificateRepository {
  /** Creates the record; throws `AlreadyExists` if the tenant already holds this id. */
  createCertificate(record: CertificateRecord): Promise<void>;
  getCertificate(tenantId: string, certificateId: string): Promise<CertificateRecord | undefined>;
  /** All of a tenant's certificates, ordered by `uploadedAt` then `id`. */
  listCertificates(tenantId: string): Promise<CertificateRecord[]>;
  /**
   * One page of a tenant's certificates in `id` order, read by the store's own paging, each
   * without its PEM at least (whole records will do: a store that keeps the PEM apart skips it).
   */
  pageCertificates(tenantId: string, page: PageRequest): Promise<Page<CertificateSummary>>;
  /** Removes a certificate record that was just created (upload rollback); no condition. */
  removeCertificate(tenantId: string, certificateId: string): Promise<void>;

  /**
   * The tenant's assignment state; an empty state with `version: undefined` if none yet. The
   * state is built with `assignmentsFromStored` (domain/assignments), so its profile map is
   * prototype-free and ids such as `constructor` or `__proto__` round-trip like any other.
   */
  getAssignments(tenantId: string): Promise<VersionedAssignments>;
  /**
   * Writes the assignment state if its version is still `expectedVersion` (undefined: the
   * record must not exist yet). If `deleteCertificateId` is given, that certificate record is
   * deleted in the same atomic write. Throws `ConcurrencyConflict` when the condition fails.
   */
  saveAssignments(
    tenantId: string,
    state: TenantAssignments,
    expectedVersion: string | undefined,
    options?: { deleteCertificateId?: string },
  ): Promise<void>;

  /** Certificates whose `nextNotifyAt` is at or before `now`, across all tenants, in pages. */
  findDueForNotification(now: string, pageSize: number): AsyncIterable<CertificateRecord[]>;
  /**
   * Records a notification once per (tenant, certificate, thresholdDays). Returns false (and
   * writes nothing) when that notification already exists.
   */
  addNotificationOnce(notification: ExpiryNotification): Promise<boolean>;
  /**
   * Moves a certificate's expiry cursor. Applies only if the record still has
   * `expectedNextNotifyAt`; returns whether it applied. Missing records return false.
   */
  advanceExpiryCursor(
    tenantId: string,
    certificateId: string,
    expectedNextNotifyAt: string | null,
    update: ExpiryCursor,
  ): Promise<boolean>;
  /** Newest first. */
  listNotifications(tenantId: string): Promise<ExpiryNotification[]>;
  /** One page of a tenant's notifications in (certificate, threshold) order, the stores' key order. */
  pageNotifications(tenantId: string, page: PageRequest): Promise<Page<ExpiryNotification>>;

  appendAudit(entry: AuditEntry): Promise<void>;
  /** Newest first, at most `limit`. */
  listAudit(tenantId: string, limit: number): Promise<AuditEntry[]>;
  /**
   * One page of the audit trail, newest first; with `certificateId` only that certificate's
   * entries, found by the store's own index (never by filtering a bounded read).
   */
  pageAudit(
    tenantId: string,
    page: PageRequest & { certificateId?: string | undefined },
  ): Promise<Page<AuditEntry>>;
}

/**
 * A page request to a store: at most `limit` items after `after`, a position the same store
 * returned as `next` for the same tenant and query. A position the store cannot have made is
 * refused with {@link invalidPosition} (400), never passed on to the database.
 */
export interface PageRequest {
  limit: number;
  after?: string | undefined;
}

/** A page; `next` is the position after its last item, present when more may follow. */
export interface Page<T> {
  items: T[];
  next?: string;
}

/** The error a store throws for a page position it did not make (a forged or foreign cursor). */
export function invalidPosition(): ValidationError {
  return new ValidationError(
    'VALIDATION_ERROR',
    'The cursor is not one this API returned for this list; start again without it.',
    {
      details: { field: 'cursor' },
    },
  );
}

/** Where a private key is kept. `alias` is a name safe for key vaults (letters, digits, '-'). */
export interface KeyReference {
  tenantId: string;
  certificateId: string;
  alias: string;
}

/**
 * Custody of private keys: seals and stores a key, never hands it back, and unwraps session
 * keys with it (RSA-OAEP with SHA-256).
 */
export interface KeyCustody {
  /**
   * Seals and stores the key (PKCS#8 DER). Returns the reference to keep in the metadata and,
   * where the custody has one, the vault key id shown to administrators.
   */
  store(
    ref: KeyReference,
    pkcs8Der: Buffer,
    certificatePem: string,
  ): Promise<{ keyRef: string; keyId?: string }>;
  /** Removes the stored key; removing a missing key is not an error. */
  remove(ref: KeyReference, keyRef: string): Promise<void>;
  /** RSAES-OAEP (SHA-256, MGF1-SHA-256) decryption of a wrapped session key. */
  unwrapKey(ref: KeyReference, keyRef: string, wrappedKey: Buffer): Promise<Buffer>;
  /**
   * Every key this custody holds, page by page as its store lists them (for the orphan-key
   * sweep, shared/usecases/orphan-keys.ts). What the custody did not store itself (a foreign
   * object, a name it never gives) is skipped, never listed.
   */
  listKeys(): AsyncIterable<StoredKey>;
  /**
   * Opens the stored key and hands its PKCS#8 DER back to the core, which seals it to the
   * tenant's escrow certificate (or into its key backup) at once and wipes it. Only custodies
   * whose keys may leave them have it (the local file keystore, the AWS KMS-S3 keystore); a Key
   * Vault key is non-exportable, so that custody leaves it out. A key not held is NO_MATCHING_KEY.
   */
  exportKey?(ref: KeyReference, keyRef: string): Promise<Buffer>;
}

/**
 * Where a tenant's escrow certificate and the escrow copies of its keys are kept (DESIGN rule 15,
 * section 10). Each repository adapter provides it beside the metadata it already stores.
 */
export interface EscrowStore {
  getEscrowCertificate(tenantId: string): Promise<EscrowCertificate | undefined>;
  /** Registers or replaces the tenant's escrow certificate. */
  putEscrowCertificate(certificate: EscrowCertificate): Promise<void>;
  /** Stores a key's escrow copy, replacing the certificate's earlier one. */
  putEscrowCopy(copy: EscrowCopy): Promise<void>;
  /** Every escrow copy of the tenant, in certificate id order. */
  listEscrowCopies(tenantId: string): Promise<EscrowCopy[]>;
  /** Removes a certificate's escrow copy; removing a missing one is not an error. */
  removeEscrowCopy(tenantId: string, certificateId: string): Promise<void>;
}

/** A key found in custody: what {@link KeyCustody.remove} needs to remove it. */
export interface StoredKey {
  tenantId: string;
  certificateId: string;
  keyRef: string;
  /** When it was stored; a sweep spares young keys, whose upload may still be writing its record. */
  storedAt?: Date;
}

/** Delivers domain events to their consumers (queue, bus, or in-process). */
export interface EventPublisher {
  publish(events: DomainEvent[]): Promise<void>;
}

export interface Clock {
  now(): Date;
}

export interface IdGenerator {
  newId(): string;
}

/** Receives notifications the expiry scan created (SNS, Storage queue, webhook, ...). */
export interface NotificationSink {
  notify(notifications: ExpiryNotification[]): Promise<void>;
}

/** Writes structured log lines; adapters must never be handed key material. */
export interface Logger {
  info(message: string, fields?: Record<string, unknown>): void;
  warn(message: string, fields?: Record<string, unknown>): void;
  error(message: string, fields?: Record<string, unknown>): void;
}

/** A tenant's state before its first assignment (a prototype-free profile map). */
export function emptyAssignments(): TenantAssignments {
  return {
    profiles: emptyProfiles(),
    screen: { certificateIds: [], everIncluded: [], updatedAt: null },
    appliedRequestIds: [],
    pending: [],
  };
}

/** One webhook delivery of an expiry notice, as the outbox keeps it. */
export interface NoticeDelivery {
  /** Stable per notice (tenant, certificate, threshold): the receiver de-duplicates by it. */
  id: string;
  /** The exact JSON body posted (and signed) on every attempt. */
  body: string;
  /** Attempts that failed so far. */
  attempts: number;
}

/**
 * The durable outbox of webhook deliveries (DESIGN section 5): a delivery stays until it is
 * acknowledged with a 2xx, whatever restarts in between.
 */
export interface NoticeOutbox {
  /** Adds a pending delivery due at `dueAt`; an id already there (pending or delivered) is left as is. */
  enqueueDelivery(delivery: { id: string; body: string }, dueAt: string): Promise<void>;
  /**
   * Up to `limit` pending deliveries due at `now`, each leased until `leaseUntil`: another
   * drainer skips it meanwhile, and a drainer that dies mid-attempt leaves it due again then.
   */
  claimDueDeliveries(now: string, leaseUntil: string, limit: number): Promise<NoticeDelivery[]>;
  /** The receiver acknowledged it: never delivered again. */
  markDelivered(id: string, at: string): Promise<void>;
  /** An attempt failed: records the count and when to try again. */
  scheduleRetry(id: string, attempts: number, nextAttemptAt: string, lastError: string): Promise<void>;
}
