import type { CertificateRepository } from '../../shared/ports';
import { BATCH_TENANT_TTL_MS, batchTenantCache } from '../../shared/usecases/batch-tenant';
import { uploadCertificate } from '../../shared/usecases/certificate-upload';
import { type TestCore, testCore } from '../helpers/core';
import { daysFrom, FIXED_NOW, makePair, rsaKey } from '../helpers/pki';

const admin = { subject: 'alice' };
const pair = (name: string) =>
  makePair({ key: rsaKey(name), notBefore: daysFrom(FIXED_NOW, -1), notAfter: daysFrom(FIXED_NOW, 365) });

/** The repository of `core`, counting listCertificates calls. */
function countingLists(core: TestCore): { calls: () => number } {
  let calls = 0;
  const repo: CertificateRepository = core.deps.repo;
  const list = repo.listCertificates.bind(repo);
  core.deps.repo = Object.assign(Object.create(repo) as CertificateRepository, {
    listCertificates: (tenantId: string) => {
      calls++;
      return list(tenantId);
    },
  });
  return { calls: () => calls };
}

describe('batchTenantCache (the batch engines read a job tenant once)', () => {
  let core: TestCore;
  let certificateId: string;
  beforeAll(async () => {
    core = testCore();
    certificateId = (
      await uploadCertificate(core.deps, admin, 'acme', {
        certificate: pair('batch-a').certPem,
        privateKey: pair('batch-a').keyPem,
      })
    ).id;
  });
  afterAll(() => core.close());
  beforeEach(() => core.clock.set(FIXED_NOW));

  it('reads the tenant once for the objects of a job and answers the same certificates and targets', async () => {
    const lists = countingLists(core);
    const cache = batchTenantCache(core.deps);

    const first = await cache.get('acme', [certificateId]);
    const again = await cache.get('acme', [certificateId]);

    expect(lists.calls()).toBe(1);
    expect(again).toBe(first);
    expect(first.records.map((r) => r.id)).toEqual([certificateId]);
    expect(first.targets).toEqual([first.records[0]?.certificatePem]);
  });

  it('reads again once the copy is older than the time to live, and sees a certificate added meanwhile', async () => {
    const lists = countingLists(core);
    const cache = batchTenantCache(core.deps);
    await cache.get('acme', undefined);
    await uploadCertificate(core.deps, admin, 'acme', {
      certificate: pair('batch-b').certPem,
      privateKey: pair('batch-b').keyPem,
    });

    core.clock.set(new Date(FIXED_NOW.getTime() + BATCH_TENANT_TTL_MS - 1));
    const stale = await cache.get('acme', undefined);
    core.clock.set(new Date(FIXED_NOW.getTime() + BATCH_TENANT_TTL_MS));
    const fresh = await cache.get('acme', undefined);

    expect(lists.calls()).toBe(2);
    expect(stale.records).toHaveLength(1);
    expect(fresh.records).toHaveLength(2);
    expect(fresh.targets).toEqual([]);
  });

  it('keeps tenants and target sets apart', async () => {
    const cache = batchTenantCache(core.deps);

    const verify = await cache.get('acme', undefined);
    const rewrap = await cache.get('acme', [certificateId]);
    const other = await cache.get('other-tenant', undefined);

    expect(verify.targets).toEqual([]);
    expect(rewrap.targets).toHaveLength(1);
    expect(other.records).toEqual([]);
  });

  it('does not keep a failed read: the next object reads again and gets the same refusal', async () => {
    const lists = countingLists(core);
    const cache = batchTenantCache(core.deps);

    await expect(cache.get('acme', ['no-such-certificate'])).rejects.toMatchObject({ code: 'NOT_FOUND' });
    await expect(cache.get('acme', ['no-such-certificate'])).rejects.toMatchObject({ code: 'NOT_FOUND' });

    expect(lists.calls()).toBe(2);
  });
});
