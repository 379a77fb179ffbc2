/**
 * How the Azure repository lays its data out in Table storage, and the codecs between the domain's
 * records and the table entities (the twin of ../../aws/adapters/dynamodb-schema.ts).
 *
 * Tables (names get an optional prefix, for isolated test runs; see `TABLE_NAMES`):
 * - `certificates`: partition = tenant. Certificate rows (`c|<id>`) and the tenant's one
 *   assignment-state row (`a|state`) share the partition, so deleting a certificate and writing
 *   the new state can be one entity-group transaction. The state's ETag is its version.
 *   The tenant's escrow certificate (`e|escrow`, a JSON document) and the escrow copy of each key
 *   (`k|<certificate>`, the CMS bytes in `cms`) live in the same partition.
 * - `expiryindex`: partition = the day (`YYYY-MM-DD`) of a certificate's `nextNotifyAt`, row =
 *   `<nextNotifyAt>|<tenant>|<certificate>`. The scan reads only buckets up to today and only rows
 *   that are due. The index row is written before the certificate row changes and the stale one
 *   deleted after, so a crash leaves at worst a stale index row: the scan re-checks each one
 *   against the certificate's own `nextNotifyAt`, skips it, and deletes it once it is old enough
 *   not to belong to a write still in flight.
 * - `notifications`: partition = tenant, row = `<certificate>|<thresholdDays>`, so "once per
 *   threshold" is the service's own insert-if-absent (409 on a duplicate).
 * - `audit`: partition = tenant, row = inverted timestamp + inverted write sequence + id, so a
 *   partition query returns newest first without sorting. An entry that names a certificate has a
 *   second row in the same partition, `x|<certificate>|<the entry's row key>`, written in one
 *   entity-group transaction with it: the audit filter by certificate is one row-key range. Entry
 *   rows start with a digit and sort before `x|`.
 *
 * Azure Table strings are limited to 64 KiB (32 K UTF-16 units), so JSON documents are stored
 * split over numbered properties (`json0`, `json1`, ...). A certificate row holds the record
 * without its expiry cursor as such a document, and the cursor in properties of its own (Table
 * storage has no null: `''` and `-1` stand for it). These formats are in deployed tables: keep
 * them readable.
 */
import {
  type ExpiryCursor,
  joinExpiryCursor,
  type RecordWithoutCursor,
  splitExpiryCursor,
} from '../../../shared/domain/expiry-cursor';
import { activeInFromStored } from '../../../shared/domain/expiry-notice';
import type { AuditEntry, CertificateRecord, ExpiryNotification } from '../../../shared/domain/types';

/** The row key prefix of certificate rows. */
export const CERT_PREFIX = 'c|';
/** '}' sorts right after '|': the range [c|, c}) holds exactly the certificate rows. */
export const CERT_RANGE_END = 'c}';
/** The row key of a tenant's escrow certificate. */
export const ESCROW_ROW = 'e|escrow';
/** The row key prefix of escrow copies; '}' sorts right after '|', so [k|, k}) holds exactly them. */
export const ESCROW_COPY_PREFIX = 'k|';
export const ESCROW_COPY_RANGE_END = 'k}';

/** An escrow copy's row: the CMS bytes (Edm.Binary, well within its 64 KiB) and what they are sealed to. */
export interface EscrowCopyEntity {
  certificateId: string;
  fingerprint: string;
  cms: Uint8Array;
  sealedAt: string;
}

/** The row key of a tenant's assignment state. */
export const STATE_ROW = 'a|state';
/** Table storage cannot store null; these stand for the cursor's nulls. */
export const NO_NEXT = '';
const NO_THRESHOLD = -1;
/** 64 KiB per string property is 32 768 UTF-16 units; stay below it. */
const CHUNK_CHARS = 30_000;
/** An entity is at most 1 MiB; 16 chunks (< 1 MB in UTF-16) leave room for the other properties. */
const MAX_CHUNKS = 16;
/** Above any microsecond timestamp for millennia, and exact as a double (< 2^53). */
const MAX_SEQUENCE = 8_999_999_999_999_999;

/** A JSON document split over `json0..jsonN`, with `jsonParts`. */
export type Chunks = Record<string, string | number>;

/** A certificate row: the record without its cursor as chunks, and the cursor. */
export interface CertificateEntity extends Chunks {
  uploadedAt: string;
  nextNotifyAt: string;
  notifiedThresholdDays: number;
}

/** An expiry-index row. */
export interface IndexEntity {
  tenantId: string;
  certificateId: string;
  nextNotifyAt: string;
}

/**
 * A notification row; `seq` orders notifications created in the same millisecond. `activeIn` is a
 * JSON document in chunks (a certificate may be active on many profiles); rows written before it
 * was recorded have neither it nor `replacementAvailable`.
 */
export interface NotificationEntity extends Omit<ExpiryNotification, 'activeIn' | 'replacementAvailable'> {
  seq: string;
  replacementAvailable?: boolean;
  jsonParts?: number;
}

/** The keys of a table entity (a type, not an interface: the SDK's entity types want an index signature). */
export type EntityKeys = { partitionKey: string; rowKey: string };

/**
 * Makes a value safe inside a PartitionKey/RowKey: '/', '\', '#', '?' and control characters are
 * forbidden there, and '|' and '%' are ours (separator and escape).
 */
export function keyPart(value: string): string {
  // biome-ignore lint/suspicious/noControlCharactersInRegex: control characters are exactly what is escaped.
  return value.replace(/[%|/\\#?\u0000-\u001f\u007f-\u009f]/g, (c) => {
    return `%${c.charCodeAt(0).toString(16).toUpperCase().padStart(2, '0')}`;
  });
}

