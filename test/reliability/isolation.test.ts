/**
 * Tenant isolation on every runtime (issue 9): local, AWS (the Lambda handlers over moto) and
 * Azure (the Functions handlers over Azurite), each started as a user would. Every route of the route table x every way a
 * token can be wrong (none, malformed, bad signature, expired, wrong issuer, alg "none", wrong
 * tenant, wrong role) with the exact status and code DESIGN section 4 gives: 401 UNAUTHORIZED or
 * 403 FORBIDDEN. The matrix is generated from `shared/http/routes.ts`, so a new route is covered
 * without touching this file. Then, with tenant A's own valid tokens, nothing of tenant B can be
 * read or changed through A's paths.
 */
import { randomUUID } from 'node:crypto';
import { SignJWT } from 'jose';
import { LOCAL_AUDIENCE, LOCAL_ISSUER, loadOrCreateTokenSecret } from '../../functions/common/local-tokens';
import type { Role } from '../../shared/domain/types';
import { type AnyRoute, routes } from '../../shared/http/routes';
import { type Harness, type RuntimeSpec, startRuntime } from '../contract/harness';
import { encryptRecording, freshPair, type Pair } from '../contract/suite';
import { writeArtifact } from './fuzz-helpers';

const ALL_ROLES: Role[] = ['admin', 'decrypt', 'operator'];

interface Answer {
  status: number;
  // biome-ignore lint/suspicious/noExplicitAny: JSON bodies are checked field by field
  body: any;
  headers: Headers;
}

/** The runtimes, as `npm start`, `npm run start:aws` and `npm run start:azure` start them. */
const RUNTIMES: RuntimeSpec[] = [
  { name: 'local', entry: 'functions/local/main.ts', flow: 'aws' },
  { name: 'aws', entry: 'scripts/start-aws.ts', flow: 'aws', startTimeoutMs: 120_000 },
  { name: 'azure', entry: 'scripts/start-azure.ts', flow: 'azure', startTimeoutMs: 120_000 },
];

