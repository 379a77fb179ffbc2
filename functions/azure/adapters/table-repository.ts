/**
 * The Azure runtime's certificate repository on Table storage (`@azure/data-tables`): the
 * operations of the port, their conditions and their order of writes. The tables, their rows and
 * the codecs between records and entities are in ./table-schema.ts.
 */
import { odata, type TableClient, type TableEntityResult, type TransactionAction } from '@azure/data-tables';
import { assignmentsFromStored } from '../../../shared/domain/assignments';
import type { ExpiryCursor } from '../../../shared/domain/expiry-cursor';
import type {
  AuditEntry,
  CertificateRecord,
  EscrowCertificate,
  EscrowCopy,
  ExpiryNotification,
  TenantAssignments,
  VersionedAssignments,
} from '../../../shared/domain/types';
import { AlreadyExists, ConcurrencyConflict } from '../../../shared/errors';
import {
  type CertificateRepository,
  type EscrowStore,
  emptyAssignments,
  invalidPosition,
  type Page,
  type PageRequest,
} from '../../../shared/ports';
import { callAzure, statusOf, toUnavailable } from './azure-errors';
import {
  AUDIT_ENTRY_RANGE_END,
  auditCopyPrefix,
  CERT_PREFIX,
  CERT_RANGE_END,
  type CertificateEntity,
  type Chunks,
  certificateKeys,
  cursorProperties,
  decodeNext,
  type EntityKeys,
  ESCROW_COPY_PREFIX,
  ESCROW_COPY_RANGE_END,
  ESCROW_ROW,
  type EscrowCopyEntity,
  fromCertificateEntity,
  fromNotificationEntity,
  type IndexEntity,
  indexKeys,
  isAuditEntryRowKey,
  joinChunks,
  keyPart,
  NO_NEXT,
  type NotificationEntity,
  STATE_ROW,
  splitChunks,
  toAuditEntity,
  toCertificateEntity,
  toNotificationEntity,
} from './table-schema';

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