/** The keys of a certificate row. */
export function certificateKeys(tenantId: string, certificateId: string): EntityKeys {
  return { partitionKey: keyPart(tenantId), rowKey: `${CERT_PREFIX}${keyPart(certificateId)}` };
}

/** The keys of the expiry-index row of a certificate due at `nextNotifyAt`. */
export function indexKeys(tenantId: string, certificateId: string, nextNotifyAt: string): EntityKeys {
  return {
    partitionKey: nextNotifyAt.slice(0, 10),
    rowKey: `${keyPart(nextNotifyAt)}|${keyPart(tenantId)}|${keyPart(certificateId)}`,
  };
}

/** The cursor as the certificate row's properties hold it. */
export function cursorProperties(cursor: ExpiryCursor): Pick<CertificateEntity, keyof ExpiryCursor> {
  return {
    nextNotifyAt: cursor.nextNotifyAt ?? NO_NEXT,
    notifiedThresholdDays: cursor.notifiedThresholdDays ?? NO_THRESHOLD,
  };
}

/** A certificate row's `nextNotifyAt` property as the cursor has it. */
export function decodeNext(value: string): string | null {
  return value === NO_NEXT ? null : value;
}

/** A certificate row's properties (without its keys) for `record`. */
export function toCertificateEntity(record: CertificateRecord): CertificateEntity {
  const { rest, cursor } = splitExpiryCursor(record);
  return {
    ...splitChunks(JSON.stringify(rest)),
    uploadedAt: record.uploadedAt,
    ...cursorProperties(cursor),
  };
}

/** The record a certificate row holds. */
export function fromCertificateEntity(entity: CertificateEntity): CertificateRecord {
  return joinExpiryCursor(JSON.parse(joinChunks(entity)) as RecordWithoutCursor, {
    nextNotifyAt: decodeNext(entity.nextNotifyAt),
    notifiedThresholdDays:
      entity.notifiedThresholdDays === NO_THRESHOLD ? null : entity.notifiedThresholdDays,
  });
}

/** The notification row for `notification`; `sequence` from a per-process increasing counter. */
export function toNotificationEntity(
  notification: ExpiryNotification,
  sequence: number,
): NotificationEntity & EntityKeys {
  return {
    partitionKey: keyPart(notification.tenantId),
    rowKey: `${keyPart(notification.certificateId)}|${notification.thresholdDays}`,
    tenantId: notification.tenantId,
    certificateId: notification.certificateId,
    kind: notification.kind,
    thresholdDays: notification.thresholdDays,
    notAfter: notification.notAfter,
    createdAt: notification.createdAt,
    seq: String(sequence).padStart(16, '0'),
    replacementAvailable: notification.replacementAvailable,
    ...splitChunks(JSON.stringify(notification.activeIn)),
  };
}

/** The notification a notification row holds. */
export function fromNotificationEntity(row: NotificationEntity): ExpiryNotification {
  return {
    tenantId: row.tenantId,
    certificateId: row.certificateId,
    kind: row.kind,
    thresholdDays: row.thresholdDays,
    notAfter: row.notAfter,
    createdAt: row.createdAt,
    activeIn: activeInFromStored(row.jsonParts ? JSON.parse(joinChunks(row as unknown as Chunks)) : null),
    replacementAvailable: row.replacementAvailable === true,
  };
}

/** The audit row for `entry` (newest first by row key); `sequence` as for notifications. */
export function toAuditEntity(entry: AuditEntry, sequence: number): Chunks & EntityKeys {
  const at = Date.parse(entry.at);
  const invertedAt = String(9_999_999_999_999 - (Number.isFinite(at) ? Math.max(0, at) : 0)).padStart(
    13,
    '0',
  );
  const invertedSeq = String(MAX_SEQUENCE - sequence).padStart(16, '0');
  return {
    partitionKey: keyPart(entry.tenantId),
    rowKey: `${invertedAt}|${invertedSeq}|${keyPart(entry.id)}`,
    ...splitChunks(JSON.stringify(entry)),
  };
}

/** Row keys of audit entries start with their 13-digit inverted time; ':' sorts right after '9'. */
export const AUDIT_ENTRY_RANGE_END = ':';

/** The row-key prefix of a certificate's copies of its audit entries. */
export function auditCopyPrefix(certificateId: string): string {
  return `x|${keyPart(certificateId)}|`;
}

/** Whether `rowKey` can be an audit entry's row key (what a page position must be). */
export function isAuditEntryRowKey(rowKey: string): boolean {
  // biome-ignore lint/suspicious/noControlCharactersInRegex: control characters are what keyPart escapes.
  return /^[0-9]{13}\|[0-9]{16}\|[^|/\\#?\u0000-\u001f\u007f-\u009f]{1,400}$/.test(rowKey);
}

/** Splits a JSON document over `json0..jsonN` (each within the 64 KiB property limit). */
export function splitChunks(json: string): Chunks {
  const chunks: Chunks = {};
  let index = 0;
  for (let start = 0; start < json.length; index++) {
    let end = Math.min(json.length, start + CHUNK_CHARS);
    // Never cut a surrogate pair in two: a lone half is not valid UTF-16 on the wire.
    const last = json.charCodeAt(end - 1);
    if (end < json.length && last >= 0xd800 && last <= 0xdbff) end -= 1;
    chunks[`json${index}`] = json.slice(start, end);
    start = end;
  }
  if (index > MAX_CHUNKS)
    throw new Error(`The document is too large for one table entity (${json.length} chars).`);
  chunks.jsonParts = index;
  return chunks;
}

/** Reassembles what {@link splitChunks} stored. */
export function joinChunks(entity: Chunks): string {
  const parts = Number(entity.jsonParts ?? 0);
  let json = '';
  for (let i = 0; i < parts; i++) json += String(entity[`json${i}`] ?? '');
  return json;
}
