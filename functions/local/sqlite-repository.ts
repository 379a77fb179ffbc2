/**
 * The local runtime's certificate repository: one embedded SQLite file (better-sqlite3).
 *
 * better-sqlite3 is synchronous, so every statement runs to completion inside one call and the
 * single connection is never shared mid-query; the methods are still `async` so that thrown errors
 * become rejections like in the cloud adapters. Conditional writes (version checks, insert-or-
 * ignore, cursor compare-and-set) are plain SQL conditions, which makes them atomic.
 */
import fs from 'node:fs';
import path from 'node:path';
import Database from 'better-sqlite3';
import { assignmentsFromStored } from '../../shared/domain/assignments';
import {
  type ExpiryCursor,
  joinExpiryCursor,
  type RecordWithoutCursor,
  splitExpiryCursor,
} from '../../shared/domain/expiry-cursor';
import { activeInFromStored } from '../../shared/domain/expiry-notice';
import type {
  AuditEntry,
  CertificateRecord,
  EscrowCertificate,
  EscrowCopy,
  ExpiryNotification,
  TenantAssignments,
  VersionedAssignments,
} from '../../shared/domain/types';
import { AlreadyExists, ConcurrencyConflict } from '../../shared/errors';
import {
  type CertificateRepository,
  type CertificateSummary,
  type EscrowStore,
  emptyAssignments,
  invalidPosition,
  type NoticeDelivery,
  type NoticeOutbox,
  type Page,
  type PageRequest,
} from '../../shared/ports';

/** One schema step; `version` is what `PRAGMA user_version` holds once it is applied. */
interface Migration {
  version: number;
  sql: string;
}

/**
 * Schema steps, applied in order at open. Never edit a released step: append a new one, so an
 * existing data dir is brought forward rather than silently diverging.
 */
export const MIGRATIONS: readonly Migration[] = [
  {
    version: 1,
    sql: `
      CREATE TABLE certificates (
        tenant_id TEXT NOT NULL,
        id TEXT NOT NULL,
        uploaded_at TEXT NOT NULL,
        next_notify_at TEXT,
        notified_threshold_days INTEGER,
        record TEXT NOT NULL,
        PRIMARY KEY (tenant_id, id)
      );
      CREATE INDEX certificates_by_upload ON certificates (tenant_id, uploaded_at, id);
      CREATE INDEX certificates_due ON certificates (next_notify_at, tenant_id, id)
        WHERE next_notify_at IS NOT NULL;

      CREATE TABLE assignments (
        tenant_id TEXT PRIMARY KEY,
        state TEXT NOT NULL,
        version INTEGER NOT NULL
      );

      CREATE TABLE notifications (
        seq INTEGER PRIMARY KEY AUTOINCREMENT,
        tenant_id TEXT NOT NULL,
        certificate_id TEXT NOT NULL,
        threshold_days INTEGER NOT NULL,
        kind TEXT NOT NULL,
        not_after TEXT NOT NULL,
        created_at TEXT NOT NULL,
        UNIQUE (tenant_id, certificate_id, threshold_days)
      );
      CREATE INDEX notifications_by_tenant ON notifications (tenant_id, created_at, seq);

      CREATE TABLE audit (
        seq INTEGER PRIMARY KEY AUTOINCREMENT,
        tenant_id TEXT NOT NULL,
        at TEXT NOT NULL,
        entry TEXT NOT NULL
      );
      CREATE INDEX audit_by_tenant ON audit (tenant_id, at, seq);
    `,
  },
  {
    // The audit filter by certificate runs on an index; entries already written get their
    // certificate from their own JSON, so the filter finds old entries too.
    version: 2,
    sql: `
      ALTER TABLE audit ADD COLUMN certificate_id TEXT;
      UPDATE audit SET certificate_id = json_extract(entry, '$.certificateId');
      CREATE INDEX audit_by_certificate ON audit (tenant_id, certificate_id, at, seq);
    `,
  },
  {
    // Where the certificate was active and whether a replacement was ready (rule 14). Notices
    // written before have neither: they read as active nowhere, no replacement known.
    version: 3,
    sql: `
      ALTER TABLE notifications ADD COLUMN active_in TEXT;
      ALTER TABLE notifications ADD COLUMN replacement_available INTEGER NOT NULL DEFAULT 0;
    `,
  },
  {
    // Escrow (DESIGN rule 15): one escrow certificate per tenant, one escrow copy per key.
    version: 4,
    sql: `
      CREATE TABLE escrow_certificates (
        tenant_id TEXT PRIMARY KEY,
        certificate TEXT NOT NULL
      );
      CREATE TABLE escrow_copies (
        tenant_id TEXT NOT NULL,
        certificate_id TEXT NOT NULL,
        escrow_fingerprint TEXT NOT NULL,
        cms BLOB NOT NULL,
        sealed_at TEXT NOT NULL,
        PRIMARY KEY (tenant_id, certificate_id)
      );
    `,
  },
  {
    // The certificate PEM in a column of its own: a list page reads and parses only the rest,
    // which is all the list shows (the PEM was about 60% of each record's JSON).
    version: 5,
    sql: `
      ALTER TABLE certificates ADD COLUMN certificate_pem TEXT;
      UPDATE certificates SET certificate_pem = json_extract(record, '$.certificatePem'),
        record = json_remove(record, '$.certificatePem');
    `,
  },
];

