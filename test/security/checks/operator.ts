/**
 * Threat model, "operator": the expiry scan's `now` is the one input that writes across all
 * tenants, and its notices are permanent. DESIGN 4: more than 5 minutes ahead of the server
 * clock is a 400 (regression class of #12); within that it runs.
 */
import { routes } from '../../../shared/http/routes';
import type { Ctx } from '../context';

const MINUTE = 60_000;

export function operatorChecks(get: () => Ctx): void {
  describe('expiry scan as of a chosen time (threat model: operator input)', () => {
    const scan = () => routes.find((r) => r.operationId === 'runExpiryScan')!;

    it.each([
      ['9999-12-31T00:00:00Z', () => '9999-12-31T00:00:00Z'],
      ['6 minutes ahead', () => new Date(Date.now() + 6 * MINUTE).toISOString()],
      ['a year ahead', () => new Date(Date.now() + 365 * 24 * 60 * MINUTE).toISOString()],
    ])('regression #12: now = %s is a 400 and writes nothing', async (_label, now) => {
      const ctx = get();
      await ctx.t.ensureUp('before expiry scan');
      const operator = await ctx.t.token([], ['operator']);
      const reader = await ctx.t.token([ctx.tenant], ['decrypt']);
      const before = await ctx.t.request('GET', `/v1/tenants/${ctx.tenant}/notifications`, { token: reader });
      const reply = await ctx.t.request(scan().method, scan().path, {
        token: operator,
        contentType: 'application/json',
        body: JSON.stringify({ now: now() }),
      });
      expect(reply.status).toBe(400);
      expect(scan().errors).toContain(reply.json?.error?.code);
      const after = await ctx.t.request('GET', `/v1/tenants/${ctx.tenant}/notifications`, { token: reader });
      expect(after.json?.items).toEqual(before.json?.items);
    });

    it('runs as of a time within 4 minutes ahead (clock skew)', async () => {
      const ctx = get();
      const operator = await ctx.t.token([], ['operator']);
      const reply = await ctx.t.request(scan().method, scan().path, {
        token: operator,
        contentType: 'application/json',
        body: JSON.stringify({ now: new Date(Date.now() + 4 * MINUTE).toISOString() }),
      });
      expect(reply.status).toBe(200);
    });
  });
}
