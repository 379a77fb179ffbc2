import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import vm from 'node:vm';
import Database from 'better-sqlite3';
import {
  isConstraint,
  MIGRATIONS,
  SCHEMA_VERSION,
  SqliteCertificateRepository,
} from '../../functions/local/sqlite-repository';
import { ConcurrencyConflict } from '../../shared/errors';
import { emptyAssignments } from '../../shared/ports';
import { describeEscrowStoreContract } from '../ports/escrow-store-contract';
import { makeAuditEntry, makeNotification, makeRecord } from '../ports/fixtures';
import { describeRepositoryContract } from '../ports/repository-contract';

function tempDir(): string {
  return fs.mkdtempSync(path.join(os.tmpdir(), 'reccert-sqlite-'));
}

describeRepositoryContract('SQLite', async () => {
  const dir = tempDir();
  const repo = new SqliteCertificateRepository(path.join(dir, 'reccert.db'));
  return {
    repo,
    cleanup: async () => {
      repo.close();
      fs.rmSync(dir, { recursive: true, force: true });
    },
  };
});

describeEscrowStoreContract('SQLite', async () => {
  const dir = tempDir();
  const store = new SqliteCertificateRepository(path.join(dir, 'reccert.db'));
  return {
    store,
    cleanup: async () => {
      store.close();
      fs.rmSync(dir, { recursive: true, force: true });
    },
  };
});