/** The schema version this code writes and reads. */
export const SCHEMA_VERSION = MIGRATIONS[MIGRATIONS.length - 1]?.version ?? 0;

interface CertificateRow {
  tenant_id: string;
  id: string;
  next_notify_at: string | null;
  notified_threshold_days: number | null;
  /** The record's JSON without its id, tenant, expiry cursor and PEM. */
  record: string;
}

interface WholeCertificateRow extends CertificateRow {
  certificate_pem: string;
}

interface NotificationRow {
  tenant_id: string;
  certificate_id: string;
  threshold_days: number;
  kind: ExpiryNotification['kind'];
  not_after: string;
  created_at: string;
  active_in: string | null;
  replacement_available: number;
}

/** Options for {@link SqliteCertificateRepository}. */
export interface SqliteRepositoryOptions {
  /** How long a writer waits for another process's lock before failing with SQLITE_BUSY. */
  busyTimeoutMs?: number;
}

/**
 * `CertificateRepository` on one SQLite database file. Several processes may open the same file
 * (WAL mode); each write is one statement or one transaction.
 */
export class SqliteCertificateRepository implements CertificateRepository, NoticeOutbox, EscrowStore {
  private readonly db: Database.Database;
  /** Only a connection this class opened is closed by `close()`. */
  private readonly ownsConnection: boolean;
  private readonly stmts: ReturnType<typeof prepareStatements>;

  /**
   * @param target a database file path (its folder is created, mode 0700) or an open connection.
   */
  constructor(target: string | Database.Database, options: SqliteRepositoryOptions = {}) {
    const file = typeof target === 'string' && target !== ':memory:' && !target.startsWith('file:');
    if (typeof target === 'string') {
      if (file) {
        fs.mkdirSync(path.dirname(path.resolve(target)), { recursive: true, mode: 0o700 });
        // SQLite would create the file 0644; made here 0600 first, its -wal and -shm files
        // inherit that mode from it (SQLite gives them the database file's permissions).
        fs.closeSync(fs.openSync(target, 'a', 0o600));
        restrictToOwner(target);
      }
      this.db = new Database(target);
      this.ownsConnection = true;
    } else {
      this.db = target;
      this.ownsConnection = false;
    }
    try {
      // busy_timeout first: the journal-mode switch itself may wait for another process.
      this.db.pragma(`busy_timeout = ${Math.max(0, Math.floor(options.busyTimeoutMs ?? 5000))}`);
      this.db.pragma('journal_mode = WAL');
      if (file) for (const suffix of ['-wal', '-shm']) restrictToOwner(`${target as string}${suffix}`);
      // NORMAL in WAL mode: a power loss may lose the last commits but never corrupts the file.
      this.db.pragma('synchronous = NORMAL');
      this.db.pragma('foreign_keys = ON');
      migrate(this.db);
      this.stmts = prepareStatements(this.db);
    } catch (error) {
      if (this.ownsConnection) this.db.close();
      throw error;
    }
  }

