import { generateKeyPairSync, randomBytes, randomUUID } from 'node:crypto';
import { createLocalJWKSet, exportJWK, SignJWT } from 'jose';
import { readFunction } from '../../functions/aws/handlers/read';
import type { HttpApiEvent, HttpApiResult } from '../../functions/aws/runtime';
import { jwtAuthenticator } from '../../functions/azure/auth';
import {
  cachedLocalTokenVerifier,
  LOCAL_AUDIENCE,
  LOCAL_ISSUER,
  verifyLocalToken,
} from '../../functions/common/local-tokens';
import { AuthError } from '../../shared/errors';
import type { ApiRequest } from '../../shared/http/api-handler';
import { principalFromClaims } from '../../shared/http/auth';
import { type TestCore, testCore } from '../helpers/core';

const NOW = () => Math.floor(Date.now() / 1000);

/** Claim sets every runtime must refuse with 401, each named for what is wrong with it. */
function hostileClaims(): [string, Record<string, unknown>][] {
  const good = { sub: 'someone', tenant: 'acme', roles: ['admin'], iat: NOW(), exp: NOW() + 600 };
  const without = (name: keyof typeof good) => {
    const copy: Record<string, unknown> = { ...good };
    delete copy[name];
    return copy;
  };
  return [
    ['no exp', without('exp')],
    ['exp passed', { ...good, exp: NOW() - 5 }],
    ['iat 2 minutes ahead', { ...good, iat: NOW() + 120 }],
    ['nbf 2 minutes ahead', { ...good, nbf: NOW() + 120 }],
    ['tenants as a string', { ...without('tenant'), tenants: 'acme beta' }],
    ['roles as a string', { ...good, roles: 'admin' }],
    ['tenant as an array', { ...good, tenant: ['acme'] }],
    ['tenant as a number', { ...good, tenant: 7 }],
    ['tenants with a number', { ...without('tenant'), tenants: ['acme', 7] }],
    ['roles with an object', { ...good, roles: ['admin', { role: 'decrypt' }] }],
    ['no sub', without('sub')],
    ['empty sub', { ...good, sub: '' }],
    ['sub as a number', { ...good, sub: 42 }],
  ];
}

function refusal(run: () => unknown): Promise<string> {
  return Promise.resolve()
    .then(run)
    .then(
      () => 'accepted',
      (error: unknown) => (error instanceof AuthError ? error.code : `not an AuthError: ${String(error)}`),
    );
}

describe('principalFromClaims (the one place of the claim rules)', () => {
  it('takes tenant, tenants and roles of the right types, and ignores roles it does not know', () => {
    const principal = principalFromClaims(
      { sub: 'u', tenant: 'acme', tenants: ['beta'], roles: ['decrypt', 'viewer'], exp: NOW() + 60 },
      { transport: 'jwt', now: new Date() },
    );

    expect(principal).toEqual({ subject: 'u', tenants: ['acme', 'beta'], roles: ['decrypt'] });
  });

  it('accepts iat and nbf up to 60 s ahead (clock skew) and refuses them beyond', async () => {
    const now = new Date();
    const at = (seconds: number) => ({
      sub: 'u',
      exp: NOW() + 600,
      iat: NOW() + seconds,
      nbf: NOW() + seconds,
    });

    expect(principalFromClaims(at(50), { transport: 'jwt', now }).subject).toBe('u');
    expect(await refusal(() => principalFromClaims(at(70), { transport: 'jwt', now }))).toBe('UNAUTHORIZED');
  });

  it('reads API Gateway strings: "[a b]" lists and numeric times, and nothing else', async () => {
    const now = new Date();
    const flat = {
      sub: 'u',
      exp: String(NOW() + 600),
      iat: String(NOW()),
      tenants: '[acme beta]',
      roles: '[admin]',
    };

    expect(principalFromClaims(flat, { transport: 'api-gateway', now })).toEqual({
      subject: 'u',
      tenants: ['acme', 'beta'],
      roles: ['admin'],
    });
    for (const wrong of [
      { ...flat, tenants: 'acme beta' },
      { ...flat, roles: 'admin' },
      { ...flat, tenant: '[acme]' },
      { ...flat, exp: 'tomorrow' },
    ]) {
      expect(await refusal(() => principalFromClaims(wrong, { transport: 'api-gateway', now }))).toBe(
        'UNAUTHORIZED',
      );
    }
    // A bracketed string is a list only for the API Gateway transport.
    expect(
      await refusal(() => principalFromClaims({ ...flat, exp: NOW() + 600 }, { transport: 'jwt', now })),
    ).toBe('UNAUTHORIZED');
  });
});

