// @ts-check
// Deployment settings of the admin page. Edit this one file (or generate it from the stack
// outputs) when the page is hosted apart from the API, for example beside the AWS or Azure
// deployment. The API must then allow this page's origin (CORS).
//
// Shape (keep it when generating this file; a field left out of auth takes its default):
//   apiBaseUrl         the API's base URL without the trailing /v1 and without a trailing slash,
//                      e.g. 'https://api.example.com'; '' = the origin that serves this page.
//   defaultIvrProfile  pre-filled in the Assign dialog.
//   pollIntervalMs, pollTimeoutMs  how often and how long the page waits for an assignment.
//   auth.mode          'token': paste a bearer token, or take the local server's development token
//                      (npm start); 'oidc': sign in with the OpenID Connect provider below
//                      (authorization code + PKCE S256; tokens are kept in memory only).
//   auth.issuer        the provider's issuer URL; its discovery document is read from
//                      <issuer>/.well-known/openid-configuration and must name the same issuer.
//                      Cognito: https://cognito-idp.<region>.amazonaws.com/<userPoolId>
//                      Entra ID: https://login.microsoftonline.com/<directoryId>/v2.0
//   auth.clientId      the page's client (app client id / application id); a public client, no secret.
//   auth.scopes        space-separated; 'openid' is always sent. Add 'offline_access' for a refresh
//                      token where the provider wants it (Entra; the page then asks for consent).
//                      Entra: 'openid profile offline_access api://<api-app-id>/access_as_user'.
//   auth.redirectUri   where the provider sends the browser back; '' = this page's address
//                      (origin + path). Register exactly this URL with the provider.
//   auth.postLogoutRedirectUri  where sign-out ends; '' = redirectUri.
//   auth.endSessionEndpoint  overrides the discovery document's end_session_endpoint ('' = use
//                      it; where neither exists, signing out only forgets the tokens here).
//                      Cognito: https://<domain>.auth.<region>.amazoncognito.com/logout
//   auth.logoutRedirectParam  the name of the "back to" parameter of that endpoint:
//                      'post_logout_redirect_uri' (OpenID), 'logout_uri' (Cognito).
//   auth.apiToken      which token goes to the API: 'access_token' or 'id_token' (the one whose
//                      audience the API validates). Cognito: 'access_token' (API Gateway checks its
//                      client_id); Entra: 'access_token' (audience api://<api-app-id>).
//   auth.extraAuthParams  more authorization request parameters, e.g. { resource: '...' }. With
//                      'offline_access' the page asks for consent (prompt=consent, as OpenID
//                      wants); { prompt: '' } leaves the prompt out (Entra ID grants it without).
//   auth.claims        names of the claims (in the API token) that carry the tenant, the tenant
//                      list and the roles; the API must map the same names (RECCERT_JWT_*_CLAIM).

/**
 * @typedef {object} AuthConfig
 * @property {'token' | 'oidc'} mode
 * @property {string} issuer
 * @property {string} clientId
 * @property {string} scopes
 * @property {string} redirectUri
 * @property {string} postLogoutRedirectUri
 * @property {string} endSessionEndpoint
 * @property {string} logoutRedirectParam
 * @property {'access_token' | 'id_token'} apiToken
 * @property {Record<string, string>} extraAuthParams
 * @property {{tenant: string, tenants: string, roles: string}} claims
 */

/** @type {{apiBaseUrl: string, defaultIvrProfile: string, pollIntervalMs: number, pollTimeoutMs: number, auth?: Partial<AuthConfig>}} */
export default {
  apiBaseUrl: '',
  defaultIvrProfile: 'record',
  pollIntervalMs: 750,
  pollTimeoutMs: 60000,
  // The auth fields left out take the defaults of web/oidc.js (token mode, scope openid, the
  // access token to the API, the claims tenant, tenants and roles); docs/aws.md and docs/azure.md
  // show a whole 'oidc' block.
  auth: { mode: 'token' },
};
