/**
 * The security checks of docs/threat-model.md against one runtime process, in the order of the
 * model: bodies, cost, ids, tokens, keys, recordings, then what only the local server promises,
 * and last the leak scan over everything the run received and logged. Each runtime file
 * (local, aws, azure) starts one process and runs this whole suite against it.
 */
import { randomUUID } from 'node:crypto';
import { rmSync } from 'node:fs';
import { bodyChecks, idleChecks } from './checks/bodies';
import { costChecks } from './checks/costs';
import { idChecks } from './checks/ids';
import { hostileKeyChecks, leakChecks } from './checks/keys';
import { localServerChecks } from './checks/local-server';
import { operatorChecks } from './checks/operator';
import { recordingChecks, streamedAuditChecks, tamperChecks } from './checks/recordings';
import { tokenChecks } from './checks/tokens';
import { type Ctx, smallRecording } from './context';
import { type SecurityRuntime, Target } from './harness';
import { kdfMaterial, opensslPairAsync } from './material';

export function describeSecurity(runtime: SecurityRuntime): void {
  describe(`security on the ${runtime.name} runtime (${runtime.flow} flow)`, () => {
    let ctx: Ctx | undefined;
    const get = (): Ctx => {
      if (!ctx) throw new Error('the runtime did not start (see beforeAll)');
      return ctx;
    };

    beforeAll(async () => {
      const [t, pair] = await Promise.all([Target.start(runtime), opensslPairAsync('Security Recording')]);
      const tenant = `sec-${randomUUID().slice(0, 8)}`;
      const admin = await t.token([tenant], ['admin', 'decrypt']);
      const uploaded = await t.request('POST', `/v1/tenants/${tenant}/certificates`, {
        token: admin,
        contentType: 'application/json',
        body: JSON.stringify({ certificate: pair.certPem, privateKey: pair.keyPem }),
      });
      if (uploaded.status !== 201)
        throw new Error(`fixture upload failed: ${uploaded.status} ${uploaded.body}`);
      const { plaintext, recording } = await smallRecording(pair.certPem);
      const kdf = kdfMaterial();
      ctx = {
        t,
        tenant,
        pair,
        certificateId: uploaded.json.id,
        plaintext,
        recording,
        values: { tenantId: tenant, certificateId: uploaded.json.id, profileId: 'record' },
        privateKeys: new Map([
          ['tenant', pair.keyPem],
          ['kdf base', kdf.keyPem],
        ]),
      };
    }, 180_000);

    afterAll(async () => {
      await ctx?.t.stop();
      if (ctx) rmSync(ctx.pair.dir, { recursive: true, force: true });
    });

    bodyChecks(get);
    if (runtime.local) idleChecks(get);
    costChecks(get);
    idChecks(get);
    tokenChecks(get);
    operatorChecks(get);
    hostileKeyChecks(get);
    recordingChecks(get);
    if (runtime.local) streamedAuditChecks(get);
    tamperChecks(get);
    if (runtime.local) localServerChecks(get);
    leakChecks(get);

    it('the process never died during the checks (each death is also a failed check above)', () => {
      expect(get().t.deaths).toEqual([]);
    });
  });
}
