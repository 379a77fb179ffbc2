/**
 * Turning verified token claims into a Principal, and the role/tenant checks every route makes.
 * The claim rules of DESIGN section 4 live here only, for every runtime:
 *
 * - `exp` is required; `iat` and `nbf`, when present, may be at most 60 s in the future;
 * - `sub` is a non-empty string, `tenant` a string, `tenants` and `roles` arrays of strings;
 * - a claim of the wrong type is a 401 and is never reinterpreted (a string is not split).
 *
 * The one exception is the transport of the AWS runtime: API Gateway's JWT authorizer verifies
 * the token and hands its claims to the function as strings (an array `["admin","decrypt"]`
 * arrives as `"[admin decrypt]"`, numbers as their digits). Only for that transport, and only in
 * that exact shape, is a bracketed string read back as the array it was; a plain string where an
 * array belongs is still a 401, and so is a bracketed `tenant`, which was an array in the token.
 * (The flattening cannot tell `["a b"]` from `["a","b"]`; tenant ids and roles hold no spaces.)
 */
import type { Principal, Role } from '../domain/types';
import { AuthError } from '../errors';

const ROLES: ReadonlySet<string> = new Set(['admin', 'decrypt', 'operator']);

/** How far in the future `iat` and `nbf` may be (clock skew between issuer and service). */
export const MAX_CLOCK_SKEW_SECONDS = 60;

/**
 * Where the claims come from: `jwt` is a verified token's payload (local, Azure `jwt` mode);
 * `api-gateway` the strings API Gateway's authorizer passes on; `app-service` the principal App
 * Service authentication validated and passed on without the token's times (it checked them).
 */
export type ClaimsTransport = 'jwt' | 'api-gateway' | 'app-service';

export interface ClaimsContext {
  transport: ClaimsTransport;
  /** The server clock the token times are checked against. */
  now: Date;
}

function refuse(message: string): never {
  throw new AuthError('UNAUTHORIZED', `The bearer token is not acceptable: ${message}`);
}

function claim(claims: Record<string, unknown>, name: string): unknown {
  return Object.hasOwn(claims, name) ? claims[name] : undefined;
}

/** A NumericDate claim in seconds; API Gateway passes it as its decimal digits. */
function numericDate(value: unknown, name: string, transport: ClaimsTransport): number {
  if (typeof value === 'number' && Number.isFinite(value)) return value;
  if (transport === 'api-gateway' && typeof value === 'string' && /^\d{1,12}(\.\d+)?$/.test(value)) {
    return Number(value);
  }
  return refuse(`the ${name} claim must be a number of seconds.`);
}

function checkTimes(claims: Record<string, unknown>, { transport, now }: ClaimsContext): void {
  if (transport === 'app-service') return;
  const nowSeconds = now.getTime() / 1000;
  const exp = claim(claims, 'exp');
  if (exp === undefined) refuse('it has no expiry (exp claim); tokens must expire.');
  if (numericDate(exp, 'exp', transport) <= nowSeconds) refuse('it has expired.');
  for (const name of ['iat', 'nbf']) {
    const value = claim(claims, name);
    if (value === undefined) continue;
    if (numericDate(value, name, transport) > nowSeconds + MAX_CLOCK_SKEW_SECONDS) {
      refuse(`its ${name} claim is more than ${MAX_CLOCK_SKEW_SECONDS} s in the future.`);
    }
  }
}

/** API Gateway's rendering of a string array: "[a b c]" (and "[]"). */
const GATEWAY_ARRAY = /^\[([^[\]]*)\]$/;

function stringList(value: unknown, name: string, transport: ClaimsTransport): string[] | undefined {
  if (value === undefined) return undefined;
  let list: unknown[] | undefined;
  if (Array.isArray(value)) list = value;
  else if (transport === 'api-gateway' && typeof value === 'string') {
    const match = GATEWAY_ARRAY.exec(value);
    if (match) list = match[1]!.split(' ').filter((item) => item !== '');
  }
  if (!list?.every((item): item is string => typeof item === 'string' && item !== '')) {
    return refuse(`the ${name} claim must be an array of strings.`);
  }
  return list;
}

/**
 * Builds the caller from claims a runtime has verified (signature, issuer, audience), checking
 * the claim rules above; any breach is a 401.
 */
export function principalFromClaims(claims: Record<string, unknown>, context: ClaimsContext): Principal {
  checkTimes(claims, context);
  const sub = claim(claims, 'sub');
  if (typeof sub !== 'string' || sub === '') refuse('the sub claim must be a non-empty string.');
  const tenant = claim(claims, 'tenant');
  if (
    tenant !== undefined &&
    (typeof tenant !== 'string' ||
      tenant === '' ||
      (context.transport === 'api-gateway' && GATEWAY_ARRAY.test(tenant)))
  ) {
    refuse('the tenant claim must be a string (use tenants for a list).');
  }
  const tenants = new Set<string>(tenant === undefined ? [] : [tenant]);
  for (const t of stringList(claim(claims, 'tenants'), 'tenants', context.transport) ?? []) tenants.add(t);
  // Roles this service does not know (an identity provider may add its own) grant nothing.
  const roles = (stringList(claim(claims, 'roles'), 'roles', context.transport) ?? []).filter(
    (r): r is Role => ROLES.has(r),
  );
  return { subject: sub, tenants: [...tenants], roles: [...new Set(roles)] };
}

/** 403 unless the caller holds one of `roles` (and, for tenant routes, the tenant). */
export function authorize(principal: Principal, roles: readonly Role[], tenantId?: string): void {
  if (tenantId !== undefined && !principal.tenants.includes(tenantId)) {
    throw new AuthError('FORBIDDEN', `This token does not give access to tenant '${tenantId}'.`);
  }
  if (!roles.some((r) => principal.roles.includes(r))) {
    throw new AuthError('FORBIDDEN', `This action needs the ${roles.join(' or ')} role.`, {
      details: { requiredRoles: [...roles] },
    });
  }
}