  /** The schema version of the open database (for diagnostics and tests). */
  schemaVersion(): number {
    return this.db.pragma('user_version', { simple: true }) as number;
  }

  /** Closes the connection if this repository opened it; later calls fail. */
  close(): void {
    if (this.ownsConnection && this.db.open) this.db.close();
  }

  async createCertificate(record: CertificateRecord): Promise<void> {
    try {
      this.stmts.insertCertificate.run({
        tenantId: record.tenantId,
        id: record.id,
        uploadedAt: record.uploadedAt,
        nextNotifyAt: record.nextNotifyAt,
        notifiedThresholdDays: record.notifiedThresholdDays,
        record: serializeRecord(record),
        certificatePem: record.certificatePem,
      });
    } catch (error) {
      if (isConstraint(error, 'SQLITE_CONSTRAINT_PRIMARYKEY')) {
        throw new AlreadyExists(`Certificate '${record.id}' already exists for tenant '${record.tenantId}'.`);
      }
      throw error;
    }
  }

  async getCertificate(tenantId: string, certificateId: string): Promise<CertificateRecord | undefined> {
    const row = this.stmts.getCertificate.get({ tenantId, id: certificateId }) as
      | WholeCertificateRow
      | undefined;
    return row === undefined ? undefined : deserializeRecord(row);
  }

  async listCertificates(tenantId: string): Promise<CertificateRecord[]> {
    const rows = this.stmts.listCertificates.all({ tenantId }) as WholeCertificateRow[];
    return rows.map(deserializeRecord);
  }

  async pageCertificates(tenantId: string, page: PageRequest): Promise<Page<CertificateSummary>> {
    const limit = pageLimit(page);
    // '' sorts before every id, so the first page is the same range search.
    const after = page.after === undefined ? '' : positionString(page.after);
    const rows = this.stmts.pageCertificates.all({ tenantId, after, limit: limit + 1 }) as CertificateRow[];
    return pageOf(rows.map(deserializeSummary), limit, (r) => r.id);
  }

  async removeCertificate(tenantId: string, certificateId: string): Promise<void> {
    this.stmts.deleteCertificate.run({ tenantId, id: certificateId });
  }

  async getAssignments(tenantId: string): Promise<VersionedAssignments> {
    const row = this.stmts.getAssignments.get({ tenantId }) as { state: string; version: number } | undefined;
    if (row === undefined) return { state: emptyAssignments(), version: undefined };
    return { state: assignmentsFromStored(JSON.parse(row.state)), version: String(row.version) };
  }

  async saveAssignments(
    tenantId: string,
    state: TenantAssignments,
    expectedVersion: string | undefined,
    options?: { deleteCertificateId?: string },
  ): Promise<void> {
    const json = JSON.stringify(state);
    const write = this.db.transaction(() => {
      if (expectedVersion === undefined) {
        const inserted = this.stmts.insertAssignments.run({ tenantId, state: json });
        if (inserted.changes === 0) throw new ConcurrencyConflict();
      } else {
        const version = parseVersion(expectedVersion);
        if (version === undefined) throw new ConcurrencyConflict();
        const updated = this.stmts.updateAssignments.run({ tenantId, state: json, version });
        if (updated.changes === 0) throw new ConcurrencyConflict();
      }
      // Same transaction: the record goes only if the guarded state write above succeeded.
      if (options?.deleteCertificateId !== undefined) {
        this.stmts.deleteCertificate.run({ tenantId, id: options.deleteCertificateId });
      }
    });
    // IMMEDIATE takes the write lock up front, so another process cannot slip in between the
    // version check and the write (it waits on busy_timeout instead).
    write.immediate();
  }