describe.each(RUNTIMES)('tenant isolation on the $name runtime', (spec) => {
  // Start-up (up to 120 s for an emulated cloud), two uploads, two applied assignments, a scan (#19).
  const setupMs = (spec.startTimeoutMs ?? 30_000) + 120_000;
  let h: Harness;
  const A = `iso-a-${randomUUID().slice(0, 8)}`;
  const B = `iso-b-${randomUUID().slice(0, 8)}`;
  let tokenA: string;
  let tokenB: string;
  let operator: string;
  let pairA: Pair;
  let pairB: Pair;
  let certA: string;
  let certB: string;

  async function call(
    method: string,
    path: string,
    options: { token?: string; authorization?: string; json?: unknown; cms?: Buffer } = {},
  ): Promise<Answer> {
    const headers: Record<string, string> = {};
    if (options.authorization !== undefined) headers.authorization = options.authorization;
    else if (options.token) headers.authorization = `Bearer ${options.token}`;
    let body: RequestInit['body'];
    if (options.cms) {
      headers['content-type'] = 'application/cms';
      body = new Uint8Array(options.cms);
    } else if (options.json !== undefined) {
      headers['content-type'] = 'application/json';
      body = JSON.stringify(options.json);
    }
    const response = await fetch(`${h.baseUrl}${path}`, { method, headers, body });
    const text = await response.text();
    let parsed: unknown;
    try {
      parsed = text ? JSON.parse(text) : undefined;
    } catch {
      parsed = text;
    }
    return { status: response.status, body: parsed, headers: response.headers };
  }

  async function upload(tenant: string, token: string, pair: Pair): Promise<string> {
    const res = await call('POST', `/v1/tenants/${tenant}/certificates`, {
      token,
      json: { certificate: pair.certPem, privateKey: pair.keyPem },
    });
    expect(res.status).toBe(201);
    return res.body.id as string;
  }

  async function eventually(probe: () => Promise<boolean>, timeoutMs = 15_000): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    while (!(await probe())) {
      if (Date.now() > deadline) throw new Error('condition not met in time');
      await new Promise((r) => setTimeout(r, 100));
    }
  }

  /** Everything of tenant B that must not change while A's callers try. */
  async function snapshotOfB(): Promise<unknown> {
    const get = async (path: string) =>
      (await call('GET', `/v1/tenants/${B}${path}`, { token: tokenB })).body;
    return {
      certificates: await get('/certificates'),
      profile: await get('/ivr-profiles/record'),
      screen: await get('/screen-recording-certificates'),
      notifications: await get('/notifications'),
      audit: await get('/audit'),
    };
  }

  beforeAll(async () => {
    h = await startRuntime({ ...spec, env: { ...spec.env, LOG_LEVEL: 'warn' } });
    tokenA = await h.token({ tenants: [A], roles: ['admin', 'decrypt'], subject: 'admin-a' });
    tokenB = await h.token({ tenants: [B], roles: ['admin', 'decrypt'], subject: 'admin-b' });
    operator = await h.token({ tenants: [], roles: ['operator'], subject: 'operator' });
    pairA = freshPair();
    // B's certificate expires soon, so the expiry scan gives B notifications A must never see.
    pairB = freshPair({ days: 20 });
    certA = await upload(A, tokenA, pairA);
    certB = await upload(B, tokenB, pairB);
    for (const [tenant, token, cert] of [
      [A, tokenA, certA],
      [B, tokenB, certB],
    ] as const) {
      const assigned = await call('PUT', `/v1/tenants/${tenant}/ivr-profiles/record/recording-certificate`, {
        token,
        json: { certificateId: cert },
      });
      expect(assigned.status).toBe(202);
      // Wait for this very request to be applied (on the azure flow the upload's own automatic
      // assignment may already show the certificate as active while this one is still queued).
      await eventually(async () => {
        const audit = await call('GET', `/v1/tenants/${tenant}/audit`, { token });
        return (audit.body?.items ?? []).some(
          (e: { action: string; details?: { requestId?: string } }) =>
            e.action === 'ivr.assign.applied' && e.details?.requestId === assigned.body.requestId,
        );
      });
      const screen = await call('PATCH', `/v1/tenants/${tenant}/screen-recording-certificates`, {
        token,
        json: { add: [cert] },
      });
      expect(screen.status).toBe(200);
    }
    const scan = await call('POST', '/v1/expiry-scan', { token: operator, json: {} });
    expect(scan.status).toBe(200);
  }, setupMs);

  afterAll(async () => {
    await h?.stop();
  });

  // ---------------------------------------------------------------------------------------------
  // The matrix

  type Defect =
    | 'no token'
    | 'malformed header'
    | 'not a JWT'
    | 'bad signature'
    | 'expired'
    | 'wrong issuer'
    | 'alg none'
    | 'wrong tenant'
    | 'wrong role'
    | 'no role';

  const protectedRoutes = routes.filter(
    (r): r is AnyRoute & { access: { roles: Role[]; tenantScoped: boolean } } => r.access !== 'public',
  );

  /** The route's path for tenant A with A's real ids filled in. */
  function concretePath(route: AnyRoute): string {
    return route.path
      .replace('{tenantId}', A)
      .replace('{certificateId}', certA)
      .replace('{profileId}', 'record');
  }

  async function signed(
    claims: Record<string, unknown>,
    options: { issuer?: string; expired?: boolean } = {},
  ) {
    const secret = loadOrCreateTokenSecret(h.dataDir);
    const now = Math.floor(Date.now() / 1000);
    return new SignJWT(claims)
      .setProtectedHeader({ alg: 'HS256', typ: 'JWT' })
      .setSubject('matrix')
      .setIssuer(options.issuer ?? LOCAL_ISSUER)
      .setAudience(LOCAL_AUDIENCE)
      .setIssuedAt(now)
      .setExpirationTime(options.expired ? now - 5 : now + 600)
      .sign(secret);
  }

  /** The Authorization header for `defect`, or undefined when the defect does not apply to `route`. */
  async function authorizationFor(
    route: AnyRoute & { access: { roles: Role[]; tenantScoped: boolean } },
    defect: Defect,
  ): Promise<string | null | undefined> {
    const allowed = route.access.roles;
    const tenants = route.access.tenantScoped ? [A] : [];
    switch (defect) {
      case 'no token':
        return null;
      case 'malformed header':
        return `Basic ${Buffer.from('admin:admin').toString('base64')}`;
      case 'not a JWT':
        return 'Bearer not-a-jwt';
      case 'bad signature':
        return `Bearer ${await h.token({ tenants, roles: ALL_ROLES, defect: 'bad-signature' })}`;
      case 'expired':
        return `Bearer ${await h.token({ tenants, roles: ALL_ROLES, defect: 'expired' })}`;
      case 'wrong issuer':
        return `Bearer ${await signed({ tenant: A, roles: ALL_ROLES }, { issuer: 'someone-else' })}`;
      case 'alg none': {
        const enc = (o: unknown) => Buffer.from(JSON.stringify(o)).toString('base64url');
        const now = Math.floor(Date.now() / 1000);
        const payload = {
          sub: 'x',
          tenant: A,
          roles: ALL_ROLES,
          iss: LOCAL_ISSUER,
          aud: LOCAL_AUDIENCE,
          exp: now + 600,
        };
        return `Bearer ${enc({ alg: 'none', typ: 'JWT' })}.${enc(payload)}.`;
      }
      case 'wrong tenant':
        if (!route.access.tenantScoped) return undefined;
        return `Bearer ${await h.token({ tenants: [B, 'another'], roles: ALL_ROLES })}`;
      case 'wrong role': {
        const others = ALL_ROLES.filter((r) => !allowed.includes(r));
        if (others.length === 0) return undefined;
        return `Bearer ${await h.token({ tenants: [A], roles: others })}`;
      }
      case 'no role':
        return `Bearer ${await h.token({ tenants: [A], roles: [] })}`;
    }
  }

  const EXPECTED: Record<Defect, { status: number; code: string }> = {
    'no token': { status: 401, code: 'UNAUTHORIZED' },
    'malformed header': { status: 401, code: 'UNAUTHORIZED' },
    'not a JWT': { status: 401, code: 'UNAUTHORIZED' },
    'bad signature': { status: 401, code: 'UNAUTHORIZED' },
    expired: { status: 401, code: 'UNAUTHORIZED' },
    'wrong issuer': { status: 401, code: 'UNAUTHORIZED' },
    'alg none': { status: 401, code: 'UNAUTHORIZED' },
    'wrong tenant': { status: 403, code: 'FORBIDDEN' },
    'wrong role': { status: 403, code: 'FORBIDDEN' },
    'no role': { status: 403, code: 'FORBIDDEN' },
  };

  const DEFECTS = Object.keys(EXPECTED) as Defect[];

  describe('the route x credential matrix and cross-tenant attempts', () => {
    // testsPassed is bumped as the last statement of each test, so a failed test is not counted.
    const figures = { matrixCells: 0, matrixRoutes: 0, crossTenantAttempts: 0, tests: 5, testsPassed: 0 };

    afterAll(() => {
      writeArtifact(`isolation-${spec.name}`, {
        ...figures,
        defects: DEFECTS,
        failures: figures.tests - figures.testsPassed,
      });
    });

    it('covers every protected route of the route table', () => {
      expect(protectedRoutes.length).toBe(routes.filter((r) => r.access !== 'public').length);
      expect(protectedRoutes.length).toBeGreaterThanOrEqual(13);
      figures.testsPassed++;
    });

    it('answers every route x token defect with the exact 401/403 and code, and changes nothing', async () => {
      const before = await snapshotOfB();
      const beforeA = (await call('GET', `/v1/tenants/${A}/audit`, { token: tokenA })).body.items.length;
      const mismatches: string[] = [];
      for (const route of protectedRoutes) {
        figures.matrixRoutes++;
        for (const defect of DEFECTS) {
          const authorization = await authorizationFor(route, defect);
          if (authorization === undefined) continue;
          const res = await call(route.method, concretePath(route), {
            ...(authorization === null ? {} : { authorization }),
            ...(route.streamBody ? { cms: Buffer.from([0x30, 0x00]) } : route.body ? { json: {} } : {}),
          });
          figures.matrixCells++;
          const expected = EXPECTED[defect];
          const code = res.body?.error?.code;
          if (res.status !== expected.status || code !== expected.code) {
            mismatches.push(
              `${route.method} ${route.path} [${defect}]: got ${res.status} ${code}, want ${expected.status} ${expected.code}`,
            );
          }
          if (expected.status === 401 && !res.headers.get('www-authenticate')?.startsWith('Bearer')) {
            mismatches.push(
              `${route.method} ${route.path} [${defect}]: 401 without WWW-Authenticate: Bearer`,
            );
          }
        }
      }
      expect(mismatches).toEqual([]);
      // Nothing any refused request tried went through: A's data and audit and B's are as before.
      expect((await call('GET', `/v1/tenants/${A}/certificates/${certA}`, { token: tokenA })).status).toBe(
        200,
      );
      expect((await call('GET', `/v1/tenants/${A}/audit`, { token: tokenA })).body.items.length).toBe(
        beforeA,
      );
      expect(await snapshotOfB()).toEqual(before);
      figures.testsPassed++;
    });

    it('lets the right token through on every route (the matrix is not vacuous)', async () => {
      const refused: string[] = [];
      for (const route of protectedRoutes) {
        const roles = route.access.roles;
        const token = await h.token({ tenants: route.access.tenantScoped ? [A] : [], roles });
        // Read-only or refused-by-state requests only: nonexistent ids for the routes that change things.
        const path = concretePath(route).replace(certA, route.method === 'DELETE' ? 'f'.repeat(32) : certA);
        const res = await call(route.method, path, {
          token,
          ...(route.streamBody ? { cms: Buffer.from([0x30, 0x00]) } : route.body ? { json: {} } : {}),
        });
        if (res.status === 401 || res.status === 403)
          refused.push(`${route.method} ${route.path}: ${res.status}`);
      }
      expect(refused).toEqual([]);
      figures.testsPassed++;
    });

    it("gives tenant A's admin nothing of tenant B: not readable, not changeable, not decryptable", async () => {
      const before = await snapshotOfB();
      const attempts: [string, string, Parameters<typeof call>[2], number, string][] = [
        // B's own paths with A's token: refused outright.
        ['GET', `/v1/tenants/${B}/certificates`, { token: tokenA }, 403, 'FORBIDDEN'],
        ['GET', `/v1/tenants/${B}/certificates/${certB}`, { token: tokenA }, 403, 'FORBIDDEN'],
        ['DELETE', `/v1/tenants/${B}/certificates/${certB}?force=true`, { token: tokenA }, 403, 'FORBIDDEN'],
        ['GET', `/v1/tenants/${B}/notifications`, { token: tokenA }, 403, 'FORBIDDEN'],
        ['GET', `/v1/tenants/${B}/audit`, { token: tokenA }, 403, 'FORBIDDEN'],
        ['GET', `/v1/tenants/${B}/ivr-profiles/record`, { token: tokenA }, 403, 'FORBIDDEN'],
        // Spellings of B's id that must not slip past the tenant check.
        [
          'GET',
          `/v1/tenants/${encodeURIComponent(B).replace('-', '%2D')}/certificates`,
          { token: tokenA },
          403,
          'FORBIDDEN',
        ],
        ['GET', `/v1/tenants/${B.toUpperCase()}/certificates`, { token: tokenA }, 403, 'FORBIDDEN'],
        ['GET', `/v1/tenants/${A}%2F..%2F${B}/certificates`, { token: tokenA }, 403, 'FORBIDDEN'],
        // B's ids under A's own path: not found, never B's data.
        ['GET', `/v1/tenants/${A}/certificates/${certB}`, { token: tokenA }, 404, 'NOT_FOUND'],
        ['DELETE', `/v1/tenants/${A}/certificates/${certB}?force=true`, { token: tokenA }, 404, 'NOT_FOUND'],
        [
          'POST',
          `/v1/tenants/${A}/certificates/${certB}/verify-key`,
          { token: tokenA, json: { privateKey: pairB.keyPem } },
          404,
          'NOT_FOUND',
        ],
        [
          'PUT',
          `/v1/tenants/${A}/ivr-profiles/record/recording-certificate`,
          { token: tokenA, json: { certificateId: certB } },
          404,
          'NOT_FOUND',
        ],
        [
          'PATCH',
          `/v1/tenants/${A}/screen-recording-certificates`,
          { token: tokenA, json: { add: [certB] } },
          404,
          'NOT_FOUND',
        ],
      ];
      const mismatches: string[] = [];
      for (const [method, path, options, status, code] of attempts) {
        figures.crossTenantAttempts++;
        const res = await call(method, path, options);
        if (res.status !== status || res.body?.error?.code !== code) {
          mismatches.push(
            `${method} ${path}: got ${res.status} ${res.body?.error?.code}, want ${status} ${code}`,
          );
        }
      }
      // B's ids in A's requests are answered exactly like ids that never existed: no oracle.
      const ghost = 'e'.repeat(32);
      for (const [method, path, json] of [
        ['GET', `/v1/tenants/${A}/certificates/{id}`, undefined],
        ['DELETE', `/v1/tenants/${A}/certificates/{id}`, undefined],
        ['POST', `/v1/tenants/${A}/certificates/{id}/verify-key`, { privateKey: pairB.keyPem }],
        ['PUT', `/v1/tenants/${A}/ivr-profiles/record/recording-certificate`, { certificateId: '{id}' }],
        ['PATCH', `/v1/tenants/${A}/screen-recording-certificates`, { add: ['{id}'] }],
        ['PATCH', `/v1/tenants/${A}/screen-recording-certificates`, { remove: ['{id}'] }],
      ] as const) {
        figures.crossTenantAttempts++;
        const fill = (id: string) => ({
          path: path.replace('{id}', id),
          json: json === undefined ? undefined : JSON.parse(JSON.stringify(json).replace('{id}', id)),
        });
        const withB = fill(certB);
        const withGhost = fill(ghost);
        const real = await call(method, withB.path, { token: tokenA, json: withB.json });
        const none = await call(method, withGhost.path, { token: tokenA, json: withGhost.json });
        const shape = (r: Answer) => `${r.status} ${r.body?.error?.code ?? ''}`;
        if (shape(real) !== shape(none)) {
          mismatches.push(
            `${method} ${path} with B's id: ${shape(real)}, with a never-existing id: ${shape(none)}`,
          );
        }
        if (JSON.stringify(real.body ?? '').includes(B))
          mismatches.push(`${method} ${path}: the answer names tenant B`);
      }
      expect(mismatches).toEqual([]);

      // A recording made for B's certificate cannot be opened with A's keys.
      const recording = await encryptRecording(Buffer.from('tenant B only'), [pairB.certPem]);
      figures.crossTenantAttempts++;
      const decrypt = await call('POST', `/v1/tenants/${A}/recordings/decrypt`, {
        token: tokenA,
        cms: recording,
      });
      expect({ status: decrypt.status, code: decrypt.body?.error?.code }).toEqual({
        status: 422,
        code: 'NO_MATCHING_KEY',
      });

      // A's own lists hold nothing of B.
      const mine = await Promise.all(
        [
          '/certificates',
          '/notifications',
          '/audit',
          '/screen-recording-certificates',
          '/ivr-profiles/record',
        ].map(async (p) =>
          JSON.stringify((await call('GET', `/v1/tenants/${A}${p}`, { token: tokenA })).body),
        ),
      );
      for (const text of mine) {
        expect(text).not.toContain(certB);
        expect(text).not.toContain(B);
      }
      // B's notifications exist (so the check above is not vacuous) and B is unchanged.
      expect((before as { notifications: { items: unknown[] } }).notifications.items.length).toBeGreaterThan(
        0,
      );
      expect(await snapshotOfB()).toEqual(before);
      figures.testsPassed++;
    });

    it('a token for several tenants opens exactly those tenants', async () => {
      const both = await h.token({ tenants: [A, 'iso-c'], roles: ['decrypt'] });
      expect((await call('GET', `/v1/tenants/${A}/certificates`, { token: both })).status).toBe(200);
      expect((await call('GET', '/v1/tenants/iso-c/certificates', { token: both })).status).toBe(200);
      const res = await call('GET', `/v1/tenants/${B}/certificates`, { token: both });
      expect({ status: res.status, code: res.body?.error?.code }).toEqual({ status: 403, code: 'FORBIDDEN' });
      figures.testsPassed++;
    });
  });
});