/** `CertificateRepository` on Azure Table storage; see the module comment for the layout. */
export class TableCertificateRepository implements CertificateRepository, EscrowStore {
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
    // Index first: if the certificate write then fails, only a stale index row remains.
    if (record.nextNotifyAt !== null) await this.putIndex(record.tenantId, record.id, record.nextNotifyAt);
    try {
      await this.tables.certificates.createEntity<CertificateEntity>({
        ...certificateKeys(record.tenantId, record.id),
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

  async pageCertificates(tenantId: string, page: PageRequest): Promise<Page<CertificateRecord>> {
    const after =
      page.after === undefined ? undefined : `${CERT_PREFIX}${keyPart(checkedPosition(page.after))}`;
    const { rows, more } = await this.rowPage<CertificateEntity>(
      this.tables.certificates,
      keyPart(tenantId),
      after ?? CERT_PREFIX,
      after !== undefined,
      CERT_RANGE_END,
      page.limit,
    );
    const items = rows.map(fromCertificateEntity);
    const last = items[items.length - 1];
    return { items, ...(more && last ? { next: last.id } : {}) };
  }

  async removeCertificate(tenantId: string, certificateId: string): Promise<void> {
    const entity = await this.getCertificateEntity(tenantId, certificateId);
    if (entity === undefined) return;
    const keys = certificateKeys(tenantId, certificateId);
    await this.deleteIgnoringMissing(this.tables.certificates, keys.partitionKey, keys.rowKey);
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
      actions.push(['delete', certificateKeys(tenantId, deleteId)]);
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
    const entity = toNotificationEntity(notification, nextSequence());
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
    update: ExpiryCursor,
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
          { ...certificateKeys(tenantId, certificateId), ...cursorProperties(update) },
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
    return rows.map(fromNotificationEntity);
  }

  async pageNotifications(tenantId: string, page: PageRequest): Promise<Page<ExpiryNotification>> {
    const after = page.after === undefined ? undefined : checkedPosition(page.after);
    const { rows, more } = await this.rowPage<NotificationEntity>(
      this.tables.notifications,
      keyPart(tenantId),
      after ?? '',
      after !== undefined,
      undefined,
      page.limit,
    );
    const last = rows[rows.length - 1];
    return {
      items: rows.map(fromNotificationEntity),
      ...(more && last?.rowKey ? { next: last.rowKey } : {}),
    };
  }

  async appendAudit(entry: AuditEntry): Promise<void> {
    const row = toAuditEntity(entry, nextSequence());
    if (entry.certificateId === undefined) {
      await callAzure('Table storage', () => this.tables.audit.createEntity(row));
      return;
    }
    // One entity-group transaction (same partition): the entry and its certificate's copy, or neither.
    const copy = { ...row, rowKey: `${auditCopyPrefix(entry.certificateId)}${row.rowKey}` };
    await callAzure('Table storage', () =>
      this.tables.audit.submitTransaction([
        ['create', row],
        ['create', copy],
      ]),
    );
  }

  async pageAudit(
    tenantId: string,
    page: PageRequest & { certificateId?: string | undefined },
  ): Promise<Page<AuditEntry>> {
    if (page.after !== undefined && !isAuditEntryRowKey(page.after)) throw invalidPosition();
    const prefix = page.certificateId === undefined ? '' : auditCopyPrefix(page.certificateId);
    const { rows, more } = await this.rowPage<Chunks>(
      this.tables.audit,
      keyPart(tenantId),
      `${prefix}${page.after ?? ''}`,
      page.after !== undefined,
      page.certificateId === undefined ? AUDIT_ENTRY_RANGE_END : `${prefix.slice(0, -1)}}`,
      page.limit,
    );
    const last = rows[rows.length - 1];
    return {
      items: rows.map((row) => JSON.parse(joinChunks(row)) as AuditEntry),
      ...(more && last?.rowKey ? { next: last.rowKey.slice(prefix.length) } : {}),
    };
  }

  /**
   * Up to `limit` rows of one partition with row keys from `from` (exclusive when `afterFrom`)
   * below `before`, in row-key order: a keyset on the row key, which is what a continuation
   * token holds, but taken from any row, so a page may end mid-way through the service's page.
   * Reads the service's pages (they may come back short) until one row more than the page.
   */
  private async rowPage<T extends object>(
    client: TableClient,
    partitionKey: string,
    from: string,
    afterFrom: boolean,
    before: string | undefined,
    limit: number,
  ): Promise<{ rows: TableEntityResult<T>[]; more: boolean }> {
    const wanted = Math.max(1, Math.floor(limit));
    let filter = afterFrom
      ? odata`PartitionKey eq ${partitionKey} and RowKey gt ${from}`
      : odata`PartitionKey eq ${partitionKey} and RowKey ge ${from}`;
    if (before !== undefined) filter += odata` and RowKey lt ${before}`;
    const rows: TableEntityResult<T>[] = [];
    await callAzure('Table storage', async () => {
      const pages = client
        .listEntities<T>({ queryOptions: { filter } })
        .byPage({ maxPageSize: Math.min(1000, wanted + 1) });
      for await (const page of pages) {
        rows.push(...page);
        if (rows.length > wanted) return;
      }
    });
    return { rows: rows.slice(0, wanted), more: rows.length > wanted };
  }

  async listAudit(tenantId: string, limit: number): Promise<AuditEntry[]> {
    const wanted = Math.max(0, Math.floor(limit));
    if (wanted === 0) return [];
    const entries: AuditEntry[] = [];
    await callAzure('Table storage', async () => {
      const pages = this.tables.audit
        .listEntities<Chunks>({
          queryOptions: {
            filter: odata`PartitionKey eq ${keyPart(tenantId)} and RowKey lt ${AUDIT_ENTRY_RANGE_END}`,
          },
        })
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
    const entity: IndexEntity & EntityKeys = {
      ...indexKeys(tenantId, certificateId, nextNotifyAt),
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
    const keys = indexKeys(tenantId, certificateId, nextNotifyAt);
    try {
      await this.deleteIgnoringMissing(this.tables.expiryIndex, keys.partitionKey, keys.rowKey);
    } catch {
      // Tolerated by design (see above).
    }
  }

  async getEscrowCertificate(tenantId: string): Promise<EscrowCertificate | undefined> {
    const entity = await this.getEntityOrUndefined<Chunks>(
      this.tables.certificates,
      keyPart(tenantId),
      ESCROW_ROW,
    );
    return entity === undefined
      ? undefined
      : { ...(JSON.parse(joinChunks(entity)) as EscrowCertificate), tenantId };
  }

  async putEscrowCertificate(certificate: EscrowCertificate): Promise<void> {
    const entity = {
      partitionKey: keyPart(certificate.tenantId),
      rowKey: ESCROW_ROW,
      ...splitChunks(JSON.stringify(certificate)),
    };
    await callAzure('Table storage', () => this.tables.certificates.upsertEntity(entity, 'Replace'));
  }

  async putEscrowCopy(copy: EscrowCopy): Promise<void> {
    const entity: EscrowCopyEntity & EntityKeys = {
      partitionKey: keyPart(copy.tenantId),
      rowKey: `${ESCROW_COPY_PREFIX}${keyPart(copy.certificateId)}`,
      certificateId: copy.certificateId,
      fingerprint: copy.escrowFingerprintSha256,
      cms: new Uint8Array(copy.cms),
      sealedAt: copy.sealedAt,
    };
    await callAzure('Table storage', () => this.tables.certificates.upsertEntity(entity, 'Replace'));
  }

  async listEscrowCopies(tenantId: string): Promise<EscrowCopy[]> {
    const filter = odata`PartitionKey eq ${keyPart(tenantId)} and RowKey ge ${ESCROW_COPY_PREFIX} and RowKey lt ${ESCROW_COPY_RANGE_END}`;
    const copies: EscrowCopy[] = [];
    await callAzure('Table storage', async () => {
      for await (const entity of this.tables.certificates.listEntities<EscrowCopyEntity>({
        queryOptions: { filter },
      })) {
        copies.push({
          tenantId,
          certificateId: entity.certificateId,
          escrowFingerprintSha256: entity.fingerprint,
          cms: Buffer.from(entity.cms),
          sealedAt: entity.sealedAt,
        });
      }
    });
    return copies.sort((a, b) => compare(a.certificateId, b.certificateId));
  }

  async removeEscrowCopy(tenantId: string, certificateId: string): Promise<void> {
    await this.deleteIgnoringMissing(
      this.tables.certificates,
      keyPart(tenantId),
      `${ESCROW_COPY_PREFIX}${keyPart(certificateId)}`,
    );
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
    const keys = certificateKeys(tenantId, certificateId);
    return this.getEntityOrUndefined<CertificateEntity>(
      this.tables.certificates,
      keys.partitionKey,
      keys.rowKey,
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

function conflictOr(error: unknown): unknown {
  const status = statusOf(error);
  if (status === 404 || status === 409 || status === 412) return new ConcurrencyConflict();
  return toUnavailable('Table storage', error);
}

/**
 * A position of the store's own making is a short string of what row keys may hold (no control
 * characters, slash, backslash, '#', '?'); anything else never reaches a query.
 */
function checkedPosition(position: string): string {
  // biome-ignore lint/suspicious/noControlCharactersInRegex: control characters are what is refused.
  if (!/^[^/\\#?\u0000-\u001f\u007f-\u009f]{1,512}$/.test(position)) throw invalidPosition();
  return position;
}

function compare(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

let lastSequence = 0;
/** Strictly increasing per process (microseconds since the epoch, bumped on ties). */
function nextSequence(): number {
  lastSequence = Math.max(Date.now() * 1000, lastSequence + 1);
  return lastSequence;
}
