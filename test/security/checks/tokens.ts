/**
 * Threat model, "tokens": a caller controls every claim of a token it holds, and a leaked signing
 * secret is out of scope. DESIGN section 4: `exp` is required, `iat`/`nbf` more than 60 s ahead
 * are refused, and a claim of the wrong type is a 401, never reinterpreted (regression class of
 * #11). Signed with the runtime's own secret, so only the claims are wrong; driven over every
 * protected route of the route table.
 */
import { routes } from '../../../shared/http/routes';
import type { Ctx } from '../context';
import { accessOf, pathOf } from '../harness';

const ALL_ROLES = ['admin', 'decrypt', 'operator'];

interface ClaimCase {
  name: string;
  /** The path's tenant (a wrong type is tried with a path it would open if reinterpreted). */
  tenant?: string;
  claims: (now: number, tenant: string, roles: string[]) => Record<string, unknown>;
}

const CASES: ClaimCase[] = [
  { name: 'no exp', claims: (now, tenant, roles) => ({ sub: 'x', tenant, roles, iat: now }) },
  {
    name: 'iat 120 s in the future',
    claims: (now, tenant, roles) => ({ sub: 'x', tenant, roles, iat: now + 120, exp: now + 600 }),
  },
  {
    name: 'nbf 120 s in the future',
    claims: (now, tenant, roles) => ({ sub: 'x', tenant, roles, iat: now, nbf: now + 120, exp: now + 600 }),
  },
  {
    name: 'tenants as a string ("<tenant> beta")',
    claims: (now, tenant, roles) => ({
      sub: 'x',
      tenants: `${tenant} beta`,
      roles,
      iat: now,
      exp: now + 600,
    }),
  },
  {
    name: 'roles as a string ("admin decrypt operator")',
    claims: (now, tenant, roles) => ({ sub: 'x', tenant, roles: roles.join(' '), iat: now, exp: now + 600 }),
  },
  {
    name: 'roles as a string ("admin")',
    claims: (now, tenant) => ({ sub: 'x', tenant, roles: 'admin', iat: now, exp: now + 600 }),
  },
  {
    name: 'tenant as a number',
    tenant: '12345',
    claims: (now, _tenant, roles) => ({ sub: 'x', tenant: 12345, roles, iat: now, exp: now + 600 }),
  },
  {
    name: 'sub as a number',
    claims: (now, tenant, roles) => ({ sub: 42, tenant, roles, iat: now, exp: now + 600 }),
  },
  {
    name: 'exp as a string',
    claims: (now, tenant, roles) => ({ sub: 'x', tenant, roles, iat: now, exp: String(now + 600) }),
  },
];

const PROTECTED = routes.filter((r) => r.access !== 'public');

export function tokenChecks(get: () => Ctx): void {
  describe('token claims (threat model: tokens)', () => {
    beforeAll(async () => {
      await get().t.ensureUp('before token checks');
    });

    it.each(CASES.map((c) => [c.name, c] as const))(
      'regression #11: %s is a 401 on every protected route',
      async (_name, c) => {
        const ctx = get();
        const now = Math.floor(Date.now() / 1000);
        const problems: string[] = [];
        for (const route of PROTECTED) {
          const tenant = c.tenant ?? ctx.tenant;
          const roles = accessOf(route)?.roles ?? ALL_ROLES;
          const token = await ctx.t.signed(c.claims(now, tenant, roles));
          const reply = await ctx.t.request(
            route.method,
            pathOf(route, { ...ctx.values, tenantId: tenant }),
            {
              token,
              ...(route.streamBody
                ? { contentType: 'application/cms', body: Buffer.from([0x30, 0x00]) }
                : route.body
                  ? { contentType: 'application/json', body: '{}' }
                  : {}),
            },
          );
          if (reply.status !== 401 || reply.json?.error?.code !== 'UNAUTHORIZED')
            problems.push(`${route.method} ${route.path}: ${reply.status} ${reply.json?.error?.code ?? ''}`);
        }
        expect(problems).toEqual([]);
      },
    );

    it('accepts well-typed claims, and iat up to 60 s ahead (clock skew), so the refusals above are about the claims', async () => {
      const ctx = get();
      const now = Math.floor(Date.now() / 1000);
      const path = `/v1/tenants/${ctx.tenant}/certificates`;
      for (const claims of [
        { sub: 'x', tenant: ctx.tenant, roles: ['decrypt'], iat: now, exp: now + 600 },
        { sub: 'x', tenants: [ctx.tenant, 'beta'], roles: ['admin'], iat: now + 30, exp: now + 600 },
      ]) {
        const reply = await ctx.t.request('GET', path, { token: await ctx.t.signed(claims) });
        expect({ claims, status: reply.status }).toEqual({ claims, status: 200 });
      }
    });
  });
}
