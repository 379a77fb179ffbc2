/**
 * The Azure runtime's certificate repository on Table storage (`@azure/data-tables`).
 *
 * Tables (names get an optional prefix, for isolated test runs):
 * - `certificates`: partition = tenant. Certificate rows (`c|<id>`) and the tenant's one
 *   assignment-state row (`a|state`) share the partition, so deleting a certificate and writing
 *   the new state can be one entity-group transaction. The state's ETag is its version.
 * - `expiryindex`: partition = the day (`YYYY-MM-DD`) of a certificate's `nextNotifyAt`, row =
 *   `<nextNotifyAt>|<tenant>|<certificate>`. The scan reads only buckets up to today and only rows
 *   that are due. The index row is written before the certificate row changes and the stale one
 *   deleted after, so a crash leaves at worst a stale index row: the scan re-checks each one
 *   against the certificate's own `nextNotifyAt`, skips it, and deletes it once it is old enough
 *   not to belong to a write still in flight.
 * - `notifications`: partition = tenant, row = `<certificate>|<thresholdDays>`, so "once per
 *   threshold" is the service's own insert-if-absent (409 on a duplicate).
 * - `audit`: partition = tenant, row = inverted timestamp + inverted write sequence + id, so a
 *   partition query returns newest first without sorting.
 *
 * Azure Table strings are limited to 64 KiB (32 K UTF-16 units), so JSON documents are stored
 * split over numbered properties (`json0`, `json1`, ...).
 */
import { odata, type TableClient, type TableEntityResult, type TransactionAction } from '@azure/data-tables';
import { assignmentsFromStored } from '../../../shared/domain/assignments';
import type {
  AuditEntry,
  CertificateRecord,
  ExpiryNotification,
  NotificationKind,
  TenantAssignments,
  VersionedAssignments,
} from '../../../shared/domain/types';
import { AlreadyExists, ConcurrencyConflict } from '../../../shared/errors';
import { type CertificateRepository, emptyAssignments } from '../../../shared/ports';
import { callAzure, statusOf, toUnavailable } from './azure-errors';

/** The tables this repository uses; each client is bound to one table. */
export interface TableRepositoryClients {
  /** Certificate rows and the assignment-state row, partitioned by tenant. */
  certificates: TableClient;
  /** The expiry index, partitioned by due day. */
  expiryIndex: TableClient;
  notifications: TableClient;
  audit: TableClient;
}

/** Base names of the tables (Bicep creates them with these names and no prefix). */
export const TABLE_NAMES: Readonly<Record<keyof TableRepositoryClients, string>> = {
  certificates: 'certificates',
  expiryIndex: 'expiryindex',
  notifications: 'notifications',
  audit: 'audit',
};

/**
 * Builds the four table clients with `makeClient(tableName)` (from a connection string, or an
 * account URL and a managed-identity credential). `prefix` (letters and digits) isolates test runs.
 */
export function tableClients(
  makeClient: (tableName: string) => TableClient,
  prefix = '',
): TableRepositoryClients {
  if (!/^[A-Za-z0-9]*$/.test(prefix)) throw new Error('A table prefix may hold only letters and digits.');
  return {
    certificates: makeClient(`${prefix}${TABLE_NAMES.certificates}`),
    expiryIndex: makeClient(`${prefix}${TABLE_NAMES.expiryIndex}`),
    notifications: makeClient(`${prefix}${TABLE_NAMES.notifications}`),
    audit: makeClient(`${prefix}${TABLE_NAMES.audit}`),
  };
}

/** Creates the tables if missing (deployments create them in Bicep; tests and local runs here). */
export async function ensureTables(clients: TableRepositoryClients): Promise<void> {
  for (const client of Object.values(clients)) {
    await callAzure('Table storage', () => client.createTable());
  }
}

/** Options for {@link TableCertificateRepository}. */
export interface TableRepositoryOptions {
  /**
   * How old (by the service's row timestamp) a stale expiry-index row must be before the scan
   * deletes it. Younger ones may belong to a write in flight (index first, certificate second).
   */
  staleIndexGraceMs?: number;
  /** Wall clock for that age check (tests move it); defaults to the system clock. */
  wallClock?: () => number;
}