  async *findDueForNotification(now: string, pageSize: number): AsyncGenerator<CertificateRecord[]> {
    const limit = Math.max(1, Math.floor(pageSize));
    let page = this.stmts.dueFirstPage.all({ now, limit }) as WholeCertificateRow[];
    while (page.length > 0) {
      const last = page[page.length - 1]!;
      // Read the whole page before yielding: the caller writes (advances cursors) between pages,
      // and keyset paging needs no statement left open across those writes.
      yield page.map(deserializeRecord);
      if (page.length < limit) return;
      page = this.stmts.dueNextPage.all({
        now,
        limit,
        afterNotifyAt: last.next_notify_at,
        afterTenantId: last.tenant_id,
        afterId: last.id,
      }) as WholeCertificateRow[];
    }
  }

  async addNotificationOnce(notification: ExpiryNotification): Promise<boolean> {
    const result = this.stmts.insertNotification.run({
      tenantId: notification.tenantId,
      certificateId: notification.certificateId,
      thresholdDays: notification.thresholdDays,
      kind: notification.kind,
      notAfter: notification.notAfter,
      createdAt: notification.createdAt,
      activeIn: JSON.stringify(notification.activeIn),
      replacementAvailable: notification.replacementAvailable ? 1 : 0,
    });
    return result.changes > 0;
  }

  async advanceExpiryCursor(
    tenantId: string,
    certificateId: string,
    expectedNextNotifyAt: string | null,
    update: ExpiryCursor,
  ): Promise<boolean> {
    const result = this.stmts.advanceCursor.run({
      tenantId,
      id: certificateId,
      expected: expectedNextNotifyAt,
      nextNotifyAt: update.nextNotifyAt,
      notifiedThresholdDays: update.notifiedThresholdDays,
    });
    return result.changes > 0;
  }

  async listNotifications(tenantId: string): Promise<ExpiryNotification[]> {
    const rows = this.stmts.listNotifications.all({ tenantId }) as NotificationRow[];
    return rows.map(notificationFromRow);
  }

  async pageNotifications(tenantId: string, page: PageRequest): Promise<Page<ExpiryNotification>> {
    const limit = pageLimit(page);
    let after: [string, number] = ['', -1];
    if (page.after !== undefined) {
      const value = parsePosition(page.after);
      if (!Array.isArray(value) || typeof value[0] !== 'string' || !Number.isSafeInteger(value[1]))
        throw invalidPosition();
      after = [value[0], value[1] as number];
    }
    const rows = this.stmts.pageNotifications.all({
      tenantId,
      afterCertificateId: after[0],
      afterThreshold: after[1],
      limit: limit + 1,
    }) as NotificationRow[];
    return pageOf(rows.map(notificationFromRow), limit, (n) =>
      JSON.stringify([n.certificateId, n.thresholdDays]),
    );
  }

  async appendAudit(entry: AuditEntry): Promise<void> {
    this.stmts.insertAudit.run({
      tenantId: entry.tenantId,
      at: entry.at,
      certificateId: entry.certificateId ?? null,
      entry: JSON.stringify(entry),
    });
  }

  async pageAudit(
    tenantId: string,
    page: PageRequest & { certificateId?: string | undefined },
  ): Promise<Page<AuditEntry>> {
    const limit = pageLimit(page);
    // Keyset on (at, seq), the order of both indexes; the first page starts above any entry.
    let after: [string, number] = ['\uffff', 0];
    if (page.after !== undefined) {
      const value = parsePosition(page.after);
      if (!Array.isArray(value) || typeof value[0] !== 'string' || !Number.isSafeInteger(value[1]))
        throw invalidPosition();
      after = [value[0], value[1] as number];
    }
    const params = { tenantId, afterAt: after[0], afterSeq: after[1], limit: limit + 1 };
    const rows = (
      page.certificateId === undefined
        ? this.stmts.pageAudit.all(params)
        : this.stmts.pageAuditByCertificate.all({ ...params, certificateId: page.certificateId })
    ) as { seq: number; at: string; entry: string }[];
    const more = rows.length > limit;
    const shown = rows.slice(0, limit);
    const last = shown[shown.length - 1];
    return {
      items: shown.map((row) => JSON.parse(row.entry) as AuditEntry),
      ...(more && last ? { next: JSON.stringify([last.at, last.seq]) } : {}),
    };
  }

