/**
 * The behaviour every `CertificateRepository` adapter must show (SQLite, DynamoDB, Table storage).
 * It talks only to the port, and each test uses fresh random tenant ids, so it also holds when the
 * factory hands out one store shared between tests.
 */

import { profileOf } from '../../shared/domain/assignments';
import type { AuditEntry, CertificateRecord, TenantAssignments } from '../../shared/domain/types';
import { AlreadyExists, ConcurrencyConflict, ValidationError } from '../../shared/errors';
import { type CertificateRepository, emptyAssignments, type Page } from '../../shared/ports';
import { makeAuditEntry, makeNotification, makeRecord, uniqueTenantId } from './fixtures';

/** What a contract run needs from an adapter: a repository and a way to dispose of it. */
export type RepositoryFactory = () => Promise<{ repo: CertificateRepository; cleanup(): Promise<void> }>;

/** Declares the repository contract suite for one adapter. */
export function describeRepositoryContract(name: string, factory: RepositoryFactory): void {
  describe(`CertificateRepository contract: ${name}`, () => {
    let repo: CertificateRepository;
    let cleanup: () => Promise<void>;
    let tenantA: string;
    let tenantB: string;

    beforeEach(async () => {
      ({ repo, cleanup } = await factory());
      tenantA = uniqueTenantId('ta');
      tenantB = uniqueTenantId('tb');
    });

    afterEach(async () => {
      await cleanup();
    });

    describe('certificates', () => {
      it('returns a created record exactly as it was written', async () => {
        const record = makeRecord({
          tenantId: tenantA,
          keyId: 'https://vault.example/keys/rec/1',
          warnings: [{ code: 'EXPIRES_SOON', message: 'Expires in 12 days.' }],
          notifiedThresholdDays: 30,
          subjectDN: 'CN=Zürich Ops,O=Müller \\+ Söhne,C=CH',
        });

        await repo.createCertificate(record);

        expect(await repo.getCertificate(tenantA, record.id)).toEqual(record);
      });

      it('returns undefined for an unknown certificate', async () => {
        expect(await repo.getCertificate(tenantA, 'no-such-certificate')).toBeUndefined();
      });

      it('lists a tenant’s certificates by uploadedAt, then id', async () => {
        const records = [
          makeRecord({ tenantId: tenantA, id: 'c-late', uploadedAt: '2025-03-01T00:00:00.000Z' }),
          makeRecord({ tenantId: tenantA, id: 'b-tie', uploadedAt: '2025-02-01T00:00:00.000Z' }),
          makeRecord({ tenantId: tenantA, id: 'z-early', uploadedAt: '2025-01-01T00:00:00.000Z' }),
          makeRecord({ tenantId: tenantA, id: 'a-tie', uploadedAt: '2025-02-01T00:00:00.000Z' }),
        ];
        for (const record of records) await repo.createCertificate(record);

        const listed = await repo.listCertificates(tenantA);

        expect(listed.map((r) => r.id)).toEqual(['z-early', 'a-tie', 'b-tie', 'c-late']);
        expect(listed[0]).toEqual(records[2]);
      });

      it('throws AlreadyExists on a duplicate id and keeps the first record', async () => {
        const first = makeRecord({ tenantId: tenantA, alias: 'first' });
        await repo.createCertificate(first);

        await expect(repo.createCertificate({ ...first, alias: 'second' })).rejects.toBeInstanceOf(
          AlreadyExists,
        );

        expect(await repo.getCertificate(tenantA, first.id)).toEqual(first);
      });

      it('lets two tenants hold the same certificate id', async () => {
        const a = makeRecord({ tenantId: tenantA, id: 'shared-id', alias: 'a' });
        const b = makeRecord({ tenantId: tenantB, id: 'shared-id', alias: 'b' });

        await repo.createCertificate(a);
        await repo.createCertificate(b);

        expect(await repo.getCertificate(tenantA, 'shared-id')).toEqual(a);
        expect(await repo.getCertificate(tenantB, 'shared-id')).toEqual(b);
      });

      it('removes a certificate, and removing a missing one is not an error', async () => {
        const record = makeRecord({ tenantId: tenantA });
        await repo.createCertificate(record);

        await repo.removeCertificate(tenantA, record.id);
        await repo.removeCertificate(tenantA, record.id);

        expect(await repo.getCertificate(tenantA, record.id)).toBeUndefined();
        expect(await repo.listCertificates(tenantA)).toEqual([]);
      });
    });

    describe('paging', () => {
      it('pages through a tenant’s certificates in id order, each exactly once', async () => {
        const ids = Array.from({ length: 7 }, (_, i) => `cert-${String.fromCharCode(103 - i)}${i}`);
        for (const id of ids) await repo.createCertificate(makeRecord({ tenantId: tenantA, id }));
        await repo.createCertificate(makeRecord({ tenantId: tenantB, id: 'cert-b-other' }));

        const seen = await walk((after) => repo.pageCertificates(tenantA, { limit: 3, after }));

        expect(seen.pages).toEqual([3, 3, 1]);
        expect(seen.items.map((r) => r.id)).toEqual([...ids].sort());
      });

      it('pages certificates with every field of the record but the PEM, which it may leave out', async () => {
        const record = makeRecord({ tenantId: tenantA, keyId: 'vault-key-1', nextNotifyAt: null });
        await repo.createCertificate(record);
        const { certificatePem: _pem, ...summary } = record;

        const page = await repo.pageCertificates(tenantA, { limit: 10 });

        expect(page.items).toHaveLength(1);
        expect(page.items[0]).toMatchObject(summary);
      });

      it('pages notifications, each exactly once', async () => {
        for (let i = 0; i < 5; i++) {
          await repo.addNotificationOnce(
            makeNotification({ tenantId: tenantA, certificateId: `cert-${i}`, thresholdDays: 30 }),
          );
          await repo.addNotificationOnce(
            makeNotification({ tenantId: tenantA, certificateId: `cert-${i}`, thresholdDays: 7 }),
          );
        }

        const seen = await walk((after) => repo.pageNotifications(tenantA, { limit: 4, after }));

        expect(seen.pages).toEqual([4, 4, 2]);
        const keys = seen.items.map((n) => `${n.certificateId}/${n.thresholdDays}`);
        expect(new Set(keys).size).toBe(10);
      });

      it('pages the audit trail newest first, each entry exactly once', async () => {
        const entries = Array.from({ length: 11 }, (_, i) =>
          makeAuditEntry({ tenantId: tenantA, at: `2026-02-01T00:00:${String(i).padStart(2, '0')}.000Z` }),
        );
        for (const entry of entries) await repo.appendAudit(entry);

        const seen = await walk((after) => repo.pageAudit(tenantA, { limit: 4, after }));

        expect(seen.pages).toEqual([4, 4, 3]);
        expect(seen.items).toEqual([...entries].reverse());
      });

      it('pages one certificate’s audit entries, newest first, among other certificates’ entries', async () => {
        const mine: AuditEntry[] = [];
        for (let i = 0; i < 10; i++) {
          const entry = makeAuditEntry({
            tenantId: tenantA,
            at: `2026-02-01T00:00:${String(i).padStart(2, '0')}.000Z`,
            certificateId: i % 2 === 0 ? 'cert-mine' : `cert-other-${i}`,
          });
          await repo.appendAudit(entry);
          if (entry.certificateId === 'cert-mine') mine.push(entry);
        }
        await repo.appendAudit(makeAuditEntry({ tenantId: tenantB, certificateId: 'cert-mine' }));

        const seen = await walk((after) =>
          repo.pageAudit(tenantA, { limit: 2, after, certificateId: 'cert-mine' }),
        );

        expect(seen.pages).toEqual([2, 2, 1]);
        expect(seen.items).toEqual([...mine].reverse());
        expect((await repo.listAudit(tenantA, 100)).length).toBe(10);
      });

      it('finds a certificate’s audit entry older than 1,000 newer entries of other certificates', async () => {
        const old = makeAuditEntry({
          tenantId: tenantA,
          at: '2026-01-01T00:00:00.000Z',
          certificateId: 'cert-old',
        });
        await repo.appendAudit(old);
        const newer = Array.from({ length: 1000 }, (_, i) =>
          makeAuditEntry({
            tenantId: tenantA,
            at: new Date(Date.parse('2026-01-02T00:00:00.000Z') + i * 1000).toISOString(),
            certificateId: `cert-${i % 50}`,
          }),
        );
        for (let i = 0; i < newer.length; i += 50) {
          await Promise.all(newer.slice(i, i + 50).map((entry) => repo.appendAudit(entry)));
        }

        const page = await repo.pageAudit(tenantA, { limit: 10, certificateId: 'cert-old' });
        const latest = await repo.pageAudit(tenantA, { limit: 1 });

        expect(page).toEqual({ items: [old] });
        expect(latest.items[0]?.at).toBe(newer[999]?.at);
        expect(latest.next).toEqual(expect.any(String));
      }, 300_000);

      it('never reads another tenant’s items from a position, and refuses positions it cannot have made', async () => {
        for (let i = 0; i < 3; i++) {
          await repo.createCertificate(makeRecord({ tenantId: tenantA, id: `cert-${i}` }));
          await repo.appendAudit(makeAuditEntry({ tenantId: tenantA, certificateId: 'cert-0' }));
        }
        const certs = await repo.pageCertificates(tenantA, { limit: 1 });
        const audit = await repo.pageAudit(tenantA, { limit: 1 });
        const hostile = ['', '{', '[1,2,3]', '"x"', 'AUDIT#', '\u0000', '%', "x' or true", 'z'.repeat(2000)];

        expect(await repo.pageCertificates(tenantB, { limit: 10, after: certs.next })).toEqual({ items: [] });
        expect(await repo.pageAudit(tenantB, { limit: 10, after: audit.next })).toEqual({ items: [] });
        for (const after of hostile) {
          for (const read of [
            () => repo.pageCertificates(tenantB, { limit: 10, after }),
            () => repo.pageNotifications(tenantB, { limit: 10, after }),
            () => repo.pageAudit(tenantB, { limit: 10, after }),
            () => repo.pageAudit(tenantB, { limit: 10, after, certificateId: 'cert-0' }),
          ]) {
            // Either refused as the caller's mistake, or read from tenant B's (empty) data only.
            const outcome = await read().catch((error: unknown) => error);
            if (outcome instanceof ValidationError) expect(outcome.code).toBe('VALIDATION_ERROR');
            else expect(outcome).toEqual({ items: [] });
          }
        }
      });
    });

    describe('tenant isolation', () => {
      it('never shows tenant A’s data to tenant B', async () => {
        const record = makeRecord({ tenantId: tenantA });
        await repo.createCertificate(record);
        await repo.saveAssignments(tenantA, stateWithProfile('record', record.id), undefined);
        await repo.addNotificationOnce(makeNotification({ tenantId: tenantA, certificateId: record.id }));
        await repo.appendAudit(makeAuditEntry({ tenantId: tenantA, certificateId: record.id }));

        expect(await repo.getCertificate(tenantB, record.id)).toBeUndefined();
        expect(await repo.listCertificates(tenantB)).toEqual([]);
        expect(await repo.getAssignments(tenantB)).toEqual({ state: emptyAssignments(), version: undefined });
        expect(await repo.listNotifications(tenantB)).toEqual([]);
        expect(await repo.listAudit(tenantB, 100)).toEqual([]);
        expect(await repo.advanceExpiryCursor(tenantB, record.id, record.nextNotifyAt, cursor(null, 0))).toBe(
          false,
        );
        await repo.removeCertificate(tenantB, record.id);
        expect(await repo.getCertificate(tenantA, record.id)).toEqual(record);
      });
    });

    describe('assignments', () => {
      it('gives an empty state with no version before the first save', async () => {
        expect(await repo.getAssignments(tenantA)).toEqual({ state: emptyAssignments(), version: undefined });
      });

      it('creates the state when expectedVersion is undefined and returns a string version', async () => {
        const state = stateWithProfile('record', 'cert-1');

        await repo.saveAssignments(tenantA, state, undefined);

        const read = await repo.getAssignments(tenantA);
        expect(read.state).toEqual(state);
        expect(typeof read.version).toBe('string');
      });

      it('refuses a create when the state already exists', async () => {
        await repo.saveAssignments(tenantA, stateWithProfile('record', 'cert-1'), undefined);

        await expect(
          repo.saveAssignments(tenantA, stateWithProfile('record', 'cert-2'), undefined),
        ).rejects.toBeInstanceOf(ConcurrencyConflict);

        expect((await repo.getAssignments(tenantA)).state.profiles.record?.activeCertificateId).toBe(
          'cert-1',
        );
      });

      it('writes with the current version, changes the version, and refuses the stale one', async () => {
        await repo.saveAssignments(tenantA, stateWithProfile('record', 'cert-1'), undefined);
        const v1 = (await repo.getAssignments(tenantA)).version;

        await repo.saveAssignments(tenantA, stateWithProfile('record', 'cert-2'), v1);
        const v2 = (await repo.getAssignments(tenantA)).version;

        expect(v2).not.toEqual(v1);
        await expect(
          repo.saveAssignments(tenantA, stateWithProfile('record', 'cert-3'), v1),
        ).rejects.toBeInstanceOf(ConcurrencyConflict);
        expect(await repo.getAssignments(tenantA)).toEqual({
          state: stateWithProfile('record', 'cert-2'),
          version: v2,
        });
      });

      it('refuses a version token when the tenant has no state yet', async () => {
        await repo.saveAssignments(tenantB, stateWithProfile('record', 'cert-1'), undefined);
        const foreignVersion = (await repo.getAssignments(tenantB)).version;

        await expect(
          repo.saveAssignments(tenantA, stateWithProfile('record', 'cert-1'), foreignVersion),
        ).rejects.toBeInstanceOf(ConcurrencyConflict);

        expect((await repo.getAssignments(tenantA)).version).toBeUndefined();
      });

      it('deletes the certificate in the same write when the state write succeeds', async () => {
        const record = makeRecord({ tenantId: tenantA });
        await repo.createCertificate(record);
        await repo.saveAssignments(tenantA, stateWithProfile('record', record.id), undefined);
        const { version } = await repo.getAssignments(tenantA);

        await repo.saveAssignments(tenantA, emptyAssignments(), version, { deleteCertificateId: record.id });

        expect(await repo.getCertificate(tenantA, record.id)).toBeUndefined();
        expect((await repo.getAssignments(tenantA)).state).toEqual(emptyAssignments());
      });

      it('keeps the certificate when the state write loses its race', async () => {
        const record = makeRecord({ tenantId: tenantA });
        await repo.createCertificate(record);
        await repo.saveAssignments(tenantA, stateWithProfile('record', record.id), undefined);
        const { version: stale } = await repo.getAssignments(tenantA);
        await repo.saveAssignments(tenantA, stateWithProfile('record', record.id, ['other']), stale);

        await expect(
          repo.saveAssignments(tenantA, emptyAssignments(), stale, { deleteCertificateId: record.id }),
        ).rejects.toBeInstanceOf(ConcurrencyConflict);
        await expect(
          repo.saveAssignments(tenantA, emptyAssignments(), undefined, { deleteCertificateId: record.id }),
        ).rejects.toBeInstanceOf(ConcurrencyConflict);

        expect(await repo.getCertificate(tenantA, record.id)).toEqual(record);
        expect((await repo.getAssignments(tenantA)).state).toEqual(
          stateWithProfile('record', record.id, ['other']),
        );
      });

      it('loses no update when 20 read-modify-write loops with retry run at once', async () => {
        const writers = Array.from({ length: 20 }, (_, i) => `profile-${String(i).padStart(2, '0')}`);

        await Promise.all(
          writers.map((profileId) =>
            readModifyWrite(repo, tenantA, (state) => {
              state.profiles[profileId] = profile(profileId, `cert-${profileId}`);
              state.appliedRequestIds.push(`req-${profileId}`);
            }),
          ),
        );

        const { state } = await repo.getAssignments(tenantA);
        expect(Object.keys(state.profiles).sort()).toEqual(writers);
        expect([...state.appliedRequestIds].sort()).toEqual(writers.map((p) => `req-${p}`));
      });
    });

    describe('object-prototype names as keys (regression #8)', () => {
      const names = ['constructor', '__proto__', 'toString', 'hasOwnProperty', 'valueOf', 'prototype'];

      it('round-trips profiles named like Object.prototype members as ordinary entries', async () => {
        const state = emptyAssignments();
        for (const name of names) state.profiles[name] = profile(name, `cert-${name}`);
        state.pending.push({
          requestId: 'r-1',
          profileId: '__proto__',
          certificateId: 'cert-p',
          requestedAt: '2026-01-01T00:00:00.000Z',
        });

        await repo.saveAssignments(tenantA, state, undefined);

        const read = (await repo.getAssignments(tenantA)).state;
        expect(Object.keys(read.profiles).sort()).toEqual([...names].sort());
        for (const name of names) {
          expect(profileOf(read, name)).toEqual(profile(name, `cert-${name}`));
        }
        expect(read.pending).toEqual(state.pending);
        const empty = (await repo.getAssignments(tenantB)).state;
        for (const name of names) expect(profileOf(empty, name)).toBeUndefined();
      });

      it('keeps tenants and certificates with prototype names apart like any others', async () => {
        const suffix = uniqueTenantId('x');
        for (const name of names) {
          const underNamedTenant = makeRecord({ tenantId: name, id: `${name}-${suffix}` });
          const namedCertificate = makeRecord({ tenantId: tenantA, id: name });
          expect(await repo.getCertificate(tenantA, name)).toBeUndefined();

          await repo.createCertificate(underNamedTenant);
          await repo.createCertificate(namedCertificate);
          const notice = makeNotification({ tenantId: tenantA, certificateId: name });

          expect(await repo.getCertificate(name, underNamedTenant.id)).toEqual(underNamedTenant);
          expect(await repo.getCertificate(tenantA, name)).toEqual(namedCertificate);
          expect(await repo.addNotificationOnce(notice)).toBe(true);
          expect(await repo.addNotificationOnce(notice)).toBe(false);
        }
        expect((await repo.listCertificates(tenantA)).map((r) => r.id).sort()).toEqual([...names].sort());
        expect((await repo.listNotifications(tenantA)).map((n) => n.certificateId).sort()).toEqual(
          [...names].sort(),
        );
        const entry = makeAuditEntry({ tenantId: 'constructor', certificateId: '__proto__' });
        await repo.appendAudit(entry);
        expect(await repo.listAudit('constructor', 1)).toEqual([entry]);
      });
    });

    describe('expiry index', () => {
      const now = '2001-06-01T00:00:00.000Z';

      async function seedDue(): Promise<CertificateRecord[]> {
        const due = [
          makeRecord({ tenantId: tenantA, id: 'a-due-1', nextNotifyAt: '2001-01-01T00:00:00.000Z' }),
          makeRecord({ tenantId: tenantA, id: 'a-due-2', nextNotifyAt: '2001-05-31T23:59:59.999Z' }),
          makeRecord({ tenantId: tenantA, id: 'a-due-now', nextNotifyAt: now }),
          makeRecord({ tenantId: tenantB, id: 'b-due-1', nextNotifyAt: '2001-01-01T00:00:00.000Z' }),
          makeRecord({ tenantId: tenantB, id: 'b-due-2', nextNotifyAt: '2001-03-15T08:00:00.000Z' }),
        ];
        const notDue = [
          makeRecord({ tenantId: tenantA, id: 'a-later', nextNotifyAt: '2001-06-01T00:00:00.001Z' }),
          makeRecord({ tenantId: tenantA, id: 'a-done', nextNotifyAt: null, notifiedThresholdDays: 0 }),
          makeRecord({ tenantId: tenantB, id: 'b-later', nextNotifyAt: '2031-01-01T00:00:00.000Z' }),
          makeRecord({ tenantId: tenantB, id: 'b-done', nextNotifyAt: null, notifiedThresholdDays: 0 }),
        ];
        for (const record of [...notDue, ...due]) await repo.createCertificate(record);
        return due;
      }

      it('finds only the due certificates of all tenants, in pages', async () => {
        const due = await seedDue();

        const pages: CertificateRecord[][] = [];
        for await (const page of repo.findDueForNotification(now, 2)) pages.push(page);

        const all = pages.flat();
        const ours = all.filter((r) => r.tenantId === tenantA || r.tenantId === tenantB);
        expect(pages.every((page) => page.length <= 2)).toBe(true);
        expect(pages.length).toBeGreaterThanOrEqual(3);
        expect(all.every((r) => r.nextNotifyAt !== null && r.nextNotifyAt <= now)).toBe(true);
        expect(ours.map(key).sort()).toEqual(due.map(key).sort());
        expect(new Set(all.map(key)).size).toBe(all.length);
        expect(ours.find((r) => r.id === 'b-due-2')).toEqual(due[4]);
      });

      it('keeps paging while the caller moves cursors between pages', async () => {
        const due = await seedDue();

        const seen: string[] = [];
        for await (const page of repo.findDueForNotification(now, 2)) {
          for (const record of page) {
            seen.push(key(record));
            await repo.advanceExpiryCursor(
              record.tenantId,
              record.id,
              record.nextNotifyAt,
              cursor('2031-06-01T00:00:00.000Z', 90),
            );
          }
        }

        const ours = seen.filter((k) => k.startsWith(`${tenantA}/`) || k.startsWith(`${tenantB}/`));
        expect(ours.sort()).toEqual(due.map(key).sort());
        expect(new Set(seen).size).toBe(seen.length);
      });

      it('finds nothing when nothing is due', async () => {
        await repo.createCertificate(
          makeRecord({ tenantId: tenantA, nextNotifyAt: '2031-01-01T00:00:00.000Z' }),
        );

        const found: CertificateRecord[] = [];
        for await (const page of repo.findDueForNotification('1990-01-01T00:00:00.000Z', 10))
          found.push(...page);

        expect(found.filter((r) => r.tenantId === tenantA)).toEqual([]);
      });

      it('moves the cursor only from the expected value', async () => {
        const record = makeRecord({ tenantId: tenantA, nextNotifyAt: '2001-01-01T00:00:00.000Z' });
        await repo.createCertificate(record);

        const stale = await repo.advanceExpiryCursor(
          tenantA,
          record.id,
          '2000-01-01T00:00:00.000Z',
          cursor(null, 0),
        );
        const applied = await repo.advanceExpiryCursor(
          tenantA,
          record.id,
          '2001-01-01T00:00:00.000Z',
          cursor('2001-02-01T00:00:00.000Z', 30),
        );
        const replayed = await repo.advanceExpiryCursor(
          tenantA,
          record.id,
          '2001-01-01T00:00:00.000Z',
          cursor('2001-02-01T00:00:00.000Z', 30),
        );

        expect([stale, applied, replayed]).toEqual([false, true, false]);
        expect(await repo.getCertificate(tenantA, record.id)).toEqual({
          ...record,
          nextNotifyAt: '2001-02-01T00:00:00.000Z',
          notifiedThresholdDays: 30,
        });
      });

      it('moves the cursor to and from null', async () => {
        const record = makeRecord({ tenantId: tenantA, nextNotifyAt: '2001-01-01T00:00:00.000Z' });
        await repo.createCertificate(record);

        const toNull = await repo.advanceExpiryCursor(
          tenantA,
          record.id,
          record.nextNotifyAt,
          cursor(null, 0),
        );
        const fromWrongValue = await repo.advanceExpiryCursor(
          tenantA,
          record.id,
          record.nextNotifyAt,
          cursor(null, 0),
        );
        const fromNull = await repo.advanceExpiryCursor(
          tenantA,
          record.id,
          null,
          cursor('2002-01-01T00:00:00.000Z', null),
        );

        expect([toNull, fromWrongValue, fromNull]).toEqual([true, false, true]);
        const read = await repo.getCertificate(tenantA, record.id);
        expect(read?.nextNotifyAt).toBe('2002-01-01T00:00:00.000Z');
        expect(read?.notifiedThresholdDays).toBeNull();
      });

      it('reports false for a missing certificate and creates nothing', async () => {
        expect(await repo.advanceExpiryCursor(tenantA, 'missing', null, cursor(null, 0))).toBe(false);
        expect(await repo.getCertificate(tenantA, 'missing')).toBeUndefined();
      });
    });

    describe('notifications', () => {
      it('records a notification once per certificate and threshold', async () => {
        const first = makeNotification({ tenantId: tenantA, certificateId: 'cert-1', thresholdDays: 30 });

        const created = await repo.addNotificationOnce(first);
        const again = await repo.addNotificationOnce({ ...first, createdAt: '2026-12-03T00:00:00.000Z' });
        const otherThreshold = await repo.addNotificationOnce({ ...first, thresholdDays: 14 });

        expect([created, again, otherThreshold]).toEqual([true, false, true]);
        const listed = await repo.listNotifications(tenantA);
        expect(listed).toHaveLength(2);
        expect(listed).toContainEqual(first);
      });

      it('keeps where the certificate was active and whether a replacement was ready (rule 14)', async () => {
        const profiles = Array.from({ length: 600 }, (_, i) => `profile-${String(i).padStart(3, '0')}`);
        const many = makeNotification({
          tenantId: tenantA,
          certificateId: 'cert-many',
          activeIn: { ivrProfiles: ['constructor', ...profiles], screenRecording: true },
          replacementAvailable: true,
        });
        const screenOnly = makeNotification({
          tenantId: tenantA,
          certificateId: 'cert-screen',
          activeIn: { ivrProfiles: [], screenRecording: true },
          replacementAvailable: false,
        });

        await repo.addNotificationOnce(many);
        await repo.addNotificationOnce(screenOnly);

        const listed = await repo.listNotifications(tenantA);
        const paged = await repo.pageNotifications(tenantA, { limit: 10 });
        expect(listed.find((n) => n.certificateId === 'cert-many')).toEqual(many);
        expect(listed.find((n) => n.certificateId === 'cert-screen')).toEqual(screenOnly);
        expect(paged.items).toEqual([many, screenOnly]);
      });

      it('lets exactly one of 10 concurrent identical calls win', async () => {
        const notification = makeNotification({
          tenantId: tenantA,
          certificateId: 'cert-1',
          thresholdDays: 7,
        });

        const results = await Promise.all(
          Array.from({ length: 10 }, () => repo.addNotificationOnce({ ...notification })),
        );

        expect(results.filter(Boolean)).toHaveLength(1);
        expect(await repo.listNotifications(tenantA)).toEqual([notification]);
      });

      it('lists notifications newest first', async () => {
        const created = ['2026-12-02T00:00:00.000Z', '2026-12-25T00:00:00.000Z', '2026-12-10T00:00:00.000Z'];
        for (const [i, createdAt] of created.entries()) {
          await repo.addNotificationOnce(
            makeNotification({ tenantId: tenantA, certificateId: `cert-${i}`, thresholdDays: 30, createdAt }),
          );
        }

        const listed = await repo.listNotifications(tenantA);

        expect(listed.map((n) => n.createdAt)).toEqual([
          '2026-12-25T00:00:00.000Z',
          '2026-12-10T00:00:00.000Z',
          '2026-12-02T00:00:00.000Z',
        ]);
      });
    });

    describe('audit', () => {
      it('lists entries newest first, at most limit', async () => {
        const entries = Array.from({ length: 5 }, (_, i) =>
          makeAuditEntry({
            tenantId: tenantA,
            at: `2026-01-0${i + 1}T00:00:00.000Z`,
            certificateId: `cert-${i}`,
            details: { step: i, nested: { ok: true } },
          }),
        );
        for (const entry of entries) await repo.appendAudit(entry);

        const latest = await repo.listAudit(tenantA, 3);
        const all = await repo.listAudit(tenantA, 100);

        expect(latest).toEqual([entries[4], entries[3], entries[2]]);
        expect(all).toEqual([...entries].reverse());
      });
    });
  });
}

