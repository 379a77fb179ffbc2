/**
 * Cognito's pre token generation trigger (event version V2_0): puts the claims of DESIGN
 * section 4 into the ID token and the access token of every sign-in and refresh, so that the API
 * Gateway JWT authorizer passes them on to the functions as they are:
 *
 * - `roles`: the user's Cognito groups that are reccert roles (`admin`, `decrypt`, `operator`);
 *   other groups grant nothing and are left out;
 * - `tenant` (one) or `tenants` (several, comma-separated): the `custom:tenant` attribute, which
 *   only an administrator can set (the page's app client may not write it).
 *
 * Why a trigger rather than the attribute and `cognito:groups` as they are: Cognito puts custom
 * attributes only into the ID token (named `custom:tenant`), and groups as `cognito:groups`; the
 * access token, the one the API takes, carries neither. Version 2 of the event is what lets a
 * trigger add claims to the access token (docs/aws.md).
 */

/** The Cognito groups that are reccert roles. */
export const ROLE_GROUPS: readonly string[] = ['admin', 'decrypt', 'operator'];

/** The user attribute that holds the tenant id (or several, comma-separated). */
export const TENANT_ATTRIBUTE = 'custom:tenant';

/** The part of the V2_0 event this trigger reads and writes. */
export interface PreTokenGenerationV2Event {
  version: string;
  triggerSource: string;
  request: {
    userAttributes: Record<string, string | undefined>;
    groupConfiguration?: { groupsToOverride?: string[] | undefined };
  };
  response: { claimsAndScopeOverrideDetails?: unknown };
}

/** The reccert claims for a user with these attributes and groups. */
export function reccertClaims(
  attributes: Record<string, string | undefined>,
  groups: readonly string[],
): Record<string, string | string[]> {
  const roles = ROLE_GROUPS.filter((role) => groups.includes(role));
  const tenants = [
    ...new Set(
      (attributes[TENANT_ATTRIBUTE] ?? '')
        .split(',')
        .map((t) => t.trim())
        .filter((t) => t !== ''),
    ),
  ];
  const claims: Record<string, string | string[]> = { roles };
  if (tenants.length === 1) claims.tenant = tenants[0]!;
  else if (tenants.length > 1) claims.tenants = tenants;
  return claims;
}

/** The Lambda handler Cognito invokes before it issues tokens. */
export async function handler(event: PreTokenGenerationV2Event): Promise<PreTokenGenerationV2Event> {
  const claims = reccertClaims(
    event.request.userAttributes ?? {},
    event.request.groupConfiguration?.groupsToOverride ?? [],
  );
  // A V1_0 event cannot touch the access token: say so in the log rather than issue a token
  // the API would refuse without a word.
  if (event.version !== '2' && event.version !== '3') {
    console.error(
      JSON.stringify({ level: 'error', message: 'pre token generation trigger must be configured as V2_0' }),
    );
  }
  event.response = {
    claimsAndScopeOverrideDetails: {
      idTokenGeneration: { claimsToAddOrOverride: claims },
      accessTokenGeneration: { claimsToAddOrOverride: claims },
    },
  };
  return event;
}