const CERT_PREFIX = 'c|';
/** '}' sorts right after '|': the range [c|, c}) holds exactly the certificate rows. */
const CERT_RANGE_END = 'c}';
const STATE_ROW = 'a|state';
/** Table storage cannot store null; these stand for the cursor's nulls. */
const NO_NEXT = '';
const NO_THRESHOLD = -1;
/** 64 KiB per string property is 32 768 UTF-16 units; stay below it. */
const CHUNK_CHARS = 30_000;
/** An entity is at most 1 MiB; 16 chunks (< 1 MB in UTF-16) leave room for the other properties. */
const MAX_CHUNKS = 16;

type Chunks = Record<string, string | number>;

interface CertificateEntity extends Chunks {
  uploadedAt: string;
  nextNotifyAt: string;
  notifiedThresholdDays: number;
}

interface IndexEntity {
  tenantId: string;
  certificateId: string;
  nextNotifyAt: string;
}

interface NotificationEntity {
  tenantId: string;
  certificateId: string;
  kind: NotificationKind;
  thresholdDays: number;
  notAfter: string;
  createdAt: string;
  seq: string;
}

/** `CertificateRepository` on Azure Table storage; see the module comment for the layout. */
export class TableCertificateRepository implements CertificateRepository {
  private readonly graceMs: number;
  private readonly wallClock: () => number;

  constructor(
    private readonly tables: TableRepositoryClients,
    options: TableRepositoryOptions = {},
  ) {
    this.graceMs = options.staleIndexGraceMs ?? 10 * 60_000;
    this.wallClock = options.wallClock ?? Date.now;
  }

  async createCertificate(record: CertificateRecord): Promise<void> {
    const pk = keyPart(record.tenantId);
    const rk = certRow(record.id);
    // Index first: if the certificate write then fails, only a stale index row remains.
    if (record.nextNotifyAt !== null) await this.putIndex(record.tenantId, record.id, record.nextNotifyAt);
    try {
      await this.tables.certificates.createEntity<CertificateEntity>({
        partitionKey: pk,
        rowKey: rk,
        ...toCertificateEntity(record),
      });
    } catch (error) {
      if (statusOf(error) !== 409) throw toUnavailable('Table storage', error);
      // Our index row has the existing record's key only if both are due at the same time.
      const existing = await this.getCertificate(record.tenantId, record.id);
      if (record.nextNotifyAt !== null && existing?.nextNotifyAt !== record.nextNotifyAt) {
        await this.deleteIndexQuietly(record.tenantId, record.id, record.nextNotifyAt);
      }
      throw new AlreadyExists(`Certificate '${record.id}' already exists for tenant '${record.tenantId}'.`);
    }
  }

  async getCertificate(tenantId: string, certificateId: string): Promise<CertificateRecord | undefined> {
    const entity = await this.getCertificateEntity(tenantId, certificateId);
    return entity === undefined ? undefined : fromCertificateEntity(entity);
  }

  async listCertificates(tenantId: string): Promise<CertificateRecord[]> {
    const filter = odata`PartitionKey eq ${keyPart(tenantId)} and RowKey ge ${CERT_PREFIX} and RowKey lt ${CERT_RANGE_END}`;
    const records: CertificateRecord[] = [];
    await callAzure('Table storage', async () => {
      for await (const entity of this.tables.certificates.listEntities<CertificateEntity>({
        queryOptions: { filter },
      })) {
        records.push(fromCertificateEntity(entity));
      }
    });
    return records.sort((a, b) => compare(a.uploadedAt, b.uploadedAt) || compare(a.id, b.id));
  }

  async removeCertificate(tenantId: string, certificateId: string): Promise<void> {
    const entity = await this.getCertificateEntity(tenantId, certificateId);
    if (entity === undefined) return;
    await this.deleteIgnoringMissing(this.tables.certificates, keyPart(tenantId), certRow(certificateId));
    if (entity.nextNotifyAt !== NO_NEXT)
      await this.deleteIndexQuietly(tenantId, certificateId, entity.nextNotifyAt);
  }

  async getAssignments(tenantId: string): Promise<VersionedAssignments> {
    const entity = await this.getEntityOrUndefined<Chunks>(
      this.tables.certificates,
      keyPart(tenantId),
      STATE_ROW,
    );
    if (entity === undefined) return { state: emptyAssignments(), version: undefined };
    return { state: assignmentsFromStored(JSON.parse(joinChunks(entity))), version: entity.etag };
  }

