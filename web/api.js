// @ts-check
// The client of the HTTP API v1, the only thing this page talks to: calls with the session's
// token, errors as ApiError with the API's code, and plain words for any error.

import config from './config.js';
import * as session from './session.js';

/** An error answer of the API (or no answer at all: status 0, code NETWORK). */
export class ApiError extends Error {
  /**
   * @param {number} status
   * @param {string} code
   * @param {string} message
   * @param {Record<string, any>} [details]
   */
  constructor(status, code, message, details) {
    super(message);
    this.status = status;
    this.code = code;
    /** @type {Record<string, any>} */
    this.details = details ?? {};
  }
}

const base = String(config.apiBaseUrl ?? '').replace(/\/+$/, '');

/** The path of a route of the chosen tenant. @param {string} suffix */
export const tenantPath = (suffix) => `/v1/tenants/${encodeURIComponent(session.tenant())}${suffix}`;

// Bidirectional controls (U+061C, U+200E-U+200F, U+202A-U+202E, U+2066-U+2069) in a certificate
// name would make the page show it in another order than it is ("Trojan Source": a subject
// that reads "Recording" but is not). Every string of every answer is shown with them made
// visible as [U+XXXX], as the CLI escapes them.
const BIDI_CONTROLS = /[\u061C\u200E\u200F\u202A-\u202E\u2066-\u2069]/g;

/**
 * `text` with its bidirectional controls made visible.
 * @param {string} text
 */
export const visibleBidi = (text) =>
  text.replace(BIDI_CONTROLS, (c) => `[U+${c.charCodeAt(0).toString(16).toUpperCase().padStart(4, '0')}]`);

/**
 * An answer's JSON, every string value shown safely (see BIDI_CONTROLS).
 * @param {string} text
 */
const parseAnswer = (text) =>
  JSON.parse(text, (_key, value) => (typeof value === 'string' ? visibleBidi(value) : value));

/**
 * Calls the API. Resolves with the parsed JSON body (or null for 204), rejects with ApiError; a
 * 401 ends the session.
 * @param {string} method
 * @param {string} path
 * @param {{json?: unknown, form?: FormData, auth?: boolean}} [opts]
 * @returns {Promise<any>}
 */
export async function api(method, path, opts = {}) {
  /** @type {Record<string, string>} */
  const headers = { Accept: 'application/json' };
  if (opts.auth !== false && session.token()) {
    // An OpenID session renews a token about to expire before it is sent.
    headers.Authorization = `Bearer ${await session.freshToken()}`;
  }
  /** @type {BodyInit | undefined} */
  let body;
  if (opts.json !== undefined) {
    headers['Content-Type'] = 'application/json';
    body = JSON.stringify(opts.json);
  } else if (opts.form) {
    body = opts.form;
  }
  let res;
  try {
    res = await fetch(base + path, { method, headers, body, cache: 'no-store' });
  } catch {
    throw new ApiError(0, 'NETWORK', 'The API could not be reached. Check the connection and try again.');
  }
  if (res.status === 204) return null;
  const text = await res.text();
  let data = null;
  try {
    data = text ? parseAnswer(text) : null;
  } catch {
    data = null;
  }
  if (!res.ok) throw refused(res, data, opts.auth !== false);
  return data;
}

/**
 * The ApiError of a non-2xx answer whose body was `data`; a 401 to a call with a token ends the
 * session.
 * @param {Response} res
 * @param {any} data
 * @param {boolean} authed
 */
function refused(res, data, authed) {
  const e = data?.error;
  const err = new ApiError(
    res.status,
    e?.code ?? `HTTP_${res.status}`,
    e?.message ?? `The API answered ${res.status} ${res.statusText}.`,
    e?.details,
  );
  if (res.status === 401 && authed) {
    session.end('Your session is no longer valid (the API answered 401). Sign in again.');
  }
  return err;
}

/**
 * Reads a binary answer (a key backup) with the session's token. Rejects with ApiError as `api`.
 * @param {string} path
 * @param {string} accept the media type asked for
 * @returns {Promise<Blob>}
 */
export async function fetchBlob(path, accept) {
  /** @type {Record<string, string>} */
  const headers = { Accept: accept };
  if (session.token()) headers.Authorization = `Bearer ${session.token()}`;
  let res;
  try {
    res = await fetch(base + path, { headers, cache: 'no-store' });
  } catch {
    throw new ApiError(0, 'NETWORK', 'The API could not be reached. Check the connection and try again.');
  }
  if (res.ok) return res.blob();
  let data = null;
  try {
    data = parseAnswer(await res.text());
  } catch {
    data = null;
  }
  throw refused(res, data, true);
}

/**
 * Reads every page of a list route.
 * @param {string} path
 * @returns {Promise<any[]>}
 */
export async function listAll(path) {
  const items = [];
  /** @type {string | undefined} */
  let cursor;
  for (let page = 0; page < 50; page++) {
    const sep = path.includes('?') ? '&' : '?';
    const data = await api('GET', cursor ? `${path}${sep}cursor=${encodeURIComponent(cursor)}` : path);
    items.push(...(data?.items ?? []));
    cursor = data?.nextCursor;
    if (!cursor) break;
  }
  return items;
}

/**
 * Plain words for an ApiError (or anything thrown).
 * @param {unknown} err
 */
export function describe(err) {
  if (err instanceof ApiError) {
    if (err.status === 403) return `Not allowed: ${err.message}`;
    return err.message;
  }
  return err instanceof Error ? err.message : String(err);
}

/** The local server's development token, or null where it hands none out. */
export async function fetchDevToken() {
  try {
    const res = await fetch(`${base}/dev/token`, {
      cache: 'no-store',
      headers: { Accept: 'application/json' },
    });
    if (!res.ok) return null;
    const data = await res.json();
    return typeof data?.token === 'string' ? /** @type {string} */ (data.token) : null;
  } catch {
    return null;
  }
}
