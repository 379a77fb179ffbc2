// @ts-check
// OpenID Connect for the page (config.js `auth.mode: 'oidc'`): the authorization code flow with
// PKCE (S256) against the configured issuer, the token endpoint for the code and for refreshes,
// and the end-session endpoint for signing out. The page is a public client: it holds no secret,
// and what it gets back is checked (state, issuer, audience, nonce) before anything is used.
//
// Nothing here is stored beyond the redirect round trip: state, nonce and code_verifier wait in
// sessionStorage while the browser is at the provider and are removed as soon as the answer is
// read; the tokens are handed to session.js, which keeps them in memory only.
//
// The ID token's signature is not checked here: it comes straight from the token endpoint over
// TLS, which OpenID Connect Core 3.1.3.7 accepts for this flow, and the API verifies the token it
// is given against the provider's keys in any case.

import config from './config.js';

const PENDING_KEY = 'reccert.oidc.pending';
/** Seconds of clock difference between this browser and the provider that are tolerated. */
const SKEW_SECONDS = 60;

/** @typedef {import('./config.js').AuthConfig} AuthConfig */

/** @type {AuthConfig} */
const DEFAULTS = {
  mode: 'token',
  issuer: '',
  clientId: '',
  scopes: 'openid',
  redirectUri: '',
  postLogoutRedirectUri: '',
  endSessionEndpoint: '',
  logoutRedirectParam: 'post_logout_redirect_uri',
  apiToken: 'access_token',
  extraAuthParams: {},
  claims: { tenant: 'tenant', tenants: 'tenants', roles: 'roles' },
};

/** The auth settings of config.js, with defaults for what a generated file leaves out. */
export function settings() {
  const given = config.auth ?? {};
  return { ...DEFAULTS, ...given, claims: { ...DEFAULTS.claims, ...(given.claims ?? {}) } };
}

/** Whether the page signs in with the OpenID provider (else with a pasted or development token). */
export const enabled = () => settings().mode === 'oidc';

/**
 * What the provider said and what the page keeps of it.
 * @typedef {object} TokenSet
 * @property {string} accessToken
 * @property {string} idToken
 * @property {string} refreshToken '' when none was issued
 * @property {number} expiresAt ms since the epoch when the API token expires (0: unknown)
 */

/**
 * @typedef {object} ProviderMetadata
 * @property {string} issuer
 * @property {string} authorization_endpoint
 * @property {string} token_endpoint
 * @property {string} [end_session_endpoint]
 * @property {boolean} [authorization_response_iss_parameter_supported]
 */

/** @type {Promise<ProviderMetadata> | undefined} */
let discovery;

/** The provider's discovery document, read once per page load. @returns {Promise<ProviderMetadata>} */
function metadata() {
  discovery ??= (async () => {
    const { issuer } = settings();
    if (!issuer) throw new Error('config.js sets auth.mode to oidc but names no auth.issuer.');
    let res;
    try {
      res = await fetch(`${issuer.replace(/\/+$/, '')}/.well-known/openid-configuration`, {
        cache: 'no-store',
      });
    } catch {
      throw new Error(`The identity provider (${issuer}) could not be reached. Try again in a moment.`);
    }
    if (!res.ok) throw new Error(`The identity provider's discovery document answered ${res.status}.`);
    const doc = await res.json();
    // OpenID Connect Discovery 4.3: the document must name exactly the issuer it was read for.
    if (doc?.issuer !== issuer)
      throw new Error(`The identity provider names itself '${doc?.issuer}', not '${issuer}' (config.js).`);
    if (typeof doc.authorization_endpoint !== 'string' || typeof doc.token_endpoint !== 'string')
      throw new Error('The identity provider publishes no authorization or token endpoint.');
    return /** @type {ProviderMetadata} */ (doc);
  })();
  discovery.catch(() => {
    discovery = undefined;
  });
  return discovery;
}