/** Reads every page from the start, following `next`; the page sizes and the items in order. */
async function walk<T>(
  read: (after: string | undefined) => Promise<Page<T>>,
): Promise<{ pages: number[]; items: T[] }> {
  const pages: number[] = [];
  const items: T[] = [];
  let after: string | undefined;
  do {
    const page = await read(after);
    pages.push(page.items.length);
    items.push(...page.items);
    after = page.next;
  } while (after !== undefined && pages.length < 1000);
  return { pages, items };
}

/** Re-reads and retries on `ConcurrencyConflict`, as the use cases do. */
async function readModifyWrite(
  repo: CertificateRepository,
  tenantId: string,
  change: (state: TenantAssignments) => void,
): Promise<void> {
  for (let attempt = 0; attempt < 100; attempt++) {
    const { state, version } = await repo.getAssignments(tenantId);
    change(state);
    try {
      await repo.saveAssignments(tenantId, state, version);
      return;
    } catch (error) {
      if (!(error instanceof ConcurrencyConflict)) throw error;
      // Jitter so the losers do not collide again in lockstep.
      await new Promise((resolve) => setTimeout(resolve, Math.random() * 5 * Math.min(attempt + 1, 10)));
    }
  }
  throw new Error('readModifyWrite gave up after 100 conflicts');
}

function profile(id: string, activeCertificateId: string, previousCertificateIds: string[] = []) {
  return { id, activeCertificateId, previousCertificateIds, updatedAt: '2026-01-01T00:00:00.000Z' };
}

function stateWithProfile(
  profileId: string,
  certificateId: string,
  previous: string[] = [],
): TenantAssignments {
  const state = emptyAssignments();
  state.profiles[profileId] = profile(profileId, certificateId, previous);
  return state;
}

function cursor(nextNotifyAt: string | null, notifiedThresholdDays: number | null) {
  return { nextNotifyAt, notifiedThresholdDays };
}

function key(record: { tenantId: string; id: string }): string {
  return `${record.tenantId}/${record.id}`;
}