describe('SqliteCertificateRepository', () => {
  let dir: string;
  let file: string;
  const open: SqliteCertificateRepository[] = [];

  function openRepo(target: string | Database.Database = file): SqliteCertificateRepository {
    const repo = new SqliteCertificateRepository(target);
    open.push(repo);
    return repo;
  }

  beforeEach(() => {
    dir = tempDir();
    file = path.join(dir, 'data', 'reccert.db');
  });

  afterEach(() => {
    for (const repo of open.splice(0)) repo.close();
    fs.rmSync(dir, { recursive: true, force: true });
  });

  it('creates a missing data folder, readable by the owner only', () => {
    openRepo();

    expect(fs.statSync(path.dirname(file)).mode & 0o777).toBe(0o700);
  });

  it('opens in WAL mode with NORMAL sync, foreign keys and a busy timeout', () => {
    fs.mkdirSync(path.dirname(file), { recursive: true });
    const db = new Database(file);

    openRepo(db);

    expect(db.pragma('journal_mode', { simple: true })).toBe('wal');
    expect(db.pragma('synchronous', { simple: true })).toBe(1);
    expect(db.pragma('foreign_keys', { simple: true })).toBe(1);
    expect(db.pragma('busy_timeout', { simple: true })).toBeGreaterThan(0);
    db.close();
  });

  it('applies every migration once and is idempotent on reopen', () => {
    const first = openRepo();
    expect(first.schemaVersion()).toBe(SCHEMA_VERSION);
    expect(SCHEMA_VERSION).toBe(MIGRATIONS.length);
    first.close();

    const second = openRepo();

    expect(second.schemaVersion()).toBe(SCHEMA_VERSION);
  });

  it('refuses a database written by a newer schema', () => {
    fs.mkdirSync(path.dirname(file), { recursive: true });
    const db = new Database(file);
    db.pragma(`user_version = ${SCHEMA_VERSION + 1}`);
    db.close();

    expect(() => openRepo()).toThrow(/newer than this reccert understands/);
  });

  it('keeps everything across close and reopen', async () => {
    const record = makeRecord({ tenantId: 'acme' });
    const notification = makeNotification({ tenantId: 'acme', certificateId: record.id });
    const entry = makeAuditEntry({ tenantId: 'acme', certificateId: record.id, details: { force: true } });
    const state = emptyAssignments();
    state.screen.certificateIds.push(record.id);
    const before = openRepo();
    await before.createCertificate(record);
    await before.saveAssignments('acme', state, undefined);
    await before.addNotificationOnce(notification);
    await before.appendAudit(entry);
    const { version } = await before.getAssignments('acme');
    before.close();

    const after = openRepo();

    expect(await after.getCertificate('acme', record.id)).toEqual(record);
    expect(await after.getAssignments('acme')).toEqual({ state, version });
    expect(await after.listNotifications('acme')).toEqual([notification]);
    expect(await after.listAudit('acme', 10)).toEqual([entry]);
    expect(await after.addNotificationOnce(notification)).toBe(false);
  });

  it('shares state and version checks between two connections on one file', async () => {
    const one = openRepo();
    const two = openRepo();
    await one.saveAssignments('acme', emptyAssignments(), undefined);
    const { version } = await two.getAssignments('acme');

    await one.saveAssignments('acme', emptyAssignments(), version);

    await expect(two.saveAssignments('acme', emptyAssignments(), version)).rejects.toBeInstanceOf(
      ConcurrencyConflict,
    );
  });

  it.each(['abc', '0', '-1', '1.5', '', '99999999999999999999'])(
    'treats the malformed version token %p as a conflict',
    async (token) => {
      const repo = openRepo();
      await repo.saveAssignments('acme', emptyAssignments(), undefined);

      await expect(repo.saveAssignments('acme', emptyAssignments(), token)).rejects.toBeInstanceOf(
        ConcurrencyConflict,
      );
    },
  );

  it('finds audit entries written under schema 1 by certificate once migrated', async () => {
    fs.mkdirSync(path.dirname(file), { recursive: true });
    const db = new Database(file);
    db.exec(MIGRATIONS[0]!.sql);
    db.pragma('user_version = 1');
    const old = makeAuditEntry({ tenantId: 'acme', certificateId: 'cert-old' });
    db.prepare('INSERT INTO audit (tenant_id, at, entry) VALUES (?, ?, ?)').run(
      'acme',
      old.at,
      JSON.stringify(old),
    );
    db.close();

    const repo = openRepo();

    expect(await repo.pageAudit('acme', { limit: 10, certificateId: 'cert-old' })).toEqual({ items: [old] });
  });

  it('reads notices written under schema 2 as active nowhere with no replacement known, once migrated', async () => {
    fs.mkdirSync(path.dirname(file), { recursive: true });
    const db = new Database(file);
    for (const step of MIGRATIONS.slice(0, 2)) db.exec(step.sql);
    db.pragma('user_version = 2');
    const { activeIn: _a, replacementAvailable: _r, ...old } = makeNotification({ tenantId: 'acme' });
    db.prepare(
      `INSERT INTO notifications (tenant_id, certificate_id, threshold_days, kind, not_after, created_at)
       VALUES (@tenantId, @certificateId, @thresholdDays, @kind, @notAfter, @createdAt)`,
    ).run(old);
    db.close();

    const repo = openRepo();

    expect(await repo.listNotifications('acme')).toEqual([
      { ...old, activeIn: { ivrProfiles: [], screenRecording: false }, replacementAvailable: false },
    ]);
  });

  it('reads certificates written under schema 4 whole once migrated, and lists them without reading the PEM', async () => {
    fs.mkdirSync(path.dirname(file), { recursive: true });
    const db = new Database(file);
    for (const step of MIGRATIONS.slice(0, 4)) db.exec(step.sql);
    db.pragma('user_version = 4');
    const old = makeRecord({ tenantId: 'acme', id: 'cert-old', keyId: 'key-1' });
    const { tenantId: _t, id: _i, nextNotifyAt, notifiedThresholdDays, ...rest } = old;
    db.prepare(
      `INSERT INTO certificates (tenant_id, id, uploaded_at, next_notify_at, notified_threshold_days, record)
       VALUES (?, ?, ?, ?, ?, ?)`,
    ).run('acme', 'cert-old', old.uploadedAt, nextNotifyAt, notifiedThresholdDays, JSON.stringify(rest));
    db.close();

    const repo = openRepo();
    const stored = new Database(file, { readonly: true });
    const row = stored.prepare('SELECT record, certificate_pem FROM certificates').get() as {
      record: string;
      certificate_pem: string;
    };
    stored.close();
    const { certificatePem: _pem, ...summary } = old;

    expect(await repo.getCertificate('acme', 'cert-old')).toEqual(old);
    expect(await repo.listCertificates('acme')).toEqual([old]);
    expect(await repo.pageCertificates('acme', { limit: 10 })).toEqual({ items: [summary] });
    expect(row.certificate_pem).toBe(old.certificatePem);
    expect(row.record).not.toContain('BEGIN CERTIFICATE');
  });

  it('orders audit entries with the same timestamp newest first', async () => {
    const repo = openRepo();
    const at = '2026-01-01T00:00:00.000Z';
    const entries = ['a', 'b', 'c'].map((id) => makeAuditEntry({ id, tenantId: 'acme', at }));
    for (const entry of entries) await repo.appendAudit(entry);

    expect((await repo.listAudit('acme', 10)).map((e) => e.id)).toEqual(['c', 'b', 'a']);
  });

  it('plans both due-scan queries as range searches of the partial expiry index', () => {
    openRepo();
    const db = new Database(file, { readonly: true });
    const plan = (sql: string) =>
      (
        db.prepare(`EXPLAIN QUERY PLAN ${sql}`).all({ now: 'x', limit: 1, a: 'a', b: 'b', c: 'c' }) as {
          detail: string;
        }[]
      ).map((row) => row.detail);
    const where = 'next_notify_at IS NOT NULL AND next_notify_at <= @now';

    const first = plan(
      `SELECT * FROM certificates WHERE ${where} ORDER BY next_notify_at, tenant_id, id LIMIT @limit`,
    );
    const next = plan(
      `SELECT * FROM certificates WHERE ${where} AND (next_notify_at, tenant_id, id) > (@a, @b, @c)
       ORDER BY next_notify_at, tenant_id, id LIMIT @limit`,
    );
    db.close();

    for (const detail of [first, next]) {
      expect(detail).toEqual([expect.stringMatching(/^SEARCH certificates USING INDEX certificates_due \(/)]);
    }
  });

  it('plans the list pages as keyset range searches of an index, never a scan or a sort', () => {
    openRepo();
    const db = new Database(file, { readonly: true });
    const plan = (sql: string) =>
      (
        db.prepare(`EXPLAIN QUERY PLAN ${sql}`).all({ t: 't', c: 'c', a: 'a', n: 1, limit: 1 }) as {
          detail: string;
        }[]
      ).map((row) => row.detail);

    const audit = plan(
      `SELECT entry FROM audit WHERE tenant_id = @t AND (at, seq) < (@a, @n) ORDER BY at DESC, seq DESC LIMIT @limit`,
    );
    const byCertificate = plan(
      `SELECT entry FROM audit WHERE tenant_id = @t AND certificate_id = @c AND (at, seq) < (@a, @n)
       ORDER BY at DESC, seq DESC LIMIT @limit`,
    );
    const certificates = plan(
      'SELECT record FROM certificates WHERE tenant_id = @t AND id > @a ORDER BY id LIMIT @limit',
    );
    const notifications = plan(
      `SELECT kind FROM notifications WHERE tenant_id = @t AND (certificate_id, threshold_days) > (@c, @n)
       ORDER BY certificate_id, threshold_days LIMIT @limit`,
    );
    db.close();

    expect(audit).toEqual([
      expect.stringMatching(/^SEARCH audit USING INDEX audit_by_tenant \(tenant_id=\? AND /),
    ]);
    expect(byCertificate).toEqual([
      expect.stringMatching(
        /^SEARCH audit USING INDEX audit_by_certificate \(tenant_id=\? AND certificate_id=\? AND /,
      ),
    ]);
    expect(certificates).toEqual([
      expect.stringMatching(
        /^SEARCH certificates USING INDEX sqlite_autoindex_certificates_1 \(tenant_id=\? AND id>\?\)$/,
      ),
    ]);
    expect(notifications).toEqual([
      expect.stringMatching(
        /^SEARCH notifications USING INDEX sqlite_autoindex_notifications_1 \(tenant_id=\? AND /,
      ),
    ]);
  });

  it('scans the due certificates among 100,000 without reading the others', async () => {
    fs.mkdirSync(path.dirname(file), { recursive: true });
    const db = new Database(file);
    const repo = openRepo(db);
    const insert = db.prepare(
      `INSERT INTO certificates (tenant_id, id, uploaded_at, next_notify_at, notified_threshold_days, record)
       VALUES (?, ?, ?, ?, NULL, ?)`,
    );
    const template = JSON.stringify(makeRecord());
    db.transaction(() => {
      for (let i = 0; i < 100_000; i++) {
        const due = i % 1000 === 0;
        const nextNotifyAt = due
          ? '2026-01-01T00:00:00.000Z'
          : i % 2 === 0
            ? '2030-01-01T00:00:00.000Z'
            : null;
        insert.run(`t${i % 97}`, `c${i}`, '2025-01-01T00:00:00.000Z', nextNotifyAt, template);
      }
    })();
    const started = process.hrtime.bigint();
    const found: string[] = [];
    let pages = 0;
    for await (const page of repo.findDueForNotification('2026-06-01T00:00:00.000Z', 30)) {
      found.push(...page.map((r) => `${r.tenantId}/${r.id}`));
      pages++;
    }
    const elapsedMs = Number(process.hrtime.bigint() - started) / 1e6;

    expect(found.sort()).toEqual(
      Array.from({ length: 100 }, (_, k) => `t${(k * 1000) % 97}/c${k * 1000}`).sort(),
    );
    expect(pages).toBe(4);
    // Generous bound for a loaded CI box; a full table scan of 100k JSON rows is far slower.
    expect(elapsedMs).toBeLessThan(250);
  });

  it('regression: duplicate upload answered 503 when SqliteError came from another realm: recognises a constraint error whose class and Error prototype belong to another context', () => {
    const foreign: unknown = vm.runInNewContext(
      'Object.assign(new Error("UNIQUE constraint failed"), { code: "SQLITE_CONSTRAINT_PRIMARYKEY" })',
    );
    expect(foreign instanceof Error).toBe(false);
    expect(isConstraint(foreign, 'SQLITE_CONSTRAINT_PRIMARYKEY')).toBe(true);
    expect(isConstraint(foreign, 'SQLITE_CONSTRAINT_UNIQUE')).toBe(false);
    expect(isConstraint(new Error('disk I/O error'), 'SQLITE_CONSTRAINT_PRIMARYKEY')).toBe(false);
  });
});
