import { ValidationError } from '../../shared/errors';
import { previewCertificate, uploadCertificate } from '../../shared/usecases/certificate-upload';
import { type TestCore, testCore } from '../helpers/core';
import { type HostileRsaCase, hostileRsaCases } from '../helpers/hostile-rsa';

const admin = { subject: 'mallory' };

async function codeOf(work: () => Promise<unknown>): Promise<string | undefined> {
  try {
    await work();
  } catch (error) {
    if (error instanceof ValidationError) return error.code;
    throw error;
  }
  return undefined;
}

describe.each(['aws', 'azure'] as const)('upload use cases with hostile RSA parameters (%s flow)', (flow) => {
  let core: TestCore;
  let cases: HostileRsaCase[];

  beforeAll(async () => {
    cases = await hostileRsaCases();
  });
  beforeEach(() => {
    core = testCore({ flow });
  });
  afterEach(() => core.close());

  it('refuses every case on upload and preview with its code, and stores nothing', async () => {
    for (const c of cases) {
      const input = { certificate: c.certificatePem, privateKey: c.privateKeyPem };

      const upload = await codeOf(() => uploadCertificate(core.deps, admin, 'acme', input));
      const preview = await codeOf(() => previewCertificate(core.deps, input));

      expect({ name: c.name, upload, preview }).toEqual({
        name: c.name,
        upload: c.expectedCode,
        preview: c.expectedCode,
      });
    }
    expect(await core.deps.repo.listCertificates('acme')).toEqual([]);
  });
});
