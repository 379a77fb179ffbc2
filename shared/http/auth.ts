/** Turning verified token claims into a Principal, and the role/tenant checks every route makes. */
import type { Principal, Role } from '../domain/types';
import { AuthError } from '../errors';

const ROLES: ReadonlySet<string> = new Set(['admin', 'decrypt', 'operator']);

/**
 * Builds the caller from JWT claims (`sub`, `tenant` or `tenants`, `roles`). Runtimes call it
 * after verifying the signature (local, Azure) or with the claims API Gateway's authorizer
 * passed on (AWS), so the same rules apply everywhere.
 */
export function principalFromClaims(claims: Record<string, unknown>): Principal {
  const subject = typeof claims.sub === 'string' && claims.sub !== '' ? claims.sub : undefined;
  if (!subject) throw new AuthError('UNAUTHORIZED', 'The token has no subject (sub claim).');
  const tenants = new Set<string>();
  if (typeof claims.tenant === 'string' && claims.tenant !== '') tenants.add(claims.tenant);
  for (const t of asList(claims.tenants)) tenants.add(t);
  const roles = asList(claims.roles).filter((r): r is Role => ROLES.has(r));
  return { subject, tenants: [...tenants], roles };
}

/** Claims may arrive as arrays, or (API Gateway) as "[a b]" or "a,b" strings. */
function asList(value: unknown): string[] {
  if (Array.isArray(value)) return value.filter((v): v is string => typeof v === 'string' && v !== '');
  if (typeof value === 'string') {
    return value
      .replace(/^\[|\]$/g, '')
      .split(/[\s,]+/)
      .filter(Boolean);
  }
  return [];
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