  async listAudit(tenantId: string, limit: number): Promise<AuditEntry[]> {
    const rows = this.stmts.listAudit.all({ tenantId, limit: Math.max(0, Math.floor(limit)) }) as {
      entry: string;
    }[];
    return rows.map((row) => JSON.parse(row.entry) as AuditEntry);
  }

  // -------------------------------------------------------------------------------------------
  // Webhook outbox (NoticeOutbox): a pending delivery has a `next_attempt_at`; a delivered one
  // keeps its row with none, so a notice enqueued again (a scan re-run) is not sent twice.

  async getEscrowCertificate(tenantId: string): Promise<EscrowCertificate | undefined> {
    const row = this.stmts.getEscrowCertificate.get({ tenantId }) as { certificate: string } | undefined;
    return row === undefined ? undefined : { ...JSON.parse(row.certificate), tenantId };
  }

  async putEscrowCertificate(certificate: EscrowCertificate): Promise<void> {
    const { tenantId, ...rest } = certificate;
    this.stmts.putEscrowCertificate.run({ tenantId, certificate: JSON.stringify(rest) });
  }

  async putEscrowCopy(copy: EscrowCopy): Promise<void> {
    this.stmts.putEscrowCopy.run({
      tenantId: copy.tenantId,
      certificateId: copy.certificateId,
      fingerprint: copy.escrowFingerprintSha256,
      cms: copy.cms,
      sealedAt: copy.sealedAt,
    });
  }

  async listEscrowCopies(tenantId: string): Promise<EscrowCopy[]> {
    const rows = this.stmts.listEscrowCopies.all({ tenantId }) as {
      certificate_id: string;
      escrow_fingerprint: string;
      cms: Buffer;
      sealed_at: string;
    }[];
    return rows.map((r) => ({
      tenantId,
      certificateId: r.certificate_id,
      escrowFingerprintSha256: r.escrow_fingerprint,
      cms: r.cms,
      sealedAt: r.sealed_at,
    }));
  }

  async removeEscrowCopy(tenantId: string, certificateId: string): Promise<void> {
    this.stmts.removeEscrowCopy.run({ tenantId, certificateId });
  }

  private outbox: ReturnType<typeof prepareOutbox> | undefined;

  /** The outbox statements; the table is created on first use, by whichever process gets there. */
  private outboxStatements(): ReturnType<typeof prepareOutbox> {
    this.outbox ??= prepareOutbox(this.db);
    return this.outbox;
  }

  async enqueueDelivery(delivery: { id: string; body: string }, dueAt: string): Promise<void> {
    this.outboxStatements().enqueue.run({ id: delivery.id, body: delivery.body, dueAt });
  }

  async claimDueDeliveries(now: string, leaseUntil: string, limit: number): Promise<NoticeDelivery[]> {
    const stmts = this.outboxStatements();
    return this.db
      .transaction(() => {
        const rows = stmts.due.all({ now, limit: Math.max(0, Math.floor(limit)) }) as {
          id: string;
          body: string;
          attempts: number;
        }[];
        for (const row of rows) stmts.lease.run({ id: row.id, leaseUntil });
        return rows.map((row) => ({ id: row.id, body: row.body, attempts: row.attempts }));
      })
      .immediate();
  }

  async markDelivered(id: string, at: string): Promise<void> {
    this.outboxStatements().delivered.run({ id, at });
  }

  async scheduleRetry(id: string, attempts: number, nextAttemptAt: string, lastError: string): Promise<void> {
    this.outboxStatements().retry.run({ id, attempts, nextAttemptAt, lastError: lastError.slice(0, 500) });
  }
}

