/**
 * Threat model, "keys from outside": an admin controls every parameter of the certificate and key
 * it uploads. Hostile RSA parameters (e, n, CRT values) derived from real keys must be refused
 * with their code (rule 2, regression class of #2 and #3); and no private-key byte may ever
 * appear in a response body or in the runtime's log (rule 6), checked last, over everything the
 * run received and logged.
 */
import { createPrivateKey, type KeyObject } from 'node:crypto';
import { hostileRsaCases } from '../../helpers/hostile-rsa';
import { LeakScanner } from '../../reliability/helpers';
import type { Ctx } from '../context';

/**
 * The key as the runtime's flow takes it: the Azure flow refuses PKCS#1 (PKCS8_REQUIRED) before
 * looking at the parameters, so a PKCS#1 case is sent there as PKCS#8 with the same fields.
 */
function asFlowTakes(ctx: Ctx, pem: string): string {
  if (ctx.t.runtime.flow !== 'azure' || !pem.includes('BEGIN RSA PRIVATE KEY')) return pem;
  try {
    return createPrivateKey(pem).export({ type: 'pkcs8', format: 'pem' }).toString();
  } catch {
    return pem;
  }
}

export function hostileKeyChecks(get: () => Ctx): void {
  describe('hostile RSA parameters (threat model: keys from outside)', () => {
    it('regression #2/#3: refuses every hostile case with its code, stores nothing, stays up', async () => {
      const ctx = get();
      await ctx.t.ensureUp('before hostile keys');
      const cases = await hostileRsaCases();
      expect(cases.length).toBeGreaterThan(0);
      const admin = await ctx.t.token([ctx.tenant], ['admin', 'decrypt']);
      const before = (await ctx.t.request('GET', `/v1/tenants/${ctx.tenant}/certificates`, { token: admin }))
        .json?.items?.length;
      const problems: string[] = [];
      for (const c of cases) {
        ctx.privateKeys.set(`hostile ${c.name}`, c.privateKeyPem);
        const reply = await ctx.t.request('POST', `/v1/tenants/${ctx.tenant}/certificates`, {
          token: admin,
          contentType: 'application/json',
          body: JSON.stringify({
            certificate: c.certificatePem,
            privateKey: asFlowTakes(ctx, c.privateKeyPem),
          }),
        });
        if (reply.status !== 400 || reply.json?.error?.code !== c.expectedCode)
          problems.push(
            `${c.name}: ${reply.status} ${reply.json?.error?.code ?? ''}, want 400 ${c.expectedCode}`,
          );
      }
      expect(problems).toEqual([]);
      const after = (await ctx.t.request('GET', `/v1/tenants/${ctx.tenant}/certificates`, { token: admin }))
        .json?.items?.length;
      expect(after).toBe(before);
    });
  });
}

export function leakChecks(get: () => Ctx): void {
  describe('private keys never leave (threat model: secrets, rule 6)', () => {
    it('no private-key bytes in any response body or log line of this run', () => {
      const ctx = get();
      const scanner = new LeakScanner();
      let keys = 0;
      for (const [label, pem] of ctx.privateKeys) {
        let key: KeyObject;
        try {
          key = createPrivateKey(pem);
          scanner.addKey(label, key);
          keys++;
        } catch {
          // An encrypted or malformed key is not a needle of its own; its plain form is one.
        }
      }
      const hits = [
        ...ctx.t.received.flatMap((body, i) => scanner.scan(`response ${i}`, body)),
        ...scanner.scan('runtime log', ctx.t.output()),
      ];
      expect(keys).toBeGreaterThan(0);
      expect(ctx.t.received.length).toBeGreaterThan(100);
      expect(hits.map((h) => `${h.item}: ${h.key} (${h.form})`)).toEqual([]);
    });
  });
}
