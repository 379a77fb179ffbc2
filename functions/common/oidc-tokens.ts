/**
 * Tokens of an external OpenID Connect provider, verified in code against its JWKS (the Azure
 * runtime's `jwt` mode and the local runtime's external issuer). Both runtimes read the same
 * settings: issuer, audience and JWKS URI, and the names of the claims that carry the tenant(s)
 * and the roles, because a provider rarely lets one name them `tenant` and `roles`.
 */
import { createRemoteJWKSet, type JWTVerifyGetKey, jwtVerify } from 'jose';
import { AuthError } from '../../shared/errors';
import { type ApiRequest, type Authenticator, bearerToken } from '../../shared/http/api-handler';
import { MAX_CLOCK_SKEW_SECONDS, principalFromClaims } from '../../shared/http/auth';

/** Algorithms a JWKS-verified token may use (never HS*, never none). */
const ASYMMETRIC_ALGORITHMS = [
  'RS256',
  'RS384',
  'RS512',
  'PS256',
  'PS384',
  'PS512',
  'ES256',
  'ES384',
  'ES512',
];

/** Which claims of the provider's token carry what DESIGN section 4 calls tenant, tenants and roles. */
export interface ClaimNames {
  tenant: string;
  tenants: string;
  roles: string;
}

export const DEFAULT_CLAIM_NAMES: Readonly<ClaimNames> = {
  tenant: 'tenant',
  tenants: 'tenants',
  roles: 'roles',
};

/** An external issuer whose tokens the API accepts. */
export interface OidcIssuerConfig {
  jwksUri: string;
  issuer: string;
  audience: string;
  claimNames: ClaimNames;
}

const CLAIM_NAME = /^[A-Za-z0-9_:.\-/]{1,128}$/;

/**
 * The claim names from `RECCERT_JWT_TENANT_CLAIM`, `RECCERT_JWT_TENANTS_CLAIM` and
 * `RECCERT_JWT_ROLES_CLAIM` (defaults `tenant`, `tenants`, `roles`); throws naming a bad one.
 */
export function readClaimNames(env: NodeJS.ProcessEnv): ClaimNames {
  const read = (name: string, fallback: string): string => {
    const value = env[name]?.trim() || fallback;
    if (!CLAIM_NAME.test(value)) {
      throw new Error(`${name} must be a claim name (letters, digits, _ : . - /; got '${value}').`);
    }
    return value;
  };
  return {
    tenant: read('RECCERT_JWT_TENANT_CLAIM', DEFAULT_CLAIM_NAMES.tenant),
    tenants: read('RECCERT_JWT_TENANTS_CLAIM', DEFAULT_CLAIM_NAMES.tenants),
    roles: read('RECCERT_JWT_ROLES_CLAIM', DEFAULT_CLAIM_NAMES.roles),
  };
}

function isLoopback(hostname: string): boolean {
  return hostname === '127.0.0.1' || hostname === 'localhost' || hostname === '[::1]';
}

/**
 * The external issuer from `RECCERT_JWKS_URI`, `RECCERT_JWT_ISSUER` and `RECCERT_JWT_AUDIENCE`
 * (plus the claim names): undefined when none is set, an Error naming what is missing when only
 * some are.
 */
export function readOidcIssuer(env: NodeJS.ProcessEnv): OidcIssuerConfig | undefined {
  const names = ['RECCERT_JWKS_URI', 'RECCERT_JWT_ISSUER', 'RECCERT_JWT_AUDIENCE'];
  const missing = names.filter((name) => !env[name]?.trim());
  if (missing.length === names.length) return undefined;
  if (missing.length > 0) throw new Error(`An external token issuer needs ${missing.join(', ')} too.`);
  const jwksUri = env.RECCERT_JWKS_URI!.trim();
  let url: URL;
  try {
    url = new URL(jwksUri);
  } catch {
    throw new Error(`RECCERT_JWKS_URI is not a URL: '${jwksUri}'.`);
  }
  // Keys fetched over plain http could be swapped on the way; only a loopback test server may use it.
  if (url.protocol !== 'https:' && !(url.protocol === 'http:' && isLoopback(url.hostname))) {
    throw new Error('RECCERT_JWKS_URI must be an https URL.');
  }
  return {
    jwksUri,
    issuer: env.RECCERT_JWT_ISSUER!.trim(),
    audience: env.RECCERT_JWT_AUDIENCE!.trim(),
    claimNames: readClaimNames(env),
  };
}

/**
 * The claims under the names of DESIGN section 4: the configured names are read and the
 * defaults are not (a provider's own `roles` must not grant anything when roles come from
 * elsewhere). The token times and `sub` pass through unchanged.
 */
export function mapClaims(payload: Record<string, unknown>, names: ClaimNames): Record<string, unknown> {
  const own = (name: string) => (Object.hasOwn(payload, name) ? payload[name] : undefined);
  const mapped: Record<string, unknown> = Object.create(null);
  for (const name of ['sub', 'exp', 'iat', 'nbf']) mapped[name] = own(name);
  mapped.tenant = own(names.tenant);
  mapped.tenants = own(names.tenants);
  mapped.roles = own(names.roles);
  for (const name of Object.keys(mapped)) if (mapped[name] === undefined) delete mapped[name];
  return mapped;
}

/** The bearer token of `request`, or a 401. */
export function requireBearer(request: ApiRequest): string {
  const token = bearerToken(request.headers);
  if (!token)
    throw new AuthError('UNAUTHORIZED', 'A bearer token is required (Authorization: Bearer <token>).');
  return token;
}

/** Verifies bearer JWTs with `keys` (a JWKS), the issuer and the audience. */
export function jwtAuthenticator(
  keys: JWTVerifyGetKey,
  issuer: string,
  audience: string,
  claimNames: ClaimNames = DEFAULT_CLAIM_NAMES,
): Authenticator {
  return async (request) => {
    const token = requireBearer(request);
    let payload: Record<string, unknown>;
    const now = new Date();
    try {
      ({ payload } = await jwtVerify(token, keys, {
        issuer,
        audience,
        algorithms: ASYMMETRIC_ALGORITHMS,
        requiredClaims: ['exp'],
        // jose's own time checks only as loose as the shared ones, which decide.
        clockTolerance: MAX_CLOCK_SKEW_SECONDS,
        currentDate: now,
      }));
    } catch (error) {
      // The reason (expired, wrong audience, unknown key) stays in the cause, not in the answer.
      throw new AuthError('UNAUTHORIZED', 'The bearer token is invalid or expired.', { cause: error });
    }
    return principalFromClaims(mapClaims(payload, claimNames), { transport: 'jwt', now });
  };
}

/** The authenticator for an external issuer (the JWKS is fetched lazily and cached by jose). */
export function oidcAuthenticator(config: OidcIssuerConfig): Authenticator {
  return jwtAuthenticator(
    createRemoteJWKSet(new URL(config.jwksUri)),
    config.issuer,
    config.audience,
    config.claimNames,
  );
}
