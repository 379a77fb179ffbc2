import type { Logger } from '../../shared/ports';
import { uploadCertificate } from '../../shared/usecases/certificate-upload';
import { sweepOrphanKeys, sweepOrphanKeysAfterScan } from '../../shared/usecases/orphan-keys';
import { testCore } from '../helpers/core';
import { daysFrom, FIXED_NOW, makePair, rsaKey } from '../helpers/pki';

const HOUR = 60 * 60 * 1000;

async function setUp() {
  const core = testCore();
  const pair = makePair({
    key: rsaKey('sweep'),
    notBefore: daysFrom(FIXED_NOW, -1),
    notAfter: daysFrom(FIXED_NOW, 365),
  });
  const cert = await uploadCertificate(core.deps, { subject: 'alice' }, 'acme', {
    certificate: pair.certPem,
    privateKey: pair.keyPem,
  });
  const record = (await core.repo.getCertificate('acme', cert.id))!;
  const der = rsaKey('orphan').export({ type: 'pkcs8', format: 'der' });
  const stray = await core.keystore.store(
    { tenantId: 'acme', certificateId: 'a'.repeat(32), alias: 'x' },
    der,
    '',
  );
  return { core, record, stray, der };
}

describe('sweepOrphanKeys', () => {
  it('removes a key no certificate holds and keeps the key of a stored certificate', async () => {
    const { core, record, stray } = await setUp();

    const result = await sweepOrphanKeys(core.deps, { minAgeMs: 0 });

    expect(result).toEqual({ checked: 2, removed: 1 });
    const left = (await core.keystore.listKeyRefs()).map((k) => k.keyRef);
    expect(left).toEqual([record.keyRef]);
    expect(left).not.toContain(stray.keyRef);
    core.close();
  });

  it('spares keys younger than the minimum age: their upload may still be writing its record', async () => {
    const { core } = await setUp();
    // The keys were written just now (their files' times); the sweep runs half an hour later.
    core.clock.set(new Date(Date.now() + HOUR / 2));

    const result = await sweepOrphanKeys(core.deps, { minAgeMs: HOUR });

    expect(result).toEqual({ checked: 2, removed: 0 });
    expect(await core.keystore.listKeyRefs()).toHaveLength(2);
    core.close();
  });

  it('removes an orphan once it is older than the minimum age', async () => {
    const { core, record, stray } = await setUp();
    core.clock.set(new Date(Date.now() + 2 * HOUR));

    const result = await sweepOrphanKeys(core.deps, { minAgeMs: HOUR });

    expect(result).toEqual({ checked: 2, removed: 1 });
    expect((await core.keystore.listKeyRefs()).map((k) => k.keyRef)).toEqual([record.keyRef]);
    expect(stray.keyRef).not.toBe(record.keyRef);
    core.close();
  });

  it('treats the old key of a certificate as an orphan once its record holds another keyRef', async () => {
    const { core, record, der } = await setUp();
    const old = await core.keystore.store(
      { tenantId: 'acme', certificateId: record.id, alias: 'x' },
      der,
      '',
    );

    await sweepOrphanKeys(core.deps, { minAgeMs: 0 });

    const left = (await core.keystore.listKeyRefs()).map((k) => k.keyRef);
    expect(left).toEqual([record.keyRef]);
    expect(left).not.toContain(old.keyRef);
    core.close();
  });
});

describe('sweepOrphanKeysAfterScan', () => {
  it('logs a failed listing and reports undefined instead of failing the scan', async () => {
    const { core } = await setUp();
    const lines: { message: string; fields?: Record<string, unknown> }[] = [];
    const logger: Logger = {
      info: () => {},
      warn: () => {},
      error: (message, fields) => lines.push({ message, fields }),
    };
    const failing = Object.assign(Object.create(core.keystore), {
      // biome-ignore lint/correctness/useYield: the listing fails before its first key.
      async *listKeys() {
        throw new TypeError('injected');
      },
    });

    const removed = await sweepOrphanKeysAfterScan({ ...core.deps, custody: failing, logger });

    expect(removed).toBeUndefined();
    expect(lines).toEqual([{ message: 'orphan-key sweep failed', fields: { error: 'TypeError' } }]);
    expect(await core.keystore.listKeyRefs()).toHaveLength(2);
    core.close();
  });

  it('spares the keys of an upload that may still be writing its record', async () => {
    const { core } = await setUp();
    core.clock.set(new Date());

    expect(await sweepOrphanKeysAfterScan(core.deps)).toBe(0);
    expect(await core.keystore.listKeyRefs()).toHaveLength(2);
    core.close();
  });
});
