/**
 * The OpenID provider of the sign-in tests, as a process (signin-provider.ts starts it): a real
 * `oidc-provider` with a public client for the page (PKCE required), its own login and consent
 * pages, JWT access tokens for the API's audience that carry `tenant` and `roles` (as the Cognito
 * pre-token-generation trigger adds them), refresh tokens and RP-initiated logout. Options come in
 * SIGNIN_PROVIDER_OPTIONS; it prints `issuer <url>` when listening and `refresh` per refresh grant.
 */
import { generateKeyPairSync } from 'node:crypto';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { ProviderOptions } from './signin-provider';

interface ProviderInstance {
  on(event: string, listener: (ctx: { oidc: { params?: { grant_type?: unknown } } }) => void): void;
  callback(): (req: unknown, res: unknown) => void;
}
type ProviderClass = new (issuer: string, config: Record<string, unknown>) => ProviderInstance;

async function main(): Promise<void> {
  const options = JSON.parse(process.env.SIGNIN_PROVIDER_OPTIONS ?? '') as ProviderOptions;
  // No type declarations ship with oidc-provider; the two members used are typed above.
  const { default: Provider } = (await import('oidc-provider' as string)) as { default: ProviderClass };
  const http = createServer();
  await new Promise<void>((r) => http.listen(0, '127.0.0.1', () => r()));
  const { port } = http.address() as AddressInfo;
  const issuer = `http://127.0.0.1:${port}`;
  const users = new Map(options.users.map((u) => [u.id, u]));
  const claimsOf = (id: string): Record<string, unknown> => {
    const u = users.get(id);
    return { ...(u?.tenant ? { tenant: u.tenant } : {}), roles: u?.roles ?? [] };
  };
  const signingKey = generateKeyPairSync('rsa', { modulusLength: 2048 }).privateKey.export({ format: 'jwk' });
  const pageOrigin = new URL(options.pageUrl).origin;

  const provider = new Provider(issuer, {
    clients: [
      {
        client_id: options.clientId,
        token_endpoint_auth_method: 'none',
        redirect_uris: [options.pageUrl],
        post_logout_redirect_uris: [options.pageUrl],
        grant_types: ['authorization_code', 'refresh_token'],
        response_types: ['code'],
      },
    ],
    jwks: { keys: [{ ...signingKey, kid: 'signin-test', alg: 'RS256', use: 'sig' }] },
    cookies: { keys: ['signin-test-cookie-key-0123456789'] },
    pkce: { required: () => true },
    findAccount: (_ctx: unknown, id: string) =>
      users.has(id) ? { accountId: id, claims: () => ({ sub: id }) } : undefined,
    // What the Cognito pre-token-generation trigger does: the tenant and roles in the access token.
    extraTokenClaims: (_ctx: unknown, token: { kind: string; accountId?: string }) =>
      token.kind === 'AccessToken' && token.accountId ? claimsOf(token.accountId) : undefined,
    features: {
      devInteractions: { enabled: true },
      rpInitiatedLogout: { enabled: true },
      resourceIndicators: {
        enabled: true,
        defaultResource: () => options.apiAudience,
        useGrantedResource: () => true,
        getResourceServerInfo: () => ({
          scope: 'api',
          audience: options.apiAudience,
          accessTokenFormat: 'jwt',
          accessTokenTTL: options.accessTokenTtl,
          jwt: { sign: { alg: 'RS256' } },
        }),
      },
    },
    clientBasedCORS: (_ctx: unknown, origin: string) => origin === pageOrigin,
    ttl: {
      AccessToken: options.accessTokenTtl,
      IdToken: 3600,
      RefreshToken: 3600,
      Grant: 3600,
      Session: 3600,
      Interaction: 600,
    },
  });
  provider.on('grant.success', (ctx) => {
    if (ctx.oidc.params?.grant_type === 'refresh_token') process.stdout.write('refresh\n');
  });
  http.on('request', provider.callback());
  process.on('SIGTERM', () => {
    http.closeAllConnections();
    http.close(() => process.exit(0));
  });
  process.stdout.write(`issuer ${issuer}\n`);
}

main().catch((error: unknown) => {
  process.stderr.write(`${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`);
  process.exit(1);
});