function prepareOutbox(db: Database.Database) {
  db.exec(`
    CREATE TABLE IF NOT EXISTS notice_outbox (
      id TEXT PRIMARY KEY,
      body TEXT NOT NULL,
      attempts INTEGER NOT NULL DEFAULT 0,
      next_attempt_at TEXT,
      delivered_at TEXT,
      last_error TEXT
    );
    CREATE INDEX IF NOT EXISTS notice_outbox_due ON notice_outbox (next_attempt_at)
      WHERE next_attempt_at IS NOT NULL;
  `);
  return {
    enqueue: db.prepare(
      'INSERT OR IGNORE INTO notice_outbox (id, body, next_attempt_at) VALUES (@id, @body, @dueAt)',
    ),
    due: db.prepare(
      `SELECT id, body, attempts FROM notice_outbox
        WHERE next_attempt_at IS NOT NULL AND next_attempt_at <= @now
        ORDER BY next_attempt_at, id LIMIT @limit`,
    ),
    lease: db.prepare('UPDATE notice_outbox SET next_attempt_at = @leaseUntil WHERE id = @id'),
    delivered: db.prepare(
      'UPDATE notice_outbox SET next_attempt_at = NULL, delivered_at = @at, last_error = NULL WHERE id = @id',
    ),
    retry: db.prepare(
      `UPDATE notice_outbox SET attempts = @attempts, next_attempt_at = @nextAttemptAt, last_error = @lastError
        WHERE id = @id AND next_attempt_at IS NOT NULL`,
    ),
  };
}

/** A store page holds at least one item; callers bound the upper end. */
function pageLimit(page: PageRequest): number {
  return Math.max(1, Math.floor(page.limit));
}

function parsePosition(position: string): unknown {
  try {
    return JSON.parse(position);
  } catch {
    throw invalidPosition();
  }
}

function positionString(position: string): string {
  if (position.length === 0 || position.length > 1024) throw invalidPosition();
  return position;
}

/** The first `limit` of `rows` (read with one extra), and the position after them if more follow. */
function pageOf<T>(rows: T[], limit: number, positionOf: (item: T) => string): Page<T> {
  const items = rows.slice(0, limit);
  const last = items[items.length - 1];
  return { items, ...(rows.length > limit && last !== undefined ? { next: positionOf(last) } : {}) };
}

/**
 * Brings the schema to {@link SCHEMA_VERSION}: each pending step and its `user_version` bump run in
 * one IMMEDIATE transaction, so a crash or a second process opening the file at the same time
 * never leaves a half-applied step.
 */
function migrate(db: Database.Database): void {
  const current = db.pragma('user_version', { simple: true }) as number;
  if (current > SCHEMA_VERSION) {
    throw new Error(
      `The database schema is version ${current}, newer than this reccert understands (${SCHEMA_VERSION}); upgrade reccert.`,
    );
  }
  for (const step of MIGRATIONS) {
    if (step.version <= current) continue;
    db.transaction(() => {
      // Re-read under the write lock: another process may have applied this step meanwhile.
      const now = db.pragma('user_version', { simple: true }) as number;
      if (now >= step.version) return;
      db.exec(step.sql);
      db.pragma(`user_version = ${step.version}`);
    }).immediate();
  }
}

