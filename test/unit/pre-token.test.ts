import {
  handler,
  type PreTokenGenerationV2Event,
  reccertClaims,
} from '../../functions/aws/handlers/pre-token';
import { principalFromClaims } from '../../shared/http/auth';

/** A V2_0 event as Cognito sends it for a hosted-UI sign-in. */
function event(attributes: Record<string, string>, groups: string[]): PreTokenGenerationV2Event {
  return {
    version: '2',
    triggerSource: 'TokenGeneration_HostedAuth',
    request: {
      userAttributes: { sub: 'a1b2', email: 'ana@example.com', ...attributes },
      groupConfiguration: { groupsToOverride: groups },
    },
    response: { claimsAndScopeOverrideDetails: null },
  };
}

describe('Cognito pre token generation trigger (functions/aws/handlers/pre-token.ts)', () => {
  it('maps the reccert groups to roles and custom:tenant to tenant, in the ID and the access token', async () => {
    const result = await handler(event({ 'custom:tenant': 'acme' }, ['admin', 'decrypt', 'helpdesk']));

    const claims = { roles: ['admin', 'decrypt'], tenant: 'acme' };
    expect(result.response.claimsAndScopeOverrideDetails).toEqual({
      idTokenGeneration: { claimsToAddOrOverride: claims },
      accessTokenGeneration: { claimsToAddOrOverride: claims },
    });
  });

  it('gives several comma-separated tenants as tenants, and a user without groups an empty roles list', () => {
    expect(reccertClaims({ 'custom:tenant': 'acme, globex,acme' }, [])).toEqual({
      roles: [],
      tenants: ['acme', 'globex'],
    });
    expect(reccertClaims({}, ['operator'])).toEqual({ roles: ['operator'] });
  });

  it('produces claims the API reads back as the same caller once API Gateway has flattened them', () => {
    const claims = reccertClaims({ 'custom:tenant': 'acme' }, ['decrypt', 'admin']);
    // API Gateway's JWT authorizer hands arrays to the function as "[a b]" strings.
    const flattened = Object.fromEntries(
      Object.entries({ ...claims, sub: 'a1b2', exp: Math.floor(Date.now() / 1000) + 60 }).map(([k, v]) => [
        k,
        Array.isArray(v) ? `[${v.join(' ')}]` : String(v),
      ]),
    );

    expect(principalFromClaims(flattened, { transport: 'api-gateway', now: new Date() })).toEqual({
      subject: 'a1b2',
      tenants: ['acme'],
      roles: ['admin', 'decrypt'],
    });
  });
});