  async saveAssignments(
    tenantId: string,
    state: TenantAssignments,
    expectedVersion: string | undefined,
    options?: { deleteCertificateId?: string },
  ): Promise<void> {
    const pk = keyPart(tenantId);
    const stateEntity = { partitionKey: pk, rowKey: STATE_ROW, ...splitChunks(JSON.stringify(state)) };
    const deleteId = options?.deleteCertificateId;
    if (deleteId === undefined) {
      try {
        if (expectedVersion === undefined) await this.tables.certificates.createEntity(stateEntity);
        else await this.tables.certificates.updateEntity(stateEntity, 'Replace', { etag: expectedVersion });
      } catch (error) {
        throw conflictOr(error);
      }
      return;
    }

    // The certificate row and the state row change in one entity-group transaction: both or neither.
    const doomed = await this.getCertificateEntity(tenantId, deleteId);
    const actions: TransactionAction[] = [
      expectedVersion === undefined
        ? ['create', stateEntity]
        : ['update', stateEntity, 'Replace', { etag: expectedVersion }],
    ];
    if (doomed !== undefined) {
      // The SDK sends transaction deletes with If-Match '*': a row deleted meanwhile fails the
      // transaction with 404, which is a lost race like the state's 412.
      actions.push(['delete', { partitionKey: pk, rowKey: certRow(deleteId) }]);
    }
    try {
      await this.tables.certificates.submitTransaction(actions);
    } catch (error) {
      // 404/409/412: the state or the certificate row changed since it was read.
      throw conflictOr(error);
    }
    if (doomed !== undefined && doomed.nextNotifyAt !== NO_NEXT) {
      await this.deleteIndexQuietly(tenantId, deleteId, doomed.nextNotifyAt);
    }
  }