describe('local runtime tokens (verifyLocalToken)', () => {
  const secret = randomBytes(32);
  const sign = (claims: Record<string, unknown>) =>
    new SignJWT(claims)
      .setProtectedHeader({ alg: 'HS256', typ: 'JWT' })
      .setIssuer(LOCAL_ISSUER)
      .setAudience(LOCAL_AUDIENCE)
      .sign(secret);

  it('regression #11: refuses a token without exp, with iat ahead, or with claims of the wrong type', async () => {
    const outcomes: Record<string, string> = {};

    for (const [name, claims] of hostileClaims()) {
      const token = await sign(claims);
      outcomes[name] = await refusal(() => verifyLocalToken(secret, token));
    }

    expect(Object.values(outcomes)).toEqual(hostileClaims().map(() => 'UNAUTHORIZED'));
  });

  it('accepts a well-formed token', async () => {
    const token = await sign({
      sub: 'u',
      tenants: ['acme', 'beta'],
      roles: ['admin'],
      iat: NOW(),
      exp: NOW() + 60,
    });

    await expect(verifyLocalToken(secret, token)).resolves.toEqual({
      subject: 'u',
      tenants: ['acme', 'beta'],
      roles: ['admin'],
    });
  });
});

describe("cachedLocalTokenVerifier (the local server's remembered tokens)", () => {
  const secret = randomBytes(32);
  const sign = (claims: Record<string, unknown>, key = secret) =>
    new SignJWT(claims)
      .setProtectedHeader({ alg: 'HS256', typ: 'JWT' })
      .setIssuer(LOCAL_ISSUER)
      .setAudience(LOCAL_AUDIENCE)
      .sign(key);
  const good = (extra: Record<string, unknown> = {}) =>
    sign({ sub: 'u', tenant: 'acme', roles: ['admin'], iat: NOW(), exp: NOW() + 600, ...extra });

  it('refuses every token verifyLocalToken refuses, the second time too, and remembers none of them', async () => {
    const tokens = await Promise.all(hostileClaims().map(([, claims]) => sign(claims)));
    tokens.push(
      await good({}).then((t) => `${t.slice(0, -2)}AA`),
      await sign({ sub: 'u', exp: NOW() + 60 }, randomBytes(32)),
    );
    const cached = cachedLocalTokenVerifier(secret);

    const first = await Promise.all(tokens.map((t) => refusal(() => cached.verify(t))));
    const second = await Promise.all(tokens.map((t) => refusal(() => cached.verify(t))));

    expect(first).toEqual(tokens.map(() => 'UNAUTHORIZED'));
    expect(second).toEqual(first);
    expect(cached.size()).toBe(0);
  });

  it('accepts a remembered token again with the same caller', async () => {
    const token = await good({ tenants: ['beta'] });
    const cached = cachedLocalTokenVerifier(secret);

    const first = await cached.verify(token);
    const second = await cached.verify(token);

    expect(second).toEqual(first);
    expect(second).toEqual({ subject: 'u', tenants: ['acme', 'beta'], roles: ['admin'] });
    expect(cached.size()).toBe(1);
  });

  it('refuses a remembered token once its exp has passed', async () => {
    const exp = NOW() + 30;
    const token = await good({ exp });
    const cached = cachedLocalTokenVerifier(secret);
    await cached.verify(token);

    const atExp = await refusal(() => cached.verify(token, new Date(exp * 1000)));
    const justBefore = await refusal(() => cached.verify(token, new Date(exp * 1000 - 1)));

    expect(atExp).toBe('UNAUTHORIZED');
    expect(justBefore).toBe('accepted');
  });

  it('refuses a remembered token when the clock is back before its iat or nbf less the skew', async () => {
    const nbf = NOW() + 30;
    const token = await good({ nbf });
    const cached = cachedLocalTokenVerifier(secret);
    await cached.verify(token);

    const early = await refusal(() => cached.verify(token, new Date((nbf - 61) * 1000)));
    const withinSkew = await refusal(() => cached.verify(token, new Date((nbf - 60) * 1000)));

    expect(early).toBe('UNAUTHORIZED');
    expect(withinSkew).toBe('accepted');
  });

  it('remembers at most maxEntries tokens, and none longer than maxTokenLength', async () => {
    const cached = cachedLocalTokenVerifier(secret, { maxEntries: 2, maxTokenLength: 400 });
    const tokens = await Promise.all([1, 2, 3].map((n) => good({ sub: `user-${n}` })));
    const long = await good({ padding: 'x'.repeat(400) });

    for (const token of tokens) await cached.verify(token);
    await expect(cached.verify(long)).resolves.toMatchObject({ subject: 'u' });

    expect(cached.size()).toBe(2);
    await expect(cached.verify(tokens[0]!)).resolves.toMatchObject({ subject: 'user-1' });
  });

  it('gives each call its own copy of the caller', async () => {
    const token = await good();
    const cached = cachedLocalTokenVerifier(secret);
    const first = await cached.verify(token);

    first.tenants.push('other');
    first.roles.push('decrypt');

    await expect(cached.verify(token)).resolves.toEqual({
      subject: 'u',
      tenants: ['acme'],
      roles: ['admin'],
    });
  });
});