function prepareStatements(db: Database.Database) {
  const summaryColumns = 'tenant_id, id, next_notify_at, notified_threshold_days, record';
  const columns = `${summaryColumns}, certificate_pem`;
  const notificationColumns =
    'tenant_id, certificate_id, threshold_days, kind, not_after, created_at, active_in, replacement_available';
  return {
    getEscrowCertificate: db.prepare(
      'SELECT certificate FROM escrow_certificates WHERE tenant_id = @tenantId',
    ),
    putEscrowCertificate: db.prepare(
      `INSERT INTO escrow_certificates (tenant_id, certificate) VALUES (@tenantId, @certificate)
       ON CONFLICT (tenant_id) DO UPDATE SET certificate = excluded.certificate`,
    ),
    putEscrowCopy: db.prepare(
      `INSERT INTO escrow_copies (tenant_id, certificate_id, escrow_fingerprint, cms, sealed_at)
       VALUES (@tenantId, @certificateId, @fingerprint, @cms, @sealedAt)
       ON CONFLICT (tenant_id, certificate_id) DO UPDATE SET escrow_fingerprint = excluded.escrow_fingerprint,
         cms = excluded.cms, sealed_at = excluded.sealed_at`,
    ),
    listEscrowCopies: db.prepare(
      `SELECT certificate_id, escrow_fingerprint, cms, sealed_at FROM escrow_copies
       WHERE tenant_id = @tenantId ORDER BY certificate_id`,
    ),
    removeEscrowCopy: db.prepare(
      'DELETE FROM escrow_copies WHERE tenant_id = @tenantId AND certificate_id = @certificateId',
    ),
    insertCertificate: db.prepare(
      `INSERT INTO certificates (tenant_id, id, uploaded_at, next_notify_at, notified_threshold_days, record,
         certificate_pem)
       VALUES (@tenantId, @id, @uploadedAt, @nextNotifyAt, @notifiedThresholdDays, @record, @certificatePem)`,
    ),
    getCertificate: db.prepare(
      `SELECT ${columns} FROM certificates WHERE tenant_id = @tenantId AND id = @id`,
    ),
    listCertificates: db.prepare(
      `SELECT ${columns} FROM certificates WHERE tenant_id = @tenantId ORDER BY uploaded_at, id`,
    ),
    // Keyset paging on the primary key (tenant_id, id): no OFFSET, each page one index range.
    // (An `@after IS NULL OR` in one statement would cost the range on id.)
    pageCertificates: db.prepare(
      `SELECT ${summaryColumns} FROM certificates
       WHERE tenant_id = @tenantId AND id > @after ORDER BY id LIMIT @limit`,
    ),
    deleteCertificate: db.prepare('DELETE FROM certificates WHERE tenant_id = @tenantId AND id = @id'),
    getAssignments: db.prepare('SELECT state, version FROM assignments WHERE tenant_id = @tenantId'),
    insertAssignments: db.prepare(
      'INSERT INTO assignments (tenant_id, state, version) VALUES (@tenantId, @state, 1) ON CONFLICT DO NOTHING',
    ),
    updateAssignments: db.prepare(
      `UPDATE assignments SET state = @state, version = version + 1
       WHERE tenant_id = @tenantId AND version = @version`,
    ),
    // Both due queries range over the partial index certificates_due only: the scan touches due
    // rows and never the (possibly millions of) certificates that are not due yet.
    dueFirstPage: db.prepare(
      `SELECT ${columns} FROM certificates INDEXED BY certificates_due
       WHERE next_notify_at IS NOT NULL AND next_notify_at <= @now
       ORDER BY next_notify_at, tenant_id, id LIMIT @limit`,
    ),
    dueNextPage: db.prepare(
      `SELECT ${columns} FROM certificates INDEXED BY certificates_due
       WHERE next_notify_at IS NOT NULL AND next_notify_at <= @now
         AND (next_notify_at, tenant_id, id) > (@afterNotifyAt, @afterTenantId, @afterId)
       ORDER BY next_notify_at, tenant_id, id LIMIT @limit`,
    ),
    insertNotification: db.prepare(
      `INSERT INTO notifications (tenant_id, certificate_id, threshold_days, kind, not_after, created_at,
         active_in, replacement_available)
       VALUES (@tenantId, @certificateId, @thresholdDays, @kind, @notAfter, @createdAt,
         @activeIn, @replacementAvailable)
       ON CONFLICT (tenant_id, certificate_id, threshold_days) DO NOTHING`,
    ),
    advanceCursor: db.prepare(
      `UPDATE certificates SET next_notify_at = @nextNotifyAt, notified_threshold_days = @notifiedThresholdDays
       WHERE tenant_id = @tenantId AND id = @id AND next_notify_at IS @expected`,
    ),
    listNotifications: db.prepare(
      `SELECT ${notificationColumns} FROM notifications
       WHERE tenant_id = @tenantId ORDER BY created_at DESC, seq DESC`,
    ),
    pageNotifications: db.prepare(
      `SELECT ${notificationColumns} FROM notifications
       WHERE tenant_id = @tenantId AND (certificate_id, threshold_days) > (@afterCertificateId, @afterThreshold)
       ORDER BY certificate_id, threshold_days LIMIT @limit`,
    ),
    insertAudit: db.prepare(
      'INSERT INTO audit (tenant_id, at, certificate_id, entry) VALUES (@tenantId, @at, @certificateId, @entry)',
    ),
    pageAudit: db.prepare(
      `SELECT seq, at, entry FROM audit INDEXED BY audit_by_tenant
       WHERE tenant_id = @tenantId AND (at, seq) < (@afterAt, @afterSeq)
       ORDER BY at DESC, seq DESC LIMIT @limit`,
    ),
    pageAuditByCertificate: db.prepare(
      `SELECT seq, at, entry FROM audit INDEXED BY audit_by_certificate
       WHERE tenant_id = @tenantId AND certificate_id = @certificateId AND (at, seq) < (@afterAt, @afterSeq)
       ORDER BY at DESC, seq DESC LIMIT @limit`,
    ),
    listAudit: db.prepare(
      'SELECT entry FROM audit WHERE tenant_id = @tenantId ORDER BY at DESC, seq DESC LIMIT @limit',
    ),
  };
}

