import { uploadCertificate } from '../../shared/usecases/certificates';
import { sweepOrphanKeys } from '../../shared/usecases/orphan-keys';
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

    const result = await sweepOrphanKeys(core.deps, await core.keystore.listKeyRefs(), { minAgeMs: 0 });

    expect(result).toEqual({ checked: 2, removed: 1 });
    const left = (await core.keystore.listKeyRefs()).map((k) => k.keyRef);
    expect(left).toEqual([record.keyRef]);
    expect(left).not.toContain(stray.keyRef);
    core.close();
  });

  it('spares keys younger than the minimum age: their upload may still be writing its record', async () => {
    const { core } = await setUp();
    const stored = (await core.keystore.listKeyRefs()).map((k) => ({
      ...k,
      storedAt: new Date(FIXED_NOW.getTime() - HOUR / 2),
    }));

    const result = await sweepOrphanKeys(core.deps, stored, { minAgeMs: HOUR });

    expect(result).toEqual({ checked: 2, removed: 0 });
    expect(await core.keystore.listKeyRefs()).toHaveLength(2);
    core.close();
  });

  it('treats the old key of a certificate as an orphan once its record holds another keyRef', async () => {
    const { core, record, der } = await setUp();
    const old = await core.keystore.store(
      { tenantId: 'acme', certificateId: record.id, alias: 'x' },
      der,
      '',
    );

    await sweepOrphanKeys(core.deps, await core.keystore.listKeyRefs(), { minAgeMs: 0 });

    const left = (await core.keystore.listKeyRefs()).map((k) => k.keyRef);
    expect(left).toEqual([record.keyRef]);
    expect(left).not.toContain(old.keyRef);
    core.close();
  });
});