describe('Azure runtime tokens (jwtAuthenticator over a JWKS)', () => {
  const issuer = 'https://login.example/tenant/v2.0';
  const audience = 'api://reccert';
  const { privateKey, publicKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
  let authenticate: ReturnType<typeof jwtAuthenticator>;

  beforeAll(async () => {
    const jwk = { ...(await exportJWK(publicKey)), kid: 'k1', alg: 'RS256' };
    authenticate = jwtAuthenticator(createLocalJWKSet({ keys: [jwk] }), issuer, audience);
  });

  const request = async (claims: Record<string, unknown>): Promise<ApiRequest> => {
    const token = await new SignJWT(claims)
      .setProtectedHeader({ alg: 'RS256', kid: 'k1' })
      .setIssuer(issuer)
      .setAudience(audience)
      .sign(privateKey);
    return { method: 'GET', path: '/v1/x', query: {}, headers: { authorization: `Bearer ${token}` } };
  };

  it('regression #11: refuses a validly signed token without exp, with iat ahead, or with claims of the wrong type', async () => {
    const outcomes: string[] = [];

    for (const [, claims] of hostileClaims()) {
      const req = await request(claims);
      outcomes.push(await refusal(() => authenticate(req)));
    }

    expect(outcomes).toEqual(hostileClaims().map(() => 'UNAUTHORIZED'));
    await expect(authenticate(await request({ sub: 'u', tenant: 'acme', exp: NOW() + 60 }))).resolves.toEqual(
      {
        subject: 'u',
        tenants: ['acme'],
        roles: [],
      },
    );
  });
});

describe('AWS runtime tokens (the read function with API Gateway authorizer claims)', () => {
  let core: TestCore;
  let read: (event: HttpApiEvent) => Promise<HttpApiResult>;

  beforeAll(() => {
    core = testCore();
    read = readFunction(() => core.deps);
  });
  afterAll(() => core.close());

  /** API Gateway's rendering of claims: everything a string, arrays as "[a b]". */
  const flatten = (claims: Record<string, unknown>): Record<string, string> =>
    Object.fromEntries(
      Object.entries(claims).map(([k, v]) => [
        k,
        Array.isArray(v) ? `[${v.map(String).join(' ')}]` : String(v),
      ]),
    );

  /** The bearer token API Gateway verified and still forwards in the Authorization header. */
  const bearer = (claims: Record<string, unknown>) =>
    `Bearer e30.${Buffer.from(JSON.stringify(claims)).toString('base64url')}.c2lnbmF0dXJl`;

  const list = (tenant: string, claims: Record<string, string>, authorization?: string) =>
    read({
      version: '2.0',
      routeKey: 'GET /v1/tenants/{tenantId}/certificates',
      rawPath: `/v1/tenants/${tenant}/certificates`,
      rawQueryString: '',
      headers: { host: 'api.example', ...(authorization ? { authorization } : {}) },
      isBase64Encoded: false,
      requestContext: {
        accountId: '123456789012',
        apiId: 'api',
        domainName: 'api.example',
        domainPrefix: 'api',
        http: {
          method: 'GET',
          path: `/v1/tenants/${tenant}/certificates`,
          protocol: 'HTTP/1.1',
          sourceIp: '10.0.0.1',
          userAgent: 'jest',
        },
        requestId: randomUUID(),
        routeKey: 'GET /v1/tenants/{tenantId}/certificates',
        stage: '$default',
        time: new Date().toUTCString(),
        timeEpoch: Date.now(),
        authorizer: { jwt: { claims, scopes: [] } },
      },
    } as HttpApiEvent);

  it('regression #11: refuses claims without exp, with iat ahead, or of the wrong type with 401', async () => {
    // API Gateway renders a number as its digits, so a numeric sub or tenant cannot be told from a
    // string once it arrives here; every other wrong type still can.
    const lostInTransport = new Set(['tenant as a number', 'tenants with a number', 'sub as a number']);
    const cases = hostileClaims().filter(([name]) => !lostInTransport.has(name));
    const statuses: Record<string, number> = {};

    for (const [name, claims] of cases) {
      statuses[name] = (await list('acme', flatten(claims))).statusCode ?? 0;
    }

    expect(statuses).toEqual(Object.fromEntries(cases.map(([name]) => [name, 401])));
  });

  it('regression #11: refuses every wrong claim type, numbers included, by reading the types of the token the gateway verified', async () => {
    const statuses: Record<string, number> = {};

    for (const [name, claims] of hostileClaims()) {
      statuses[name] = (await list('acme', flatten(claims), bearer(claims))).statusCode ?? 0;
    }

    expect(statuses).toEqual(Object.fromEntries(hostileClaims().map(([name]) => [name, 401])));
  });

  it('restores no value from the Authorization header: a token that disagrees with the gateway is ignored', async () => {
    const verified = { sub: 'u', tenant: 'acme', roles: ['decrypt'], iat: NOW(), exp: NOW() + 60 };
    const forged = { ...verified, tenant: 'beta', roles: ['admin'] };

    // The gateway's claims (tenant acme) decide; the forged payload's beta is not honoured.
    expect((await list('beta', flatten(verified), bearer(forged))).statusCode).toBe(403);
    expect((await list('acme', flatten(verified), bearer(forged))).statusCode).toBe(200);
  });

  it('accepts the flattened arrays of a well-formed token', async () => {
    const claims = flatten({
      sub: 'u',
      tenants: ['acme', 'beta'],
      roles: ['decrypt'],
      iat: NOW(),
      exp: NOW() + 60,
    });

    expect((await list('beta', claims)).statusCode).toBe(200);
  });
});
