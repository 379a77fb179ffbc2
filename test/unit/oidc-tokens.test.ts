import { generateKeyPairSync, randomBytes } from 'node:crypto';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { createLocalJWKSet, exportJWK, SignJWT } from 'jose';
import { readAuthConfig } from '../../functions/azure/auth';
import { mintLocalToken } from '../../functions/common/local-tokens';
import {
  jwtAuthenticator,
  mapClaims,
  readClaimNames,
  readOidcIssuer,
} from '../../functions/common/oidc-tokens';
import { readLocalConfig } from '../../functions/local/config';
import { type LocalRuntime, startLocalRuntime } from '../../functions/local/server';
import type { ApiRequest } from '../../shared/http/api-handler';
import { jsonLogger } from '../../shared/logging';
import { tempDir } from '../helpers/pki';

const NOW = () => Math.floor(Date.now() / 1000);

describe('external issuer settings (RECCERT_JWT_*)', () => {
  const full = {
    RECCERT_JWKS_URI: 'https://login.example/keys',
    RECCERT_JWT_ISSUER: 'https://login.example/',
    RECCERT_JWT_AUDIENCE: 'api://reccert',
  };

  it('is off when none of issuer, audience and JWKS URI is set, and names what is missing when some are', () => {
    expect(readOidcIssuer({})).toBeUndefined();
    expect(() => readOidcIssuer({ RECCERT_JWT_ISSUER: 'https://login.example/' })).toThrow(
      /RECCERT_JWKS_URI, RECCERT_JWT_AUDIENCE/,
    );
  });

  it('takes the claim names, defaulting to tenant, tenants and roles, and refuses a name that is not one', () => {
    expect(readOidcIssuer(full)?.claimNames).toEqual({
      tenant: 'tenant',
      tenants: 'tenants',
      roles: 'roles',
    });
    expect(
      readClaimNames({ RECCERT_JWT_TENANT_CLAIM: 'extn.reccertTenant', RECCERT_JWT_ROLES_CLAIM: 'groups' }),
    ).toEqual({ tenant: 'extn.reccertTenant', tenants: 'tenants', roles: 'groups' });
    expect(() => readClaimNames({ RECCERT_JWT_ROLES_CLAIM: 'a b' })).toThrow(/RECCERT_JWT_ROLES_CLAIM/);
  });

  it('refuses a JWKS URI over plain http unless it is on this machine', () => {
    expect(() => readOidcIssuer({ ...full, RECCERT_JWKS_URI: 'http://login.example/keys' })).toThrow(/https/);
    expect(readOidcIssuer({ ...full, RECCERT_JWKS_URI: 'http://127.0.0.1:9000/jwks' })?.jwksUri).toBe(
      'http://127.0.0.1:9000/jwks',
    );
  });

  it('is read by the local runtime (a start-up error names the setting) and by the Azure runtime', () => {
    expect(readLocalConfig({}).oidc).toBeUndefined();
    expect(readLocalConfig({ ...full, RECCERT_JWT_TENANT_CLAIM: 'org' }).oidc).toMatchObject({
      issuer: 'https://login.example/',
      claimNames: { tenant: 'org' },
    });
    expect(() => readLocalConfig({ RECCERT_JWT_AUDIENCE: 'x' })).toThrow(/RECCERT_JWKS_URI/);
    expect(readAuthConfig({ ...full, RECCERT_JWT_ROLES_CLAIM: 'app_roles' })).toMatchObject({
      mode: 'jwt',
      claimNames: { roles: 'app_roles' },
    });
  });
});

describe('mapClaims', () => {
  it('reads tenant and roles from the configured claims only, and passes sub and the times on', () => {
    const mapped = mapClaims(
      { sub: 'u', exp: 5, iat: 1, tenant: 'spoofed', roles: ['operator'], org: 'acme', app_roles: ['admin'] },
      { tenant: 'org', tenants: 'orgs', roles: 'app_roles' },
    );
    expect({ ...mapped }).toEqual({ sub: 'u', exp: 5, iat: 1, tenant: 'acme', roles: ['admin'] });
  });
});

