// @ts-check
// The sign-in session: the token, what its claims say (tenants, roles, subject) and the tenant
// chosen. This module is the one owner of that state; the others read it through the functions
// below and change it only through begin, beginWithTokens, chooseTenant, end and signOut.
//
// Two ways in (config.js auth.mode): a token pasted or handed over by the local server ('token'),
// kept in sessionStorage so that it dies with the tab; or OpenID Connect ('oidc', oidc.js), whose
// tokens live in this module's memory only and are refreshed before they expire.

import * as oidc from './oidc.js';

const TOKEN_KEY = 'reccert.token';
const TENANT_KEY = 'reccert.tenant';
/** An API token with less than this much life left is renewed before it is used. */
const RENEW_BEFORE_MS = 30_000;

/**
 * @typedef {object} Claims
 * @property {unknown} [sub]
 * @property {unknown} [tenant]
 * @property {unknown} [tenants]
 * @property {unknown} [roles]
 * @property {unknown} [exp]
 */

const state = {
  token: '',
  /** @type {Claims} */
  claims: {},
  /** @type {string[]} */
  tenants: [],
  tenant: '',
  /** @type {string[]} */
  roles: [],
  /** The OpenID Connect tokens (memory only); null in token mode. @type {import('./oidc.js').TokenSet | null} */
  tokens: null,
  /** @type {ReturnType<typeof setTimeout> | undefined} */
  renewTimer: undefined,
  /** @type {Promise<string> | null} */
  renewing: null,
};

/** @type {((message?: string) => void)[]} */
const endListeners = [];

/**
 * Claims may be arrays or, from some gateways, "[a b]" / "a,b" strings.
 * @param {unknown} value
 * @returns {string[]}
 */
function asList(value) {
  if (Array.isArray(value)) return value.filter((v) => typeof v === 'string' && v !== '');
  if (typeof value === 'string')
    return value
      .replace(/^\[|\]$/g, '')
      .split(/[\s,]+/)
      .filter(Boolean);
  return [];
}

/**
 * The claims of `raw` under the names DESIGN section 4 uses, read from the claim names config.js
 * gives (a provider may call them otherwise). For display only: the API verifies the token.
 * @param {Record<string, unknown>} raw
 * @returns {Claims}
 */
function mapClaims(raw) {
  const names = oidc.settings().claims;
  const own = (/** @type {string} */ n) => (Object.hasOwn(raw, n) ? raw[n] : undefined);
  return {
    sub: own('sub'),
    exp: own('exp'),
    tenant: own(names.tenant),
    tenants: own(names.tenants),
    roles: own(names.roles),
  };
}

/**
 * Takes `token` with its claims as the session's, or throws an Error a person can act on.
 * @param {string} token
 * @param {Claims} claims
 * @param {boolean} viaProvider whether the token comes from an OpenID sign-in
 */
function adopt(token, claims, viaProvider) {
  const list = asList(claims.tenants);
  if (typeof claims.tenant === 'string' && claims.tenant && !list.includes(claims.tenant))
    list.unshift(claims.tenant);
  if (list.length === 0) {
    const { claims: names } = oidc.settings();
    const which = `claim "${names.tenant}" or "${names.tenants}"`;
    if (!viaProvider) throw new Error(`The token names no tenant (${which}).`);
    const who = typeof claims.sub === 'string' ? ` as ${claims.sub}` : '';
    throw new Error(
      `You are signed in${who}, but your account belongs to no tenant (${which}). Ask your administrator to give it one, then sign in again.`,
    );
  }
  if (typeof claims.exp === 'number' && claims.exp * 1000 < Date.now()) {
    throw new Error('The token has expired. Ask for a new one.');
  }
  state.token = token;
  state.claims = claims;
  state.tenants = list;
  state.roles = asList(claims.roles);
  const remembered = sessionStorage.getItem(TENANT_KEY);
  state.tenant = remembered && list.includes(remembered) ? remembered : (list[0] ?? '');
}

/** The bearer token, or '' when signed out. */
export const token = () => state.token;
/** The tenant the screens act for. */
export const tenant = () => state.tenant;
/** The tenants the token may act for, the chosen one among them. */
export const tenants = () => state.tenants;
/** The token's roles. */
export const roles = () => state.roles;
/** Who the token names, or ''. */
export const subject = () => (state.claims.sub ? String(state.claims.sub) : '');

/** Whether the token holds `role`. @param {string} role */
export const can = (role) => state.roles.includes(role);
/** Whether the token may view certificates at all. */
export const canView = () => can('admin') || can('decrypt');

/**
 * Signs in with `raw` (a pasted or development token): throws an Error a person can act on when
 * the token is unusable.
 * @param {string} raw
 */
