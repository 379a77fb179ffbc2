// @ts-check
// The sign-in session: the token, what its claims say (tenants, roles, subject) and the tenant
// chosen. This module is the one owner of that state; the others read it through the functions
// below and change it only through begin, chooseTenant and end.

const TOKEN_KEY = 'reccert.token';
const TENANT_KEY = 'reccert.tenant';

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
};

/** @type {((message?: string) => void)[]} */
const endListeners = [];

/**
 * Decodes a JWT payload for display only; the API is what verifies the token.
 * @param {string} token
 * @returns {Claims}
 */
function decodeJwt(token) {
  const parts = token.split('.');
  if (parts.length !== 3) throw new Error('This is not a JWT: it must have three dot-separated parts.');
  const b64 = (parts[1] ?? '').replace(/-/g, '+').replace(/_/g, '/');
  const padded = b64 + '='.repeat((4 - (b64.length % 4)) % 4);
  const bytes = Uint8Array.from(atob(padded), (c) => c.charCodeAt(0));
  const claims = JSON.parse(new TextDecoder().decode(bytes));
  if (!claims || typeof claims !== 'object') throw new Error('The token payload is not a JSON object.');
  return claims;
}

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
 * Signs in with `raw`: throws an Error a person can act on when the token is unusable.
 * @param {string} raw
 */
export function begin(raw) {
  const claims = decodeJwt(raw.trim());
  const list = asList(claims.tenants);
  if (typeof claims.tenant === 'string' && claims.tenant && !list.includes(claims.tenant))
    list.unshift(claims.tenant);
  if (list.length === 0) throw new Error('The token names no tenant (claim "tenant" or "tenants").');
  if (typeof claims.exp === 'number' && claims.exp * 1000 < Date.now()) {
    throw new Error('The token has expired. Ask for a new one.');
  }
  state.token = raw.trim();
  state.claims = claims;
  state.tenants = list;
  state.roles = asList(claims.roles);
  const remembered = sessionStorage.getItem(TENANT_KEY);
  state.tenant = remembered && list.includes(remembered) ? remembered : (list[0] ?? '');
  // sessionStorage only: the token dies with the tab. Never the private key or its password.
  sessionStorage.setItem(TOKEN_KEY, state.token);
}

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
 * Signs out, then tells the listeners (the sign-in screen shows `message`).
 * @param {string} [message]
 */
export function end(message) {
  state.token = '';
  state.claims = {};
  state.roles = [];
  sessionStorage.removeItem(TOKEN_KEY);
  sessionStorage.removeItem(TENANT_KEY);
  for (const listener of endListeners) listener(message);
}

/** Calls `listener` whenever the session ends. @param {(message?: string) => void} listener */
export const onEnd = (listener) => {
  endListeners.push(listener);
};
