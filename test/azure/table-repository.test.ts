import { odata, type TableClient } from '@azure/data-tables';
import {
  TableCertificateRepository,
  type TableRepositoryClients,
} from '../../functions/azure/adapters/table-repository';
import { joinChunks, keyPart, splitChunks } from '../../functions/azure/adapters/table-schema';
import type { CertificateRecord } from '../../shared/domain/types';
import { ConcurrencyConflict, UnavailableError } from '../../shared/errors';
import { emptyAssignments } from '../../shared/ports';
import { makeRecord, uniqueTenantId } from '../ports/fixtures';
import { freshTables } from './clients';
import { injectFault, serviceError } from './faults';

async function rows(client: TableClient): Promise<{ partitionKey: string; rowKey: string }[]> {
  const found: { partitionKey: string; rowKey: string }[] = [];
  for await (const entity of client.listEntities()) {
    found.push({ partitionKey: entity.partitionKey!, rowKey: entity.rowKey! });
  }
  return found;
}

async function due(repo: TableCertificateRepository, now: string): Promise<CertificateRecord[]> {
  const found: CertificateRecord[] = [];
  for await (const page of repo.findDueForNotification(now, 50)) found.push(...page);
  return found;
}

describe('TableCertificateRepository on Azurite', () => {
  let tables: TableRepositoryClients;
  let drop: () => Promise<void>;
  let tenant: string;

  beforeEach(async () => {
    ({ tables, drop } = await freshTables());
    tenant = uniqueTenantId('az');
  });

  afterEach(async () => {
    await drop();
  });

  describe('expiry index', () => {
    it('keeps one index row per certificate, in the bucket of its due day', async () => {
      const repo = new TableCertificateRepository(tables);
      const record = makeRecord({ tenantId: tenant, nextNotifyAt: '2026-10-03T00:00:00.000Z' });
      await repo.createCertificate(record);

      await repo.advanceExpiryCursor(tenant, record.id, record.nextNotifyAt, {
        nextNotifyAt: '2026-12-02T00:00:00.000Z',
        notifiedThresholdDays: 90,
      });

      expect(await rows(tables.expiryIndex)).toEqual([
        { partitionKey: '2026-12-02', rowKey: `2026-12-02T00:00:00.000Z|${tenant}|${record.id}` },
      ]);
    });

    it('queries only buckets up to the scan day', async () => {
      const repo = new TableCertificateRepository(tables);
      await repo.createCertificate(
        makeRecord({ tenantId: tenant, id: 'due', nextNotifyAt: '2026-01-01T00:00:00.000Z' }),
      );
      for (let i = 0; i < 5; i++) {
        await repo.createCertificate(
          makeRecord({ tenantId: tenant, id: `later-${i}`, nextNotifyAt: `2027-0${i + 1}-01T00:00:00.000Z` }),
        );
      }
      const counted = new Proxy(tables.expiryIndex, {
        get(target, prop, receiver) {
          const value = Reflect.get(target, prop, receiver);
          if (prop !== 'listEntities' || typeof value !== 'function') {
            return typeof value === 'function' ? value.bind(target) : value;
          }
          return (options?: { queryOptions?: { filter?: string } }) => {
            filters.push(options?.queryOptions?.filter ?? '');
            return value.call(target, options);
          };
        },
      });
      const filters: string[] = [];
      const scanning = new TableCertificateRepository({ ...tables, expiryIndex: counted });

      const found = await due(scanning, '2026-06-01T00:00:00.000Z');

      expect(found.map((r) => r.id)).toEqual(['due']);
      expect(filters).toEqual([
        odata`PartitionKey le ${'2026-06-01'} and RowKey lt ${'2026-06-01T00:00:00.000Z}'}`,
      ]);
    });

    it('skips a stale index row, and deletes it once it is older than the grace period', async () => {
      let wall = Date.now();
      const repo = new TableCertificateRepository(tables, {
        staleIndexGraceMs: 60_000,
        wallClock: () => wall,
      });
      const record = makeRecord({ tenantId: tenant, nextNotifyAt: '2026-12-02T00:00:00.000Z' });
      await repo.createCertificate(record);
      // A crash between "index written" and "certificate updated" leaves exactly this row behind.
      await tables.expiryIndex.createEntity({
        partitionKey: '2026-01-01',
        rowKey: `2026-01-01T00:00:00.000Z|${keyPart(tenant)}|${keyPart(record.id)}`,
        tenantId: tenant,
        certificateId: record.id,
        nextNotifyAt: '2026-01-01T00:00:00.000Z',
      });

      expect(await due(repo, '2026-06-01T00:00:00.000Z')).toEqual([]);
      expect(await rows(tables.expiryIndex)).toHaveLength(2);

      wall += 120_000;
      expect(await due(repo, '2026-06-01T00:00:00.000Z')).toEqual([]);
      expect(await rows(tables.expiryIndex)).toEqual([
        { partitionKey: '2026-12-02', rowKey: `2026-12-02T00:00:00.000Z|${tenant}|${record.id}` },
      ]);
    });

    it('removes the index row with the certificate, also in the delete transaction', async () => {
      const repo = new TableCertificateRepository(tables);
      const removed = makeRecord({ tenantId: tenant, nextNotifyAt: '2026-12-02T00:00:00.000Z' });
      const deletedWithState = makeRecord({ tenantId: tenant, nextNotifyAt: '2026-12-03T00:00:00.000Z' });
      await repo.createCertificate(removed);
      await repo.createCertificate(deletedWithState);

      await repo.removeCertificate(tenant, removed.id);
      await repo.saveAssignments(tenant, emptyAssignments(), undefined, {
        deleteCertificateId: deletedWithState.id,
      });

      expect(await repo.listCertificates(tenant)).toEqual([]);
      expect(await rows(tables.expiryIndex)).toEqual([]);
    });

    it('leaves no visible certificate when the certificate write fails after the index write', async () => {
      const failing = injectFault(tables.certificates, 'createEntity', serviceError(503));
      const repo = new TableCertificateRepository({ ...tables, certificates: failing });
      const record = makeRecord({ tenantId: tenant, nextNotifyAt: '2026-01-01T00:00:00.000Z' });

      await expect(repo.createCertificate(record)).rejects.toBeInstanceOf(UnavailableError);

      expect(await repo.getCertificate(tenant, record.id)).toBeUndefined();
      expect(await due(repo, '2026-06-01T00:00:00.000Z')).toEqual([]);
    });
  });

  describe('ETag concurrency', () => {
    it('uses the entity ETag as the version and refuses a write with an outdated one', async () => {
      const repo = new TableCertificateRepository(tables);
      await repo.saveAssignments(tenant, emptyAssignments(), undefined);
      const { version } = await repo.getAssignments(tenant);
      const entity = await tables.certificates.getEntity(keyPart(tenant), 'a|state');
      expect(version).toBe(entity.etag);

      // Another writer changes the row behind our back.
      await tables.certificates.updateEntity(
        { partitionKey: entity.partitionKey!, rowKey: entity.rowKey!, touched: true },
        'Merge',
      );

      await expect(repo.saveAssignments(tenant, emptyAssignments(), version)).rejects.toBeInstanceOf(
        ConcurrencyConflict,
      );
    });

    it('deletes nothing when the delete transaction loses its ETag race', async () => {
      const repo = new TableCertificateRepository(tables);
      const record = makeRecord({ tenantId: tenant });
      await repo.createCertificate(record);
      await repo.saveAssignments(tenant, emptyAssignments(), undefined);
      const stale = await repo.getAssignments(tenant);
      await repo.saveAssignments(tenant, emptyAssignments(), stale.version);

      await expect(
        repo.saveAssignments(tenant, emptyAssignments(), stale.version, { deleteCertificateId: record.id }),
      ).rejects.toBeInstanceOf(ConcurrencyConflict);

      expect(await repo.getCertificate(tenant, record.id)).toEqual(record);
    });
  });

  describe('property size limits', () => {
    it('stores an assignment state far beyond 64 KiB split over several properties', async () => {
      const repo = new TableCertificateRepository(tables);
      const state = emptyAssignments();
      for (let i = 0; i < 600; i++) {
        state.profiles[`profile-${i}`] = {
          id: `profile-${i}`,
          activeCertificateId: `certificate-${i}-ü-😀`,
          previousCertificateIds: Array.from({ length: 5 }, (_, j) => `previous-${i}-${j}`),
          updatedAt: '2026-01-01T00:00:00.000Z',
        };
      }
      expect(JSON.stringify(state).length).toBeGreaterThan(100_000);

      await repo.saveAssignments(tenant, state, undefined);

      expect((await repo.getAssignments(tenant)).state).toEqual(state);
    });

    it('never splits a surrogate pair between two chunks', () => {
      const json = `${'a'.repeat(29_999)}😀${'b'.repeat(10)}`;

      const chunks = splitChunks(json);

      expect(chunks.jsonParts).toBe(2);
      expect(String(chunks.json0).endsWith('a')).toBe(true);
      expect(joinChunks(chunks)).toBe(json);
    });
  });

  describe('keys', () => {
    it('escapes the characters Table storage forbids in keys', async () => {
      const repo = new TableCertificateRepository(tables);
      const odd = `${tenant}/x#y?z\\w|%`;
      const record = makeRecord({ tenantId: odd, id: 'id/with#odd?chars' });

      await repo.createCertificate(record);

      expect(await repo.getCertificate(odd, record.id)).toEqual(record);
      expect(keyPart('a/b#c?d\\e|f%g\u0001')).toBe('a%2Fb%23c%3Fd%5Ce%7Cf%25g%01');
    });
  });

  describe('stored format', () => {
    it('reads a certificate row written in the deployed layout, cursor nulls as sentinels', async () => {
      const repo = new TableCertificateRepository(tables);
      const record = makeRecord({ tenantId: tenant, nextNotifyAt: null, notifiedThresholdDays: null });
      const { nextNotifyAt: _next, notifiedThresholdDays: _notified, ...document } = record;
      await tables.certificates.createEntity({
        partitionKey: tenant,
        rowKey: `c|${record.id}`,
        json0: JSON.stringify(document),
        jsonParts: 1,
        uploadedAt: record.uploadedAt,
        nextNotifyAt: '',
        notifiedThresholdDays: -1,
      });

      expect(await repo.getCertificate(tenant, record.id)).toEqual(record);
      expect(
        await repo.advanceExpiryCursor(tenant, record.id, null, {
          nextNotifyAt: null,
          notifiedThresholdDays: 1,
        }),
      ).toBe(true);
      expect(await tables.certificates.getEntity(tenant, `c|${record.id}`)).toMatchObject({
        json0: JSON.stringify(document),
        nextNotifyAt: '',
        notifiedThresholdDays: 1,
      });
    });
  });

  describe('audit by certificate', () => {});

  describe('failures', () => {
    it('reports a throttled read as unavailable with the service’s retry hint', async () => {
      const throttled = injectFault(
        tables.certificates,
        'getEntity',
        serviceError(429, { 'Retry-After': '7' }),
      );
      const repo = new TableCertificateRepository({ ...tables, certificates: throttled });

      const error = await repo.getCertificate(tenant, 'any').catch((e: unknown) => e);

      expect(error).toBeInstanceOf(UnavailableError);
      expect((error as UnavailableError).retryAfterSeconds).toBe(7);
    });

    it('reports a failing transaction as unavailable and changes nothing', async () => {
      const repo = new TableCertificateRepository(tables);
      const record = makeRecord({ tenantId: tenant });
      await repo.createCertificate(record);
      const failing = injectFault(tables.certificates, 'submitTransaction', serviceError(503));
      const faulty = new TableCertificateRepository({ ...tables, certificates: failing });

      await expect(
        faulty.saveAssignments(tenant, emptyAssignments(), undefined, { deleteCertificateId: record.id }),
      ).rejects.toBeInstanceOf(UnavailableError);

      expect(await repo.getCertificate(tenant, record.id)).toEqual(record);
      expect((await repo.getAssignments(tenant)).version).toBeUndefined();
    });

    it('passes a caller’s mistake (400) through unchanged', async () => {
      const failing = injectFault(tables.audit, 'createEntity', serviceError(400));
      const repo = new TableCertificateRepository({ ...tables, audit: failing });

      const error = await repo
        .appendAudit({
          id: 'a',
          tenantId: tenant,
          at: '2026-01-01T00:00:00.000Z',
          actor: 'x',
          action: 'screen.change',
        })
        .catch((e: unknown) => e);

      expect(error).not.toBeInstanceOf(UnavailableError);
      expect((error as { statusCode?: number }).statusCode).toBe(400);
    });
  });
});