export function begin(raw) {
  const token = raw.trim();
  adopt(token, mapClaims(oidc.jwtPayload(token)), false);
  state.tokens = null;
  // sessionStorage only: the token dies with the tab. Never the private key or its password.
  sessionStorage.setItem(TOKEN_KEY, state.token);
}

/**
 * The token of `tokens` that goes to the API, and the claims the page shows: those of the API
 * token when it is a JWT, else (an opaque access token) those of the ID token.
 * @param {import('./oidc.js').TokenSet} tokens
 */
function apiTokenOf(tokens) {
  const token = oidc.settings().apiToken === 'id_token' ? tokens.idToken : tokens.accessToken;
  if (!token)
    throw new Error('The identity provider sent no access token. Check auth.apiToken in config.js.');
  let claims;
  try {
    claims = oidc.jwtPayload(token);
  } catch {
    claims = oidc.jwtPayload(tokens.idToken);
  }
  return { token, claims: mapClaims(claims) };
}

/** When the API token expires (ms since the epoch), from the token endpoint or its exp claim. */
function expiresAt() {
  if (state.tokens?.expiresAt) return state.tokens.expiresAt;
  return typeof state.claims.exp === 'number' ? state.claims.exp * 1000 : 0;
}

function scheduleRenewal() {
  clearTimeout(state.renewTimer);
  const at = expiresAt();
  if (!state.tokens || !at) return;
  state.renewTimer = setTimeout(
    () => {
      freshToken().catch(() => {
        // freshToken ended the session and said why.
      });
    },
    Math.max(1000, at - Date.now() - RENEW_BEFORE_MS),
  );
}

/**
 * Signs in with the tokens of an OpenID Connect sign-in (kept in memory only); throws an Error
 * a person can act on when they give no tenant.
 * @param {import('./oidc.js').TokenSet} tokens
 */
export function beginWithTokens(tokens) {
  const { token, claims } = apiTokenOf(tokens);
  adopt(token, claims, true);
  state.tokens = tokens;
  sessionStorage.removeItem(TOKEN_KEY);
  scheduleRenewal();
}

/**
 * The API token, renewed first when it is about to expire: with the refresh token where there is
 * one, else by a new sign-in at the provider (which leaves this page, and returns to it).
 * @returns {Promise<string>}
 */
export async function freshToken() {
  const tokens = state.tokens;
  if (!tokens || expiresAt() - Date.now() > RENEW_BEFORE_MS) return state.token;
  if (!tokens.refreshToken) {
    await oidc.startSignIn(`${location.search}${location.hash}`);
    return new Promise(() => {});
  }
  state.renewing ??= (async () => {
    try {
      const renewed = await oidc.refresh(tokens);
      const { token, claims } = apiTokenOf(renewed);
      state.token = token;
      state.claims = claims;
      state.tokens = renewed;
      scheduleRenewal();
      return token;
    } catch (err) {
      end(
        `Your sign-in could not be renewed (${err instanceof Error ? err.message : String(err)}). Sign in again.`,
      );
      throw err;
    } finally {
      state.renewing = null;
    }
  })();
  return state.renewing;
}

/** Whether this session came from the OpenID provider. */
export const viaProvider = () => state.tokens !== null;

/** Acts for another of the token's tenants from now on (remembered for this tab). @param {string} t */
export function chooseTenant(t) {
  state.tenant = t;
  sessionStorage.setItem(TENANT_KEY, t);
}

/** The token this tab signed in with before, if any. */
export const savedToken = () => sessionStorage.getItem(TOKEN_KEY);
/** Drops the saved token (it could not be used). */
export const forgetSavedToken = () => sessionStorage.removeItem(TOKEN_KEY);

/**
 * Ends the session here, then tells the listeners (the sign-in screen shows `message`).
 * @param {string} [message]
 */
export function end(message) {
  clearTimeout(state.renewTimer);
  state.token = '';
  state.claims = {};
  state.roles = [];
  state.tokens = null;
  sessionStorage.removeItem(TOKEN_KEY);
  sessionStorage.removeItem(TENANT_KEY);
  for (const listener of endListeners) listener(message);
}

/**
 * Signs out: ends the session here and, after an OpenID sign-in, at the provider too (where it
 * offers an end-session endpoint), which then sends the browser back to this page.
 */
export async function signOut() {
  const idToken = state.tokens?.idToken ?? '';
  const viaOidc = state.tokens !== null;
  end();
  if (!viaOidc) return;
  const url = await oidc.signOutUrl(idToken);
  if (url) location.assign(url);
}

/** Calls `listener` whenever the session ends. @param {(message?: string) => void} listener */
export const onEnd = (listener) => {
  endListeners.push(listener);
};