describe('jwtAuthenticator with mapped claim names', () => {
  const issuer = 'https://login.example/v2.0';
  const audience = 'api://reccert';
  const { privateKey, publicKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });

  it('builds the caller from the mapped claims, and a wrong type there is still a 401', async () => {
    const jwk = { ...(await exportJWK(publicKey)), kid: 'k1', alg: 'RS256' };
    const authenticate = jwtAuthenticator(createLocalJWKSet({ keys: [jwk] }), issuer, audience, {
      tenant: 'extn.tenant',
      tenants: 'tenants',
      roles: 'roles',
    });
    const request = async (claims: Record<string, unknown>): Promise<ApiRequest> => {
      const token = await new SignJWT(claims)
        .setProtectedHeader({ alg: 'RS256', kid: 'k1' })
        .setIssuer(issuer)
        .setAudience(audience)
        .setSubject('entra-user')
        .setExpirationTime(NOW() + 300)
        .sign(privateKey);
      return { method: 'GET', path: '/v1/x', query: {}, headers: { authorization: `Bearer ${token}` } };
    };

    await expect(
      authenticate(await request({ 'extn.tenant': 'acme', tenant: 'other', roles: ['admin'] })),
    ).resolves.toEqual({ subject: 'entra-user', tenants: ['acme'], roles: ['admin'] });
    await expect(
      authenticate(await request({ 'extn.tenant': ['acme'], roles: ['admin'] })),
    ).rejects.toMatchObject({
      code: 'UNAUTHORIZED',
    });
  });
});

describe('the local runtime with an external issuer (RECCERT_JWT_*)', () => {
  const issuer = 'https://idp.example/';
  const audience = 'urn:reccert:api';
  const provider = generateKeyPairSync('rsa', { modulusLength: 2048 });
  const stranger = generateKeyPairSync('rsa', { modulusLength: 2048 });
  let jwks: Server;
  let runtime: LocalRuntime;

  beforeAll(async () => {
    const jwk = { ...(await exportJWK(provider.publicKey)), kid: 'idp', alg: 'RS256', use: 'sig' };
    jwks = createServer((_req, res) => {
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ keys: [jwk] }));
    });
    await new Promise<void>((r) => jwks.listen(0, '127.0.0.1', () => r()));
    const config = readLocalConfig({
      PORT: '0',
      HOST: '127.0.0.1',
      DATA_DIR: join(tempDir(), 'data'),
      LOG_LEVEL: 'silent',
      RECCERT_JWT_ISSUER: issuer,
      RECCERT_JWT_AUDIENCE: audience,
      RECCERT_JWKS_URI: `http://127.0.0.1:${(jwks.address() as AddressInfo).port}/keys`,
      RECCERT_JWT_TENANT_CLAIM: 'org',
    });
    runtime = await startLocalRuntime(config, jsonLogger('silent'));
  });
  afterAll(async () => {
    await runtime?.close();
    await new Promise((r) => jwks.close(r));
  });

  const sign = (key: Parameters<SignJWT['sign']>[0], alg = 'RS256') =>
    new SignJWT({ org: 'acme', roles: ['decrypt'] })
      .setProtectedHeader({ alg, kid: 'idp' })
      .setIssuer(issuer)
      .setAudience(audience)
      .setSubject('idp-user')
      .setExpirationTime(NOW() + 300)
      .sign(key);
  const list = async (token: string) =>
    (
      await fetch(`${runtime.url}/v1/tenants/acme/certificates`, {
        headers: { authorization: `Bearer ${token}` },
      })
    ).status;

  it("accepts the provider's tokens with the mapped tenant claim, and its own tokens as before", async () => {
    expect(await list(await sign(provider.privateKey))).toBe(200);
    expect(
      await list(await mintLocalToken(runtime.tokenSecret, { tenants: ['acme'], roles: ['decrypt'] })),
    ).toBe(200);
  });

  it("refuses a token signed with another key, and an HS256 token that claims the provider's issuer", async () => {
    expect(await list(await sign(stranger.privateKey))).toBe(401);
    expect(await list(await sign(randomBytes(32), 'HS256'))).toBe(401);
  });
});
