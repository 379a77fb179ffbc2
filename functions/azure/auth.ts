/**
 * Who is calling, on the Azure runtime. The HTTP functions are `authLevel: 'anonymous'` (no
 * function keys): the app checks the caller itself, in one of three modes chosen by
 * `RECCERT_AUTH_MODE` and read once at start-up:
 *
 * - `jwt` (default): a bearer JWT verified with jose against the identity provider's JWKS
 *   (`RECCERT_JWKS_URI`), issuer `RECCERT_JWT_ISSUER` and audience `RECCERT_JWT_AUDIENCE`;
 *   asymmetric algorithms only, so a token can never be "signed" with a public key as an HMAC secret.
 *   Entra ID names no claim `tenant`: `RECCERT_JWT_TENANT_CLAIM` / `_TENANTS_CLAIM` / `_ROLES_CLAIM`
 *   say which claims carry the tenant(s) and roles (functions/common/oidc-tokens.ts; docs/azure.md).
 * - `appservice`: App Service authentication ("Easy Auth") validated the token in front of the
 *   app and passes the principal as the `x-ms-client-principal` header (base64 JSON with a
 *   claims array). Use it only with authentication required on the Function App: App Service then
 *   removes that header from what clients send, so only the platform can set it.
 * - `local` (development only): the HS256 tokens of the local runtime, with the secret in the data
 *   directory (`npx reccert token`), so `npm run start:azure` takes the same tokens as `npm start`.
 */
import type { Principal } from '../../shared/domain/types';
import { AuthError } from '../../shared/errors';
import type { Authenticator } from '../../shared/http/api-handler';
import { principalFromClaims } from '../../shared/http/auth';
import { loadOrCreateTokenSecret, verifyLocalToken } from '../common/local-tokens';
import {
  type ClaimNames,
  DEFAULT_CLAIM_NAMES,
  jwtAuthenticator,
  type OidcIssuerConfig,
  oidcAuthenticator,
  readClaimNames,
  readOidcIssuer,
  requireBearer,
} from '../common/oidc-tokens';

export { jwtAuthenticator };

/** How the Azure runtime authenticates callers. */
export type AzureAuthConfig =
  | ({ mode: 'jwt' } & OidcIssuerConfig)
  | { mode: 'appservice'; claimNames: ClaimNames }
  | { mode: 'local'; dataDir: string };

/** The App Service header that carries the authenticated principal. */
export const CLIENT_PRINCIPAL_HEADER = 'x-ms-client-principal';

/** Claim types App Service uses for the subject when the token had no plain `sub`. */
const SUBJECT_CLAIM_TYPES = [
  'sub',
  'http://schemas.xmlsoap.org/ws/2005/05/identity/claims/nameidentifier',
  'http://schemas.microsoft.com/identity/claims/objectidentifier',
  'oid',
];
const ROLE_CLAIM_TYPE_URI = 'http://schemas.microsoft.com/ws/2008/06/identity/claims/role';

/** Reads the auth settings from `env` (once, at start-up); throws naming what is missing. */
export function readAuthConfig(env: NodeJS.ProcessEnv = process.env): AzureAuthConfig {
  const mode = (env.RECCERT_AUTH_MODE ?? 'jwt').trim() || 'jwt';
  if (mode === 'appservice') return { mode, claimNames: readClaimNames(env) };
  if (mode === 'local') {
    const dataDir = env.DATA_DIR?.trim();
    if (!dataDir) throw new Error('RECCERT_AUTH_MODE=local needs DATA_DIR (where token.secret is kept).');
    return { mode, dataDir };
  }
  if (mode !== 'jwt') throw new Error(`RECCERT_AUTH_MODE must be jwt, appservice or local (got '${mode}').`);
  const issuer = readOidcIssuer(env);
  if (!issuer) {
    throw new Error(
      'RECCERT_AUTH_MODE=jwt needs RECCERT_JWKS_URI, RECCERT_JWT_ISSUER, RECCERT_JWT_AUDIENCE.',
    );
  }
  return { mode, ...issuer };
}

/** Builds the authenticator for `config` (the JWKS is fetched lazily and cached by jose). */
export function createAuthenticator(config: AzureAuthConfig): Authenticator {
  switch (config.mode) {
    case 'jwt':
      return oidcAuthenticator(config);
    case 'appservice':
      return async (request) =>
        principalFromAppService(request.headers[CLIENT_PRINCIPAL_HEADER], config.claimNames);
    case 'local': {
      const secret = loadOrCreateTokenSecret(config.dataDir);
      return async (request) => verifyLocalToken(secret, requireBearer(request));
    }
  }
}

interface ClientPrincipal {
  claims?: { typ?: unknown; val?: unknown }[];
  role_typ?: unknown;
  name_typ?: unknown;
}

/**
 * The caller from App Service authentication's `x-ms-client-principal` header: its claims array
 * becomes a claims object (a type given several times becomes a list) and goes through the same
 * `principalFromClaims` as a JWT's payload.
 */
export function principalFromAppService(
  header: string | undefined,
  claimNames: ClaimNames = DEFAULT_CLAIM_NAMES,
): Principal {
  if (!header) {
    throw new AuthError('UNAUTHORIZED', 'Sign in first: App Service authentication sent no principal.');
  }
  let principal: ClientPrincipal;
  try {
    principal = JSON.parse(Buffer.from(header, 'base64').toString('utf8')) as ClientPrincipal;
  } catch (error) {
    throw new AuthError('UNAUTHORIZED', 'The App Service principal header is malformed.', { cause: error });
  }
  if (!Array.isArray(principal?.claims)) {
    throw new AuthError('UNAUTHORIZED', 'The App Service principal header has no claims.');
  }
  const byType = new Map<string, string[]>();
  for (const claim of principal.claims) {
    if (typeof claim?.typ !== 'string' || typeof claim.val !== 'string') continue;
    byType.set(claim.typ, [...(byType.get(claim.typ) ?? []), claim.val]);
  }
  const first = (types: string[]) => types.map((t) => byType.get(t)?.[0]).find((v) => v !== undefined);
  const all = (types: string[]) => types.flatMap((t) => byType.get(t) ?? []);
  // The platform's own role claim types count only while roles are not mapped to another claim.
  const roleTypes =
    claimNames.roles !== DEFAULT_CLAIM_NAMES.roles
      ? [claimNames.roles]
      : typeof principal.role_typ === 'string'
        ? ['roles', ROLE_CLAIM_TYPE_URI, principal.role_typ]
        : ['roles', ROLE_CLAIM_TYPE_URI];
  // A `roles`/`tenants` claim may itself be a JSON array in a single value.
  const spread = (values: string[]) => values.flatMap((v) => (v.startsWith('[') ? parseList(v) : [v]));
  // The platform validated the token and its times; the header does not carry them.
  return principalFromClaims(
    {
      sub: first(SUBJECT_CLAIM_TYPES),
      tenants: spread(all([claimNames.tenant, claimNames.tenants])),
      roles: [...new Set(spread(all(roleTypes)))],
    },
    { transport: 'app-service', now: new Date() },
  );
}

function parseList(value: string): string[] {
  try {
    const parsed = JSON.parse(value) as unknown;
    return Array.isArray(parsed) ? parsed.filter((v): v is string => typeof v === 'string') : [value];
  } catch {
    return [value];
  }
}