/** @param {Uint8Array} bytes */
function base64url(bytes) {
  let s = '';
  for (const b of bytes) s += String.fromCharCode(b);
  return btoa(s).replace(/\+/g, '-').replace(/\//g, '_').replace(/=+$/, '');
}

const randomString = () => base64url(crypto.getRandomValues(new Uint8Array(32)));

/** This page's address as the provider must send the browser back to it. */
function redirectUri() {
  return settings().redirectUri || `${location.origin}${location.pathname}`;
}

/**
 * Sends the browser to the provider's sign-in. `returnTo` (the page's query and fragment) is
 * restored when it comes back.
 * @param {string} returnTo
 * @returns {Promise<void>}
 */
export async function startSignIn(returnTo) {
  const s = settings();
  const m = await metadata();
  const state = randomString();
  const nonce = randomString();
  const verifier = randomString();
  const challenge = base64url(
    new Uint8Array(await crypto.subtle.digest('SHA-256', new TextEncoder().encode(verifier))),
  );
  const scopes = new Set(['openid', ...s.scopes.split(/\s+/).filter(Boolean)]);
  const url = new URL(m.authorization_endpoint);
  /** @type {Record<string, string>} */
  const params = {
    ...s.extraAuthParams,
    response_type: 'code',
    client_id: s.clientId,
    redirect_uri: redirectUri(),
    scope: [...scopes].join(' '),
    state,
    nonce,
    code_challenge: challenge,
    code_challenge_method: 'S256',
  };
  // OpenID Connect Core 11: a refresh token for offline use is granted only with consent asked
  // for. A provider that grants it without (Entra ID) is configured with extraAuthParams.prompt ''.
  if (scopes.has('offline_access') && !Object.hasOwn(s.extraAuthParams, 'prompt')) params.prompt = 'consent';
  if (params.prompt === '') delete params.prompt;
  for (const [k, v] of Object.entries(params)) url.searchParams.set(k, v);
  sessionStorage.setItem(PENDING_KEY, JSON.stringify({ state, nonce, verifier, returnTo }));
  location.assign(url.href);
}

/**
 * Decodes a JWT's payload (no signature check: see the top of this file).
 * @param {string} token
 * @returns {Record<string, unknown>}
 */
export function jwtPayload(token) {
  const part = token.split('.')[1];
  if (token.split('.').length !== 3 || !part)
    throw new Error('This is not a JWT: it must have three dot-separated parts.');
  const b64 = part.replace(/-/g, '+').replace(/_/g, '/');
  const padded = b64 + '='.repeat((4 - (b64.length % 4)) % 4);
  const bytes = Uint8Array.from(atob(padded), (c) => c.charCodeAt(0));
  const claims = JSON.parse(new TextDecoder().decode(bytes));
  if (!claims || typeof claims !== 'object') throw new Error('The token payload is not a JSON object.');
  return claims;
}

/**
 * Checks an ID token from the token endpoint: issuer, audience (and authorized party), expiry,
 * and the nonce of this sign-in when one is expected.
 * @param {string} idToken
 * @param {ProviderMetadata} m
 * @param {string | undefined} nonce
 */
function checkIdToken(idToken, m, nonce) {
  const { clientId } = settings();
  const c = jwtPayload(idToken);
  const refuse = (/** @type {string} */ why) => {
    throw new Error(`The identity provider's answer was refused: ${why} Sign in again.`);
  };
  if (c.iss !== m.issuer) refuse('the ID token comes from another issuer.');
  const aud = Array.isArray(c.aud) ? c.aud : [c.aud];
  if (!aud.includes(clientId)) refuse('the ID token was issued for another application.');
  if (aud.length > 1 && c.azp !== undefined && c.azp !== clientId)
    refuse('the ID token names another party.');
  if (typeof c.exp !== 'number' || c.exp + SKEW_SECONDS < Date.now() / 1000)
    refuse('the ID token has expired.');
  if (nonce !== undefined && c.nonce !== nonce) refuse('the ID token belongs to another sign-in (nonce).');
  return c;
}

/**
 * One request to the token endpoint.
 * @param {ProviderMetadata} m
 * @param {Record<string, string>} form
 * @returns {Promise<{access_token?: unknown, id_token?: unknown, refresh_token?: unknown, expires_in?: unknown}>}
 */
async function tokenRequest(m, form) {
  let res;
  try {
    res = await fetch(m.token_endpoint, {
      method: 'POST',
      headers: { 'Content-Type': 'application/x-www-form-urlencoded', Accept: 'application/json' },
      body: new URLSearchParams(form),
      cache: 'no-store',
    });
  } catch {
    throw new Error('The identity provider could not be reached. Try again in a moment.');
  }
  const data = await res.json().catch(() => null);
  if (!res.ok || !data) {
    const why = data?.error_description || data?.error || `HTTP ${res.status}`;
    throw new Error(`The identity provider refused the sign-in: ${why}.`);
  }
  return data;
}

/**
 * The page's tokens from a token endpoint answer.
 * @param {{access_token?: unknown, id_token?: unknown, refresh_token?: unknown, expires_in?: unknown}} data
 * @param {TokenSet} [previous]
 * @returns {TokenSet}
 */
function tokenSet(data, previous) {
  const str = (/** @type {unknown} */ v) => (typeof v === 'string' ? v : '');
  const set = {
    accessToken: str(data.access_token),
    idToken: str(data.id_token) || previous?.idToken || '',
    // A provider that does not rotate refresh tokens answers a refresh without a new one.
    refreshToken: str(data.refresh_token) || previous?.refreshToken || '',
    expiresAt: typeof data.expires_in === 'number' ? Date.now() + data.expires_in * 1000 : 0,
  };
  if (!set.idToken) throw new Error('The identity provider sent no ID token (is the openid scope allowed?).');
  return set;
}

/**
 * Finishes a sign-in when the address holds the provider's answer: checks it, exchanges the
 * code and returns the tokens and where to go; null when the address holds no answer.
 * @returns {Promise<{tokens: TokenSet, returnTo: string} | null>}
 */
export async function completeSignIn() {
  const params = new URLSearchParams(location.search);
  if (!params.has('state') || !(params.has('code') || params.has('error'))) return null;
  const raw = sessionStorage.getItem(PENDING_KEY);
  sessionStorage.removeItem(PENDING_KEY);
  /** @type {{state?: string, nonce?: string, verifier?: string, returnTo?: string} | null} */
  let pending = null;
  try {
    pending = raw ? JSON.parse(raw) : null;
  } catch {
    pending = null;
  }
  // The code must not stay in the address bar or the history.
  const returnTo = pending?.returnTo || '#/certificates';
  history.replaceState(null, '', `${location.pathname}${returnTo}`);
  if (!pending?.state || !pending.nonce || !pending.verifier)
    throw new Error('This sign-in answer was not started in this tab, or was used already. Sign in again.');
  if (params.get('state') !== pending.state)
    throw new Error('This sign-in answer belongs to another sign-in (state). Sign in again.');
  const m = await metadata();
  // RFC 9207: the answer names who sent it, so a code from another provider is never sent to ours.
  const iss = params.get('iss');
  if (iss !== null ? iss !== m.issuer : m.authorization_response_iss_parameter_supported === true)
    throw new Error('This sign-in answer comes from another identity provider. Sign in again.');
  const error = params.get('error');
  if (error) {
    const why = params.get('error_description') || error;
    throw new Error(`The identity provider did not sign you in: ${why}.`);
  }
  const data = await tokenRequest(m, {
    grant_type: 'authorization_code',
    code: params.get('code') ?? '',
    redirect_uri: redirectUri(),
    code_verifier: pending.verifier,
    client_id: settings().clientId,
  });
  const tokens = tokenSet(data);
  checkIdToken(tokens.idToken, m, pending.nonce);
  return { tokens, returnTo };
}

/**
 * New tokens for `previous` with its refresh token; the new ID token must name the same person.
 * @param {TokenSet} previous
 * @returns {Promise<TokenSet>}
 */
export async function refresh(previous) {
  const m = await metadata();
  const data = await tokenRequest(m, {
    grant_type: 'refresh_token',
    refresh_token: previous.refreshToken,
    client_id: settings().clientId,
  });
  const tokens = tokenSet(data, previous);
  if (tokens.idToken !== previous.idToken) {
    const c = checkIdToken(tokens.idToken, m, undefined);
    if (c.sub !== jwtPayload(previous.idToken).sub)
      throw new Error('The refreshed sign-in names another person. Sign in again.');
  }
  return tokens;
}

/**
 * Where to send the browser to end the provider's session too, or null where it offers none.
 * @param {string} idToken
 * @returns {Promise<string | null>}
 */
export async function signOutUrl(idToken) {
  const s = settings();
  let endpoint = s.endSessionEndpoint;
  if (!endpoint) {
    try {
      endpoint = (await metadata()).end_session_endpoint ?? '';
    } catch {
      endpoint = '';
    }
  }
  if (!endpoint) return null;
  const url = new URL(endpoint);
  url.searchParams.set('client_id', s.clientId);
  url.searchParams.set(s.logoutRedirectParam, s.postLogoutRedirectUri || redirectUri());
  // The hint is OpenID's (RP-Initiated Logout); Cognito's /logout takes only its own parameters.
  if (s.logoutRedirectParam === 'post_logout_redirect_uri' && idToken)
    url.searchParams.set('id_token_hint', idToken);
  return url.href;
}