  async *findDueForNotification(now: string, pageSize: number): AsyncGenerator<CertificateRecord[]> {
    const today = now.slice(0, 10);
    // Only buckets up to today, and in today's bucket only rows due by now. Row keys start with the
    // due instant, and '}' sorts after the '|' that follows it.
    const filter = odata`PartitionKey le ${today} and RowKey lt ${`${now}}`}`;
    const pages = this.tables.expiryIndex
      .listEntities<IndexEntity>({ queryOptions: { filter } })
      .byPage({ maxPageSize: Math.max(1, Math.min(1000, Math.floor(pageSize))) });
    while (true) {
      let next: IteratorResult<TableEntityResult<IndexEntity>[]>;
      try {
        next = await pages.next();
      } catch (error) {
        throw toUnavailable('Table storage', error);
      }
      if (next.done) return;
      const due = await Promise.all(next.value.map((row) => this.recheck(row, now)));
      const records = due.filter((r): r is CertificateRecord => r !== undefined);
      if (records.length > 0) yield records;
    }
  }

  async addNotificationOnce(notification: ExpiryNotification): Promise<boolean> {
    const entity: NotificationEntity & { partitionKey: string; rowKey: string } = {
      partitionKey: keyPart(notification.tenantId),
      rowKey: `${keyPart(notification.certificateId)}|${notification.thresholdDays}`,
      tenantId: notification.tenantId,
      certificateId: notification.certificateId,
      kind: notification.kind,
      thresholdDays: notification.thresholdDays,
      notAfter: notification.notAfter,
      createdAt: notification.createdAt,
      seq: String(nextSequence()).padStart(16, '0'),
    };
    try {
      await this.tables.notifications.createEntity(entity);
      return true;
    } catch (error) {
      if (statusOf(error) === 409) return false;
      throw toUnavailable('Table storage', error);
    }
  }

  async advanceExpiryCursor(
    tenantId: string,
    certificateId: string,
    expectedNextNotifyAt: string | null,
    update: { nextNotifyAt: string | null; notifiedThresholdDays: number | null },
  ): Promise<boolean> {
    // A lost ETag race is retried after a re-read; the compare on nextNotifyAt decides.
    for (let attempt = 0; attempt < 5; attempt++) {
      const entity = await this.getCertificateEntity(tenantId, certificateId);
      if (entity === undefined || decodeNext(entity.nextNotifyAt) !== expectedNextNotifyAt) return false;
      if (update.nextNotifyAt !== null && update.nextNotifyAt !== expectedNextNotifyAt) {
        await this.putIndex(tenantId, certificateId, update.nextNotifyAt);
      }
      try {
        await this.tables.certificates.updateEntity(
          {
            partitionKey: keyPart(tenantId),
            rowKey: certRow(certificateId),
            nextNotifyAt: update.nextNotifyAt ?? NO_NEXT,
            notifiedThresholdDays: update.notifiedThresholdDays ?? NO_THRESHOLD,
          },
          'Merge',
          { etag: entity.etag },
        );
      } catch (error) {
        const status = statusOf(error);
        if (status === 412) continue;
        if (status === 404) return false;
        throw toUnavailable('Table storage', error);
      }
      if (expectedNextNotifyAt !== null && expectedNextNotifyAt !== update.nextNotifyAt) {
        await this.deleteIndexQuietly(tenantId, certificateId, expectedNextNotifyAt);
      }
      return true;
    }
    return false;
  }

  async listNotifications(tenantId: string): Promise<ExpiryNotification[]> {
    const rows: NotificationEntity[] = [];
    await callAzure('Table storage', async () => {
      for await (const entity of this.tables.notifications.listEntities<NotificationEntity>({
        queryOptions: { filter: odata`PartitionKey eq ${keyPart(tenantId)}` },
      })) {
        rows.push(entity);
      }
    });
    // A tenant has a handful per certificate, so sorting here is cheaper than a second index.
    rows.sort((a, b) => compare(b.createdAt, a.createdAt) || compare(b.seq, a.seq));
    return rows.map((row) => ({
      tenantId: row.tenantId,
      certificateId: row.certificateId,
      kind: row.kind,
      thresholdDays: row.thresholdDays,
      notAfter: row.notAfter,
      createdAt: row.createdAt,
    }));
  }

  async appendAudit(entry: AuditEntry): Promise<void> {
    const at = Date.parse(entry.at);
    const invertedAt = String(9_999_999_999_999 - (Number.isFinite(at) ? Math.max(0, at) : 0)).padStart(
      13,
      '0',
    );
    const invertedSeq = String(MAX_SEQUENCE - nextSequence()).padStart(16, '0');
    await callAzure('Table storage', () =>
      this.tables.audit.createEntity({
        partitionKey: keyPart(entry.tenantId),
        rowKey: `${invertedAt}|${invertedSeq}|${keyPart(entry.id)}`,
        ...splitChunks(JSON.stringify(entry)),
      }),
    );
  }

  async listAudit(tenantId: string, limit: number): Promise<AuditEntry[]> {
    const wanted = Math.max(0, Math.floor(limit));
    if (wanted === 0) return [];
    const entries: AuditEntry[] = [];
    await callAzure('Table storage', async () => {
      const pages = this.tables.audit
        .listEntities<Chunks>({ queryOptions: { filter: odata`PartitionKey eq ${keyPart(tenantId)}` } })
        .byPage({ maxPageSize: Math.min(1000, wanted) });
      for await (const page of pages) {
        for (const entity of page) {
          entries.push(JSON.parse(joinChunks(entity)) as AuditEntry);
          if (entries.length >= wanted) return;
        }
      }
    });
    return entries;
  }

  /** The certificate for an index row if it is still due as that row says, else undefined. */
  private async recheck(
    row: TableEntityResult<IndexEntity>,
    now: string,
  ): Promise<CertificateRecord | undefined> {
    const entity = await this.getCertificateEntity(row.tenantId, row.certificateId);
    if (entity !== undefined && entity.nextNotifyAt === row.nextNotifyAt && row.nextNotifyAt <= now) {
      return fromCertificateEntity(entity);
    }
    if (entity?.nextNotifyAt === row.nextNotifyAt) return undefined;
    // Stale: the certificate moved on or is gone. Delete the row only once no write can be in flight.
    const writtenAt = row.timestamp === undefined ? Number.NaN : Date.parse(row.timestamp);
    if (Number.isFinite(writtenAt) && this.wallClock() - writtenAt > this.graceMs) {
      await this.deleteIgnoringMissing(this.tables.expiryIndex, row.partitionKey!, row.rowKey!, row.etag);
    }
    return undefined;
  }

  private async putIndex(tenantId: string, certificateId: string, nextNotifyAt: string): Promise<void> {
    const entity: IndexEntity & { partitionKey: string; rowKey: string } = {
      partitionKey: nextNotifyAt.slice(0, 10),
      rowKey: indexRow(tenantId, certificateId, nextNotifyAt),
      tenantId,
      certificateId,
      nextNotifyAt,
    };
    await callAzure('Table storage', () => this.tables.expiryIndex.upsertEntity(entity, 'Replace'));
  }

  /**
   * Deletes an index row after its certificate changed. A failure here is not the caller's: the
   * row is merely stale, and the scan skips and later removes stale rows.
   */
  private async deleteIndexQuietly(
    tenantId: string,
    certificateId: string,
    nextNotifyAt: string,
  ): Promise<void> {
    try {
      await this.deleteIgnoringMissing(
        this.tables.expiryIndex,
        nextNotifyAt.slice(0, 10),
        indexRow(tenantId, certificateId, nextNotifyAt),
      );
    } catch {
      // Tolerated by design (see above).
    }
  }

  private async deleteIgnoringMissing(
    client: TableClient,
    pk: string,
    rk: string,
    etag?: string,
  ): Promise<void> {
    try {
      await client.deleteEntity(pk, rk, etag === undefined ? undefined : { etag });
    } catch (error) {
      // 404: already gone; 412: it changed meanwhile, so it is no longer the row we meant.
      const status = statusOf(error);
      if (status === 404 || status === 412) return;
      throw toUnavailable('Table storage', error);
    }
  }

  private getCertificateEntity(
    tenantId: string,
    certificateId: string,
  ): Promise<TableEntityResult<CertificateEntity> | undefined> {
    return this.getEntityOrUndefined<CertificateEntity>(
      this.tables.certificates,
      keyPart(tenantId),
      certRow(certificateId),
    );
  }

  private async getEntityOrUndefined<T extends object>(
    client: TableClient,
    pk: string,
    rk: string,
  ): Promise<TableEntityResult<T> | undefined> {
    try {
      return await client.getEntity<T>(pk, rk);
    } catch (error) {
      if (statusOf(error) === 404) return undefined;
      throw toUnavailable('Table storage', error);
    }
  }
}

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