/**
 * The keys and the expiry cursor live in their own columns (indexed; the cursor is updated alone)
 * and the columns win over the JSON, which holds the rest of the record.
 */
function serializeRecord(record: CertificateRecord): string {
  const { tenantId: _tenant, id: _id, certificatePem: _pem, ...rest } = splitExpiryCursor(record).rest;
  return JSON.stringify(rest);
}

function deserializeRecord(row: WholeCertificateRow): CertificateRecord {
  const rest = JSON.parse(row.record) as Omit<RecordWithoutCursor, 'tenantId' | 'id' | 'certificatePem'>;
  return joinExpiryCursor(
    { ...rest, certificatePem: row.certificate_pem, tenantId: row.tenant_id, id: row.id },
    { nextNotifyAt: row.next_notify_at, notifiedThresholdDays: row.notified_threshold_days },
  );
}

/**
 * A list row: the parsed JSON is the summary, completed in place rather than copied twice as
 * `deserializeRecord` does, since a list page builds many; the cursor columns win as there.
 */
function deserializeSummary(row: CertificateRow): CertificateSummary {
  const summary = JSON.parse(row.record) as CertificateSummary;
  summary.tenantId = row.tenant_id;
  summary.id = row.id;
  summary.nextNotifyAt = row.next_notify_at;
  summary.notifiedThresholdDays = row.notified_threshold_days;
  return summary;
}

function notificationFromRow(row: NotificationRow): ExpiryNotification {
  return {
    tenantId: row.tenant_id,
    certificateId: row.certificate_id,
    kind: row.kind,
    thresholdDays: row.threshold_days,
    notAfter: row.not_after,
    createdAt: row.created_at,
    activeIn: activeInFromStored(row.active_in === null ? null : JSON.parse(row.active_in)),
    replacementAvailable: row.replacement_available === 1,
  };
}

/** Version tokens are decimal strings of the row's integer version; anything else never matches. */
function parseVersion(token: string): number | undefined {
  if (!/^[1-9][0-9]{0,15}$/.test(token)) return undefined;
  const value = Number(token);
  return Number.isSafeInteger(value) ? value : undefined;
}

/**
 * True when `error` is SQLite's constraint failure `code`. Matches on the code, not the class:
 * the native addon keeps the SqliteError class (and the realm's Error) of the first module
 * instance that loaded it, so `instanceof` fails across module registries and VM contexts.
 */
export function isConstraint(error: unknown, code: string): boolean {
  return typeof error === 'object' && error !== null && (error as { code?: unknown }).code === code;
}

/** chmod 0600 (files under DATA_DIR are the owner's alone); a file that is not there is skipped. */
function restrictToOwner(file: string): void {
  try {
    fs.chmodSync(file, 0o600);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw error;
  }
}