function certRow(certificateId: string): string {
  return `${CERT_PREFIX}${keyPart(certificateId)}`;
}

function indexRow(tenantId: string, certificateId: string, nextNotifyAt: string): string {
  return `${keyPart(nextNotifyAt)}|${keyPart(tenantId)}|${keyPart(certificateId)}`;
}

function toCertificateEntity(record: CertificateRecord): CertificateEntity {
  const { nextNotifyAt, notifiedThresholdDays, ...rest } = record;
  return {
    ...splitChunks(JSON.stringify(rest)),
    uploadedAt: record.uploadedAt,
    nextNotifyAt: nextNotifyAt ?? NO_NEXT,
    notifiedThresholdDays: notifiedThresholdDays ?? NO_THRESHOLD,
  };
}

function fromCertificateEntity(entity: CertificateEntity): CertificateRecord {
  const rest = JSON.parse(joinChunks(entity)) as Omit<
    CertificateRecord,
    'nextNotifyAt' | 'notifiedThresholdDays'
  >;
  return {
    ...rest,
    nextNotifyAt: decodeNext(entity.nextNotifyAt),
    notifiedThresholdDays:
      entity.notifiedThresholdDays === NO_THRESHOLD ? null : entity.notifiedThresholdDays,
  };
}

function decodeNext(value: string): string | null {
  return value === NO_NEXT ? null : value;
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

function conflictOr(error: unknown): unknown {
  const status = statusOf(error);
  if (status === 404 || status === 409 || status === 412) return new ConcurrencyConflict();
  return toUnavailable('Table storage', error);
}

function compare(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

/** Above any microsecond timestamp for millennia, and exact as a double (< 2^53). */
const MAX_SEQUENCE = 8_999_999_999_999_999;
let lastSequence = 0;
/** Strictly increasing per process (microseconds since the epoch, bumped on ties). */
function nextSequence(): number {
  lastSequence = Math.max(Date.now() * 1000, lastSequence + 1);
  return lastSequence;
}
