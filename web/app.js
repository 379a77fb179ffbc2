// reccert admin page. Plain ES modules, no framework, no build step: the folder is served as is by
// the local runtime and can be hosted beside either cloud deployment (see config.js).
// The only thing this page talks to is the HTTP API v1. All text from the API reaches the DOM
// through textContent, never innerHTML.

import config from './config.js';

const TOKEN_KEY = 'reccert.token';
const DAY_MS = 86_400_000;

// ---------------------------------------------------------------------------------------------
// Small DOM helpers

/** @param {string} id */
const $ = (id) => {
  const el = document.getElementById(id);
  if (!el) throw new Error(`missing #${id}`);
  return el;
};

/**
 * Creates an element. Attributes starting with "on" become listeners; children are nodes or text.
 * @param {string} tag
 * @param {Record<string, unknown>} [attrs]
 * @param {...(Node|string|number|null|undefined|false)} children
 */
function h(tag, attrs = {}, ...children) {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (v === undefined || v === null || v === false) continue;
    if (k.startsWith('on') && typeof v === 'function') el.addEventListener(k.slice(2), v);
    else if (k === 'class') el.className = String(v);
    else if (k === 'dataset') Object.assign(el.dataset, v);
    else if (v === true) el.setAttribute(k, '');
    else el.setAttribute(k, String(v));
  }
  for (const c of children) {
    if (c === null || c === undefined || c === false) continue;
    el.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
  return el;
}

/** @param {Element} el */
const clear = (el) => el.replaceChildren();

let toastTimer = 0;
/** Announces a short message in the polite live region. */
function toast(message, kind = 'ok') {
  const t = $('toast');
  t.textContent = message;
  t.dataset.kind = kind;
  t.classList.add('show');
  clearTimeout(toastTimer);
  toastTimer = window.setTimeout(() => t.classList.remove('show'), 5000);
}

/** @param {HTMLElement} el @param {string} [text] */
function banner(el, text) {
  el.textContent = text ?? '';
  el.hidden = !text;
}

const fmtDate = (iso) => {
  if (!iso) return '—';
  const d = new Date(iso);
  if (Number.isNaN(d.getTime())) return String(iso);
  return d.toLocaleString(undefined, { dateStyle: 'medium', timeStyle: 'short' });
};
const fmtDay = (iso) => {
  if (!iso) return '—';
  const d = new Date(iso);
  return Number.isNaN(d.getTime()) ? String(iso) : d.toLocaleDateString(undefined, { dateStyle: 'medium' });
};

/** "expires in N days" / "expired", with a severity for the badge colour. */
function expiry(notAfter) {
  const ms = new Date(notAfter).getTime() - Date.now();
  if (Number.isNaN(ms)) return { text: 'unknown', level: 'neutral' };
  if (ms <= 0) return { text: 'expired', level: 'danger' };
  const days = Math.ceil(ms / DAY_MS);
  const text = days === 1 ? 'expires in 1 day' : `expires in ${days} days`;
  return { text, level: days <= 30 ? 'warn' : days <= 90 ? 'info' : 'ok' };
}

function expiryCell(notAfter) {
  const e = expiry(notAfter);
  return h(
    'td',
    {},
    h('span', { class: 'date' }, fmtDay(notAfter)),
    ' ',
    h('span', { class: `badge badge-${e.level}` }, e.text),
  );
}

const STATUS_LEVEL = { active: 'ok', expiring: 'warn', expired: 'danger', retired: 'neutral' };
const statusBadge = (status) =>
  h('span', { class: `badge badge-${STATUS_LEVEL[status] ?? 'neutral'} badge-status` }, status ?? 'unknown');

/** The certificate's IVR profiles, whatever shape the API used (array of ids or of objects). */
function profilesOf(cert) {
  const p = cert?.ivrProfiles;
  if (!p) return [];
  const list = Array.isArray(p) ? p : [p];
  return list.map((x) => (typeof x === 'string' ? x : (x?.id ?? x?.profileId ?? String(x))));
}
const assignable = (cert) => cert?.status !== 'expired' && cert?.status !== 'retired';
const onScreen = (cert) =>
  cert?.screenRecording === true || (cert?.screenRecording && cert.screenRecording.enabled !== false);

// ---------------------------------------------------------------------------------------------
// Session: the token, its claims, the chosen tenant

const session = {
  token: '',
  /** @type {{sub?: string, tenant?: string, tenants?: string[], roles?: string[], exp?: number}} */
  claims: {},
  tenants: /** @type {string[]} */ ([]),
  tenant: '',
  roles: /** @type {string[]} */ ([]),
};

/** Decodes a JWT payload for display only; the API is what verifies the token. */
function decodeJwt(token) {
  const parts = token.split('.');
  if (parts.length !== 3) throw new Error('This is not a JWT: it must have three dot-separated parts.');
  const b64 = parts[1].replace(/-/g, '+').replace(/_/g, '/');
  const padded = b64 + '='.repeat((4 - (b64.length % 4)) % 4);
  const bytes = Uint8Array.from(atob(padded), (c) => c.charCodeAt(0));
  const claims = JSON.parse(new TextDecoder().decode(bytes));
  if (!claims || typeof claims !== 'object') throw new Error('The token payload is not a JSON object.');
  return claims;
}

const can = (role) => session.roles.includes(role);
const canView = () => can('admin') || can('decrypt');

/** Claims may be arrays or, from some gateways, "[a b]" / "a,b" strings. */
function asList(value) {
  if (Array.isArray(value)) return value.filter((v) => typeof v === 'string' && v !== '');
  if (typeof value === 'string')
    return value
      .replace(/^\[|\]$/g, '')
      .split(/[\s,]+/)
      .filter(Boolean);
  return [];
}

function applySession(token) {
  const claims = decodeJwt(token.trim());
  const tenants = asList(claims.tenants);
  if (typeof claims.tenant === 'string' && claims.tenant && !tenants.includes(claims.tenant))
    tenants.unshift(claims.tenant);
  if (tenants.length === 0) throw new Error('The token names no tenant (claim "tenant" or "tenants").');
  if (typeof claims.exp === 'number' && claims.exp * 1000 < Date.now()) {
    throw new Error('The token has expired. Ask for a new one.');
  }
  session.token = token.trim();
  session.claims = claims;
  session.tenants = tenants;
  session.roles = asList(claims.roles);
  const remembered = sessionStorage.getItem('reccert.tenant');
  session.tenant = remembered && tenants.includes(remembered) ? remembered : tenants[0];
  // sessionStorage only: the token dies with the tab. Never the private key or its password.
  sessionStorage.setItem(TOKEN_KEY, session.token);
}

function signOut(message) {
  session.token = '';
  session.claims = {};
  session.roles = [];
  sessionStorage.removeItem(TOKEN_KEY);
  sessionStorage.removeItem('reccert.tenant');
  for (const d of document.querySelectorAll('dialog[open]')) d.close();
  showSignIn(message);
}

// ---------------------------------------------------------------------------------------------
// API client

class ApiError extends Error {
  constructor(status, code, message, details) {
    super(message);
    this.status = status;
    this.code = code;
    this.details = details ?? {};
  }
}

const base = String(config.apiBaseUrl ?? '').replace(/\/+$/, '');
const tenantPath = (suffix) => `/v1/tenants/${encodeURIComponent(session.tenant)}${suffix}`;

/**
 * Calls the API. Resolves with the parsed JSON body (or null for 204), rejects with ApiError.
 * @param {string} method @param {string} path
 * @param {{json?: unknown, form?: FormData, auth?: boolean}} [opts]
 */
async function api(method, path, opts = {}) {
  const headers = { Accept: 'application/json' };
  if (opts.auth !== false && session.token) headers.Authorization = `Bearer ${session.token}`;
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
    data = text ? JSON.parse(text) : null;
  } catch {
    data = null;
  }
  if (!res.ok) {
    const e = data?.error;
    const err = new ApiError(
      res.status,
      e?.code ?? `HTTP_${res.status}`,
      e?.message ?? `The API answered ${res.status} ${res.statusText}.`,
      e?.details,
    );
    if (res.status === 401 && opts.auth !== false) {
      signOut('Your session is no longer valid (the API answered 401). Sign in again.');
    }
    throw err;
  }
  return data;
}

/** Reads every page of a list route. */
async function listAll(path) {
  const items = [];
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

// ---------------------------------------------------------------------------------------------
// Dialogs: focus goes in on open and back to the opener on close

const openers = new WeakMap();
/** @param {HTMLDialogElement} dialog @param {HTMLElement} [focus] */
function openDialog(dialog, focus) {
  openers.set(dialog, document.activeElement);
  if (!dialog.open) dialog.showModal();
  (focus ?? dialog.querySelector('input, button, select, textarea'))?.focus();
}
for (const d of document.querySelectorAll('dialog')) {
  d.addEventListener('close', () => {
    const back = openers.get(d);
    if (back instanceof HTMLElement && back.isConnected) back.focus();
  });
}

// ---------------------------------------------------------------------------------------------
// State shared by the screens

const state = {
  /** @type {any[]} */
  certificates: [],
  /** @type {any} */
  selected: null,
  /** certificateId -> profileId, while an assignment is pending */
  pending: new Map(),
  screen: { server: /** @type {string[]} */ ([]), draft: /** @type {string[]} */ ([]), enabled: false },
};

const certById = (id) => state.certificates.find((c) => c.id === id);
const certLabel = (id) => {
  const c = certById(id);
  return c ? `${c.subjectName} (serial ${c.serialNumber})` : id;
};

// ---------------------------------------------------------------------------------------------
// Routing and chrome

const SCREENS = ['certificates', 'screen-recording', 'notifications'];

function currentScreen() {
  const name = location.hash.replace(/^#\/?/, '');
  return SCREENS.includes(name) ? name : 'certificates';
}

function showSignIn(message) {
  $('session').hidden = true;
  $('tabs').hidden = true;
  for (const s of document.querySelectorAll('.screen')) s.hidden = true;
  $('screen-signin').hidden = false;
  const err = $('token-error');
  err.textContent = message ?? '';
  $('token-input').value = '';
  probeDevToken();
  $('token-input').focus();
}

function renderChrome() {
  $('session').hidden = false;
  $('tabs').hidden = false;
  $('screen-signin').hidden = true;
  const select = /** @type {HTMLSelectElement} */ ($('tenant-select'));
  clear(select);
  for (const t of session.tenants)
    select.append(h('option', { value: t, selected: t === session.tenant }, t));
  select.closest('label').hidden = session.tenants.length < 2;
  $('tenant-single').hidden = session.tenants.length > 1;
  $('tenant-single').textContent = `Tenant ${session.tenant}`;
  const roles = $('roles');
  clear(roles);
  for (const r of session.roles) roles.append(h('span', { class: `role role-${r}` }, r));
  if (session.roles.length === 0) roles.append(h('span', { class: 'role' }, 'no role'));
  $('subject').textContent = session.claims.sub ? String(session.claims.sub) : '';
  // Hide what the roles do not allow; the API enforces the same rules.
  for (const el of document.querySelectorAll('[data-role="admin"]')) el.hidden = !can('admin');
}

function route() {
  if (!session.token) return;
  const name = currentScreen();
  for (const a of document.querySelectorAll('#tabs a')) {
    if (a.dataset.screen === name) a.setAttribute('aria-current', 'page');
    else a.removeAttribute('aria-current');
  }
  for (const s of SCREENS) $(`screen-${s}`).hidden = s !== name;
  if (!canView()) {
    banner(
      $('certs-error'),
      'This token holds neither the admin nor the decrypt role, so it cannot view certificates.',
    );
    return;
  }
  if (name === 'certificates') loadCertificates();
  else if (name === 'screen-recording') loadScreen();
  else loadNotifications();
}

window.addEventListener('hashchange', () => {
  if (!takeTokenFromLink()) route();
});

$('tenant-select').addEventListener('change', (e) => {
  session.tenant = e.target.value;
  sessionStorage.setItem('reccert.tenant', session.tenant);
  $('tenant-single').textContent = `Tenant ${session.tenant}`;
  state.selected = null;
  $('details').hidden = true;
  route();
});
$('sign-out').addEventListener('click', () => signOut());

// ---------------------------------------------------------------------------------------------
// Sign in

async function fetchDevToken() {
  try {
    const res = await fetch(`${base}/dev/token`, {
      cache: 'no-store',
      headers: { Accept: 'application/json' },
    });
    if (!res.ok) return null;
    const data = await res.json();
    return typeof data?.token === 'string' ? data.token : null;
  } catch {
    return null;
  }
}

async function probeDevToken() {
  const t = await fetchDevToken();
  $('dev-token').hidden = !t;
}

function startSession(token) {
  applySession(token);
  renderChrome();
  if (!location.hash) history.replaceState(null, '', '#/certificates');
  route();
}

$('signin-form').addEventListener('submit', (e) => {
  e.preventDefault();
  const value = $('token-input')
    .value.trim()
    .replace(/^Bearer\s+/i, '');
  if (!value) {
    $('token-error').textContent = 'Paste a token first.';
    return;
  }
  try {
    startSession(value);
  } catch (err) {
    $('token-error').textContent = err instanceof Error ? err.message : String(err);
  }
});
$('dev-token').addEventListener('click', async () => {
  const t = await fetchDevToken();
  if (t) startSession(t);
  else $('token-error').textContent = 'The server no longer hands out a development token.';
});

// ---------------------------------------------------------------------------------------------
// Recording Certificates

let certsSeq = 0;
async function loadCertificates() {
  const seq = ++certsSeq;
  banner($('certs-error'));
  $('certs-table').setAttribute('aria-busy', 'true');
  try {
    const items = await listAll(tenantPath('/certificates'));
    if (seq !== certsSeq) return;
    items.sort((a, b) => String(b.uploadedAt).localeCompare(String(a.uploadedAt)));
    state.certificates = items;
    renderCertificates();
    if (state.selected) {
      const fresh = certById(state.selected.id);
      if (fresh) showDetails(fresh, false);
      else $('details').hidden = true;
    }
  } catch (err) {
    if (seq === certsSeq) banner($('certs-error'), describe(err));
  } finally {
    if (seq === certsSeq) $('certs-table').removeAttribute('aria-busy');
  }
}

function assignedCell(cert) {
  const td = h('td', { class: 'assigned' });
  for (const p of profilesOf(cert)) td.append(h('span', { class: 'chip' }, `IVR: ${p}`));
  if (onScreen(cert)) td.append(h('span', { class: 'chip chip-screen' }, 'Screen recording'));
  const pend = state.pending.get(cert.id);
  if (pend) td.append(h('span', { class: 'chip chip-pending' }, `pending: ${pend}`));
  if (!td.childNodes.length) td.append(h('span', { class: 'muted' }, 'not assigned'));
  return td;
}

function renderCertificates() {
  const tbody = $('certs-table').querySelector('tbody');
  clear(tbody);
  for (const c of state.certificates) {
    const open = () => showDetails(c, true);
    const tr = h(
      'tr',
      { dataset: { id: c.id }, class: state.selected?.id === c.id ? 'selected' : '' },
      h(
        'td',
        {},
        h(
          'button',
          {
            type: 'button',
            class: 'linkish',
            onclick: open,
            'aria-label': `Show details of ${c.subjectName}`,
          },
          c.subjectName,
        ),
      ),
      h('td', { class: 'mono' }, c.serialNumber),
      expiryCell(c.notAfter),
      h('td', {}, statusBadge(c.status)),
      assignedCell(c),
      can('admin')
        ? h(
            'td',
            { class: 'row-actions' },
            h(
              'button',
              {
                type: 'button',
                class: 'btn btn-sm',
                onclick: () => openAssign(c),
                'aria-label': `Assign ${c.subjectName}`,
                // Expired and replaced certificates stay for playback but cannot be assigned again.
                disabled: !assignable(c),
                title: assignable(c) ? null : `A ${c.status} certificate cannot be assigned.`,
              },
              'Assign',
            ),
            h(
              'button',
              {
                type: 'button',
                class: 'btn btn-sm btn-danger-ghost',
                onclick: () => openDelete(c),
                'aria-label': `Delete ${c.subjectName}`,
              },
              'Delete',
            ),
          )
        : null,
    );
    // A click anywhere on the row opens the details; the buttons keep keyboard access.
    tr.addEventListener('click', (e) => {
      if (!(e.target instanceof Element) || !e.target.closest('button')) open();
    });
    tbody.append(tr);
  }
  $('certs-empty').hidden = state.certificates.length > 0;
}

const FIELD_LABELS = [
  ['subjectName', 'Subject Name'],
  ['serialNumber', 'Serial Number'],
  ['subjectDN', 'Subject DN'],
  ['issuerDN', 'Issuer DN'],
  ['status', 'Status'],
  ['notBefore', 'Valid from'],
  ['notAfter', 'Valid until'],
  ['keyAlgorithm', 'Key algorithm'],
  ['keySize', 'Key size'],
  ['fingerprintSha256', 'SHA-256 fingerprint'],
  ['selfSigned', 'Self-signed'],
  ['alias', 'Alias'],
  ['key', 'Key'],
  ['id', 'Certificate ID'],
  ['tenantId', 'Tenant'],
  ['uploadedAt', 'Uploaded'],
  ['uploadedBy', 'Uploaded by'],
  ['ivrProfiles', 'IVR profiles'],
  ['screenRecording', 'Screen recording'],
];
const HIDDEN_FIELDS = new Set(['warnings', 'certificatePem']);

function formatValue(key, v) {
  if (v === undefined || v === null || v === '') return '—';
  if (key === 'notBefore' || key === 'notAfter' || key === 'uploadedAt') return `${fmtDate(v)} (${v})`;
  if (key === 'keySize') return `${v} bits`;
  if (key === 'ivrProfiles') return profilesOf({ ivrProfiles: v }).join(', ') || 'none';
  if (typeof v === 'boolean') return v ? 'yes' : 'no';
  if (typeof v === 'object') return JSON.stringify(v);
  return String(v);
}

/** Fills a <dl> with the known fields first, then whatever else the API returned. */
function fillProps(dl, obj) {
  clear(dl);
  const seen = new Set();
  const add = (key, label) => {
    seen.add(key);
    if (!(key in obj)) return;
    const mono = ['serialNumber', 'fingerprintSha256', 'id', 'key'].includes(key);
    const dd = h('dd', { class: mono ? 'mono' : '', dataset: { field: key } });
    if ((key === 'subjectDN' || key === 'issuerDN') && typeof obj[key] === 'string') {
      // Let long DNs wrap between their attributes (<wbr> adds no character when copied).
      obj[key].split(/(?<!\\),/).forEach((part, i) => {
        if (i > 0) dd.append(',', h('wbr'));
        dd.append(part);
      });
    } else {
      dd.textContent = formatValue(key, obj[key]);
    }
    dl.append(h('dt', {}, label), dd);
  };
  for (const [k, l] of FIELD_LABELS) add(k, l);
  for (const k of Object.keys(obj)) if (!seen.has(k) && !HIDDEN_FIELDS.has(k)) add(k, k);
}

function warningList(warnings) {
  if (!warnings?.length) return null;
  return h(
    'ul',
    { class: 'warnings' },
    ...warnings.map((w) => h('li', { class: 'warning' }, h('strong', {}, w.code), ' ', w.message)),
  );
}

function showDetails(cert, focus) {
  state.selected = cert;
  for (const tr of $('certs-table').querySelectorAll('tbody tr')) {
    tr.classList.toggle('selected', tr.dataset.id === cert.id);
  }
  const panel = $('details');
  panel.hidden = false;
  $('details-title').textContent = cert.subjectName;
  const w = $('details-warnings');
  clear(w);
  const wl = warningList(cert.warnings);
  if (wl) w.append(wl);
  fillProps($('details-props'), cert);
  /** @type {HTMLButtonElement} */ ($('details-assign')).disabled = !assignable(cert);
  loadHistory(cert);
  if (focus) $('details-title').focus();
}

$('details-close').addEventListener('click', () => {
  const id = state.selected?.id;
  state.selected = null;
  $('details').hidden = true;
  for (const tr of $('certs-table').querySelectorAll('tbody tr.selected')) tr.classList.remove('selected');
  const row = id && $('certs-table').querySelector(`tr[data-id="${CSS.escape(id)}"] button.linkish`);
  if (row) row.focus();
});
$('details-assign').addEventListener('click', () => state.selected && openAssign(state.selected));
$('details-delete').addEventListener('click', () => state.selected && openDelete(state.selected));
$('certs-refresh').addEventListener('click', () => loadCertificates());

const ACTION_TEXT = {
  'certificate.upload': 'Uploaded',
  'certificate.delete': 'Deleted',
  'ivr.assign.requested': 'Assignment requested',
  'ivr.assign.applied': 'Assigned',
  'ivr.assign.rejected': 'Assignment rejected',
  'screen.change': 'Screen recording changed',
  'recording.decrypt': 'Recording decrypted',
};

/** Does this audit entry concern the certificate (directly, or as part of a screen change)? */
function concerns(entry, id) {
  if (entry.certificateId === id) return true;
  const d = entry.details ?? {};
  for (const k of ['add', 'remove', 'added', 'removed', 'previousCertificateId']) {
    const v = d[k];
    if (v === id || (Array.isArray(v) && v.includes(id))) return true;
  }
  return false;
}

function describeAudit(entry, id) {
  const d = entry.details ?? {};
  const profile = d.profileId ?? d.profile;
  switch (entry.action) {
    case 'ivr.assign.requested':
      return `Assignment to IVR profile ${profile ?? '?'} requested`;
    case 'ivr.assign.applied':
      return entry.certificateId === id
        ? `Became active on IVR profile ${profile ?? '?'}`
        : `Replaced on IVR profile ${profile ?? '?'}`;
    case 'ivr.assign.rejected':
      return `Assignment to IVR profile ${profile ?? '?'} rejected${d.reason ? `: ${d.reason}` : ''}`;
    case 'screen.change': {
      const added = [].concat(d.add ?? d.added ?? []);
      const removed = [].concat(d.remove ?? d.removed ?? []);
      if (added.includes(id)) return 'Added to screen recording';
      if (removed.includes(id)) return 'Removed from screen recording';
      return 'Screen recording changed';
    }
    case 'certificate.delete':
      return d.forced || d.force ? 'Deleted (forced)' : 'Deleted';
    default:
      return ACTION_TEXT[entry.action] ?? entry.action;
  }
}

let historySeq = 0;
async function loadHistory(cert) {
  const seq = ++historySeq;
  const box = $('details-history');
  clear(box);
  box.append(h('p', { class: 'muted' }, 'Loading…'));
  try {
    const items = (await listAll(tenantPath('/audit?limit=1000'))).filter((e) => concerns(e, cert.id));
    if (seq !== historySeq) return;
    clear(box);
    if (!items.length) {
      box.append(h('p', { class: 'muted' }, 'No recorded change yet.'));
      return;
    }
    box.append(
      h(
        'ol',
        { class: 'history' },
        ...items.map((e) =>
          h(
            'li',
            {},
            h('time', { datetime: e.at }, fmtDate(e.at)),
            h('span', { class: 'history-what' }, describeAudit(e, cert.id)),
            h('span', { class: 'muted' }, e.actor ? `by ${e.actor}` : ''),
          ),
        ),
      ),
    );
  } catch (err) {
    if (seq !== historySeq) return;
    clear(box);
    box.append(h('p', { class: 'muted' }, `History unavailable: ${describe(err)}`));
  }
}

/** Plain words for an ApiError (or anything thrown). */
function describe(err) {
  if (err instanceof ApiError) {
    if (err.status === 403) return `Not allowed: ${err.message}`;
    return err.message;
  }
  return err instanceof Error ? err.message : String(err);
}

// ---------------------------------------------------------------------------------------------
// Upload

const uploadEls = {
  dialog: /** @type {HTMLDialogElement} */ ($('upload-dialog')),
  form: /** @type {HTMLFormElement} */ ($('upload-form')),
  cert: /** @type {HTMLInputElement} */ ($('upload-certificate')),
  key: /** @type {HTMLInputElement} */ ($('upload-key')),
  password: /** @type {HTMLInputElement} */ ($('upload-password')),
  save: /** @type {HTMLButtonElement} */ ($('upload-save')),
};

const KEY_CODES = new Set(['PRIVATE_KEY_REQUIRED', 'INVALID_PRIVATE_KEY', 'PKCS8_REQUIRED', 'KEY_MISMATCH']);
const PASSWORD_CODES = new Set(['PRIVATE_KEY_ENCRYPTED']);
const CERT_CODES = new Set([
  'INVALID_PEM',
  'NOT_A_CERTIFICATE',
  'MULTIPLE_CERTIFICATES',
  'UNSUPPORTED_KEY_ALGORITHM',
  'KEY_TOO_SMALL',
  'CERTIFICATE_EXPIRED',
  'CERTIFICATE_NOT_YET_VALID',
  'INVALID_SIGNATURE',
  'KEY_USAGE_FORBIDS_ENCRYPTION',
  'CERTIFICATE_EXISTS',
  'PAYLOAD_TOO_LARGE',
]);
const WARNING_FIELD = {
  PASSWORD_IGNORED: 'password',
  EXPIRES_SOON: 'certificate',
  NON_STANDARD_COUNTRY: 'certificate',
};

/** Which upload field an error concerns: the API's own hint first, then the code. */
function fieldOf(err) {
  const hint = String(err.details?.field ?? err.details?.part ?? err.details?.path ?? '');
  if (/password/i.test(hint)) return 'password';
  if (/key/i.test(hint)) return 'key';
  if (/cert/i.test(hint)) return 'certificate';
  if (KEY_CODES.has(err.code)) return 'key';
  if (PASSWORD_CODES.has(err.code)) return 'password';
  if (CERT_CODES.has(err.code)) return 'certificate';
  return 'general';
}

const msgBox = (field) =>
  $(
    field === 'certificate'
      ? 'upload-certificate-msg'
      : field === 'key'
        ? 'upload-key-msg'
        : 'upload-password-msg',
  );
const inputOf = (field) =>
  field === 'certificate' ? uploadEls.cert : field === 'key' ? uploadEls.key : uploadEls.password;

function clearUploadMessages() {
  for (const f of ['certificate', 'key', 'password']) {
    clear(msgBox(f));
    inputOf(f).removeAttribute('aria-invalid');
  }
  banner($('upload-general'));
}

/** @param {'certificate'|'key'|'password'|'general'} field @param {'error'|'warning'|'hint'} kind */
function fieldMessage(field, kind, code, text) {
  if (field === 'general') {
    banner($('upload-general'), code ? `${code}: ${text}` : text);
    return;
  }
  const line = h(
    'p',
    { class: `msg msg-${kind}`, dataset: { code: code ?? '' }, role: kind === 'error' ? 'alert' : null },
    code ? h('span', { class: 'code' }, code) : null,
    code ? ' ' : null,
    text,
  );
  msgBox(field).append(line);
  if (kind === 'error') inputOf(field).setAttribute('aria-invalid', 'true');
}

function fillPreview(details) {
  for (const k of ['subjectName', 'serialNumber', 'subjectDN', 'issuerDN']) {
    /** @type {HTMLInputElement} */ ($(`pv-${k}`)).value = details?.[k] ?? '';
  }
  $('pv-extra').textContent = details
    ? `Valid ${fmtDay(details.notBefore)} – ${fmtDay(details.notAfter)} · ${details.keyAlgorithm ?? 'RSA'} ${details.keySize ?? '?'} bits · SHA-256 ${details.fingerprintSha256 ?? ''}`
    : '';
}

function uploadForm() {
  const fd = new FormData();
  const c = uploadEls.cert.files?.[0];
  const k = uploadEls.key.files?.[0];
  if (c) fd.append('certificate', c, c.name);
  if (k) fd.append('privateKey', k, k.name);
  fd.append('privateKeyPassword', uploadEls.password.value);
  return fd;
}

function showUploadError(err) {
  const field = fieldOf(err);
  // A missing key is the normal state right after the certificate is chosen: say what comes next.
  if (err.code === 'PRIVATE_KEY_REQUIRED' && !uploadEls.key.files?.length) {
    fieldMessage('key', 'hint', null, 'Now choose the private key file that belongs to this certificate.');
    return;
  }
  fieldMessage(field, 'error', err.code, err.message);
}

let previewSeq = 0;
async function runPreview() {
  const seq = ++previewSeq;
  uploadEls.save.disabled = true;
  clearUploadMessages();
  if (!uploadEls.cert.files?.length) {
    fillPreview(null);
    if (uploadEls.key.files?.length)
      fieldMessage('certificate', 'hint', null, 'Choose the certificate file.');
    return;
  }
  $('upload-busy').textContent = 'Checking…';
  try {
    const details = await api('POST', tenantPath('/certificates/preview'), { form: uploadForm() });
    if (seq !== previewSeq) return;
    fillPreview(details);
    for (const w of details?.warnings ?? []) {
      fieldMessage(WARNING_FIELD[w.code] ?? 'certificate', 'warning', w.code, w.message);
    }
    fieldMessage('certificate', 'ok', null, 'Certificate and key checked.');
    uploadEls.save.disabled = false;
  } catch (err) {
    if (seq !== previewSeq) return;
    // Keep what could be read of the certificate when the error is about the key.
    const d = err.details ?? {};
    fillPreview(d.subjectName ? d : null);
    if (err instanceof ApiError) showUploadError(err);
    else fieldMessage('general', 'error', null, describe(err));
  } finally {
    if (seq === previewSeq) $('upload-busy').textContent = '';
  }
}

function resetUpload() {
  previewSeq++;
  uploadEls.form.reset();
  clearUploadMessages();
  fillPreview(null);
  uploadEls.save.disabled = true;
  uploadEls.save.hidden = false;
  $('upload-cancel').textContent = 'Cancel';
  $('upload-result').hidden = true;
  for (const el of [...$('upload-result').children])
    if (el.tagName !== 'H3' && el.tagName !== 'DL') el.remove();
  $('upload-preview').disabled = false;
  for (const el of [uploadEls.cert, uploadEls.key, uploadEls.password]) el.disabled = false;
  $('upload-busy').textContent = '';
}

$('upload-open').addEventListener('click', () => {
  resetUpload();
  openDialog(uploadEls.dialog, uploadEls.cert);
});
uploadEls.cert.addEventListener('change', runPreview);
uploadEls.key.addEventListener('change', runPreview);
// The password is only checked when the user has finished typing it.
uploadEls.password.addEventListener('change', runPreview);
$('upload-cancel').addEventListener('click', () => uploadEls.dialog.close());
// Whatever way the dialog closes, the chosen files and the password are dropped.
uploadEls.dialog.addEventListener('close', () => resetUpload());

uploadEls.form.addEventListener('submit', async (e) => {
  e.preventDefault();
  if (uploadEls.save.disabled) return;
  uploadEls.save.disabled = true;
  clearUploadMessages();
  $('upload-busy').textContent = 'Saving…';
  try {
    const cert = await api('POST', tenantPath('/certificates'), { form: uploadForm() });
    previewSeq++;
    // The key file and password are no longer needed: drop them from the form at once.
    uploadEls.key.value = '';
    uploadEls.password.value = '';
    for (const el of [uploadEls.cert, uploadEls.key, uploadEls.password]) el.disabled = true;
    const dl = $('upload-result-props');
    clear(dl);
    const rows = [
      ['Subject Name', cert.subjectName],
      ['Serial Number', cert.serialNumber],
      ['Alias', cert.alias],
    ];
    if (cert.key) rows.push(['Key', cert.key]);
    for (const [l, v] of rows) {
      if (v !== undefined) dl.append(h('dt', {}, l), h('dd', { class: 'mono', dataset: { field: l } }, v));
    }
    const wl = warningList(cert.warnings);
    if (wl) dl.after(wl);
    if (cert.key) {
      // Only the azure flow returns `key`; there, an upload is assigned to `record` by itself.
      dl.after(
        h(
          'p',
          { class: 'muted small' },
          'On this deployment a new certificate is assigned to the IVR profile record automatically.',
        ),
      );
    }
    $('upload-result').hidden = false;
    uploadEls.save.hidden = true;
    $('upload-cancel').textContent = 'Close';
    $('upload-cancel').focus();
    toast(`Certificate ${cert.subjectName} uploaded.`);
    loadCertificates();
  } catch (err) {
    uploadEls.save.disabled = false;
    if (err instanceof ApiError) showUploadError(err);
    else fieldMessage('general', 'error', null, describe(err));
  } finally {
    $('upload-busy').textContent = '';
  }
});

// ---------------------------------------------------------------------------------------------
// Assign to an IVR profile

const assignEls = {
  dialog: /** @type {HTMLDialogElement} */ ($('assign-dialog')),
  profile: /** @type {HTMLInputElement} */ ($('assign-profile')),
  status: $('assign-status'),
  submit: /** @type {HTMLButtonElement} */ ($('assign-submit')),
};
let assignTarget = null;
let assignRun = 0;

function openAssign(cert) {
  assignTarget = cert;
  assignRun++;
  $('assign-cert').textContent = `Certificate: ${cert.subjectName}, serial ${cert.serialNumber}`;
  const profiles = new Set([config.defaultIvrProfile || 'record']);
  for (const c of state.certificates) for (const p of profilesOf(c)) profiles.add(p);
  const dl = $('profile-list');
  clear(dl);
  for (const p of profiles) dl.append(h('option', { value: p }));
  assignEls.profile.value = config.defaultIvrProfile || 'record';
  assignEls.profile.disabled = false;
  assignEls.status.textContent = '';
  assignEls.status.dataset.state = '';
  clear($('assign-profile-msg'));
  assignEls.submit.hidden = false;
  assignEls.submit.disabled = false;
  $('assign-cancel').textContent = 'Cancel';
  openDialog(assignEls.dialog, assignEls.profile);
}

function setAssignStatus(stateName, text) {
  assignEls.status.dataset.state = stateName;
  assignEls.status.textContent = text;
}

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

assignEls.dialog.querySelector('form').addEventListener('submit', async (e) => {
  e.preventDefault();
  const cert = assignTarget;
  const profileId = assignEls.profile.value.trim();
  clear($('assign-profile-msg'));
  if (!cert) return;
  if (!profileId) {
    $('assign-profile-msg').append(h('p', { class: 'msg msg-error' }, 'Enter the IVR profile name.'));
    assignEls.profile.focus();
    return;
  }
  const run = ++assignRun;
  assignEls.submit.disabled = true;
  assignEls.profile.disabled = true;
  const profilePath = tenantPath(`/ivr-profiles/${encodeURIComponent(profileId)}`);
  let requestId;
  try {
    const res = await api('PUT', `${profilePath}/recording-certificate`, {
      json: { certificateId: cert.id },
    });
    requestId = res?.requestId;
  } catch (err) {
    assignEls.submit.disabled = false;
    assignEls.profile.disabled = false;
    setAssignStatus(
      'error',
      err?.code === 'CERTIFICATE_NOT_USABLE'
        ? `This certificate cannot be assigned: ${err.message}`
        : `Not assigned: ${describe(err)}`,
    );
    return;
  }
  setAssignStatus('pending', `Pending: the assignment to IVR profile ${profileId} has been requested…`);
  state.pending.set(cert.id, profileId);
  renderCertificates();
  $('assign-cancel').textContent = 'Close';
  assignEls.submit.hidden = true;

  const outcome = await waitForAssignment(profilePath, cert.id, requestId);
  state.pending.delete(cert.id);
  if (outcome.state === 'applied') {
    toast(`${cert.subjectName} is now active on IVR profile ${profileId}.`);
  }
  if (run === assignRun) setAssignStatus(outcome.state, outcome.text);
  loadCertificates();
});

/** Polls the profile until the certificate is active there, the request is rejected, or time runs out. */
async function waitForAssignment(profilePath, certId, requestId) {
  const deadline = Date.now() + (config.pollTimeoutMs ?? 60_000);
  const every = config.pollIntervalMs ?? 750;
  for (let i = 0; Date.now() < deadline; i++) {
    await sleep(every);
    if (!session.token) return { state: 'error', text: 'Signed out.' };
    try {
      const profile = await api('GET', profilePath);
      if (profile?.activeCertificateId === certId) {
        return { state: 'applied', text: `Applied: the certificate is active on IVR profile ${profile.id}.` };
      }
    } catch (err) {
      // 404 until the first assignment of a new profile has been applied.
      if (!(err instanceof ApiError && err.status === 404)) return { state: 'error', text: describe(err) };
    }
    // Now and then, look whether the consumer rejected the request.
    if (requestId && i % 4 === 3) {
      try {
        const audit = await listAll(tenantPath('/audit?limit=1000'));
        const rejected = audit.find(
          (a) =>
            a.action === 'ivr.assign.rejected' &&
            (a.details?.requestId === requestId || !a.details?.requestId) &&
            a.certificateId === certId,
        );
        if (rejected) {
          return {
            state: 'error',
            text: `Rejected: ${rejected.details?.reason ?? rejected.details?.message ?? 'see the audit trail'}`,
          };
        }
      } catch {
        // The audit read is a courtesy; keep polling the profile.
      }
    }
  }
  return {
    state: 'pending',
    text: 'Still pending. The change will show once it has been applied; refresh later.',
  };
}

$('assign-cancel').addEventListener('click', () => assignEls.dialog.close());

// ---------------------------------------------------------------------------------------------
// Delete

const delEls = {
  dialog: /** @type {HTMLDialogElement} */ ($('delete-dialog')),
  guard: $('delete-guard'),
  force: $('delete-force'),
  forceCheck: /** @type {HTMLInputElement} */ ($('delete-force-confirm')),
  submit: /** @type {HTMLButtonElement} */ ($('delete-submit')),
  forceSubmit: /** @type {HTMLButtonElement} */ ($('delete-force-submit')),
};
let deleteTarget = null;

function openDelete(cert) {
  deleteTarget = cert;
  $('delete-question').textContent =
    `Delete the certificate ${cert.subjectName} (serial ${cert.serialNumber})? Its private key is deleted with it.`;
  banner(delEls.guard);
  delEls.guard.dataset.code = '';
  delEls.force.hidden = true;
  delEls.forceCheck.checked = false;
  delEls.submit.hidden = false;
  delEls.submit.disabled = false;
  delEls.forceSubmit.hidden = true;
  delEls.forceSubmit.disabled = true;
  $('delete-cancel').textContent = 'Cancel';
  openDialog(delEls.dialog, $('delete-cancel'));
}

function list(words) {
  if (words.length <= 1) return words.join('');
  return `${words.slice(0, -1).join(', ')} and ${words.at(-1)}`;
}

function inUseText(err, cert) {
  const d = err.details ?? {};
  const profiles = profilesOf({
    ivrProfiles: d.ivrProfiles ?? d.profiles ?? d.profileIds ?? cert.ivrProfiles,
  });
  const screen = d.screenRecording ?? onScreen(cert);
  const where = profiles.map((p) => `IVR profile ${p}`);
  if (screen) where.push('screen recording');
  const used = where.length ? list(where) : 'an assignment';
  const steps = [];
  if (profiles.length)
    steps.push(`assign another certificate to ${profiles.length === 1 ? 'that profile' : 'those profiles'}`);
  if (screen) steps.push('remove it from screen recording');
  const todo = steps.length ? ` To delete it, first ${list(steps)}.` : '';
  return `This certificate cannot be deleted: it is in use by ${used}.${todo}`;
}

async function doDelete(force) {
  const cert = deleteTarget;
  if (!cert) return;
  delEls.submit.disabled = true;
  delEls.forceSubmit.disabled = true;
  try {
    await api(
      'DELETE',
      tenantPath(`/certificates/${encodeURIComponent(cert.id)}${force ? '?force=true' : ''}`),
    );
    delEls.dialog.close();
    toast(`Certificate ${cert.subjectName} deleted${force ? ' (forced)' : ''}.`);
    if (state.selected?.id === cert.id) {
      state.selected = null;
      $('details').hidden = true;
    }
    loadCertificates();
  } catch (err) {
    delEls.guard.dataset.code = err?.code ?? '';
    if (err?.code === 'CERTIFICATE_IN_USE') {
      banner(delEls.guard, inUseText(err, cert));
      delEls.submit.hidden = true;
      $('delete-cancel').textContent = 'Close';
      $('delete-cancel').focus();
    } else if (err?.code === 'CERTIFICATE_RETAINED') {
      banner(
        delEls.guard,
        'This certificate is kept because it was assigned before: recordings made while it was assigned may depend on it, and without its private key they can no longer be decrypted or played back. It is normally kept for as long as such recordings are.',
      );
      delEls.submit.hidden = true;
      delEls.force.hidden = false;
      delEls.forceSubmit.hidden = false;
      delEls.forceSubmit.disabled = !delEls.forceCheck.checked;
      delEls.forceCheck.focus();
    } else {
      banner(delEls.guard, `Not deleted: ${describe(err)}`);
      delEls.submit.disabled = false;
    }
  }
}

delEls.dialog.querySelector('form').addEventListener('submit', (e) => {
  e.preventDefault();
  doDelete(false);
});
delEls.forceCheck.addEventListener('change', () => {
  delEls.forceSubmit.disabled = !delEls.forceCheck.checked;
});
delEls.forceSubmit.addEventListener('click', () => {
  if (delEls.forceCheck.checked) doDelete(true);
});
$('delete-cancel').addEventListener('click', () => delEls.dialog.close());

// ---------------------------------------------------------------------------------------------
// Screen Recording Certificates

const sameSet = (a, b) => a.length === b.length && a.every((x) => b.includes(x));

async function loadScreen() {
  banner($('screen-error'));
  $('screen-table').setAttribute('aria-busy', 'true');
  try {
    const [certs, screen] = await Promise.all([
      listAll(tenantPath('/certificates')),
      api('GET', tenantPath('/screen-recording-certificates')),
    ]);
    state.certificates = certs;
    state.screen.server = [...(screen?.certificateIds ?? [])];
    state.screen.draft = [...state.screen.server];
    state.screen.enabled = Boolean(screen?.encryptionEnabled);
    renderScreen();
  } catch (err) {
    banner($('screen-error'), describe(err));
  } finally {
    $('screen-table').removeAttribute('aria-busy');
  }
}

function renderScreen() {
  const { server, draft, enabled } = state.screen;
  const dirty = !sameSet(server, draft);
  const tbody = $('screen-table').querySelector('tbody');
  clear(tbody);
  // Rows to be removed stay visible, struck through, until Save or Cancel.
  for (const id of server.filter((x) => !draft.includes(x))) {
    const c = certById(id);
    tbody.append(
      h(
        'tr',
        { dataset: { id }, class: 'removed' },
        h(
          'td',
          {},
          h('s', {}, c ? c.subjectName : id),
          h('span', { class: 'chip chip-removed' }, 'to be removed'),
        ),
        h('td', { class: 'mono' }, h('s', {}, c?.serialNumber ?? '—')),
        h('td', {}, c ? fmtDay(c.notAfter) : '—'),
        h('td', {}, c ? statusBadge(c.status) : ''),
        can('admin')
          ? h(
              'td',
              { class: 'row-actions' },
              h(
                'button',
                {
                  type: 'button',
                  class: 'btn btn-sm',
                  'aria-label': `Keep ${c ? c.subjectName : id}`,
                  onclick: () => {
                    state.screen.draft.push(id);
                    renderScreen();
                    $('screen-add').focus();
                  },
                },
                'Keep',
              ),
            )
          : null,
      ),
    );
  }
  for (const id of draft) {
    const c = certById(id);
    const added = !server.includes(id);
    tbody.append(
      h(
        'tr',
        { dataset: { id }, class: added ? 'added' : '' },
        h(
          'td',
          {},
          c ? c.subjectName : id,
          added ? h('span', { class: 'chip chip-pending' }, 'to be added') : null,
        ),
        h('td', { class: 'mono' }, c?.serialNumber ?? '—'),
        c ? expiryCell(c.notAfter) : h('td', {}, '—'),
        h('td', {}, c ? statusBadge(c.status) : ''),
        can('admin')
          ? h(
              'td',
              { class: 'row-actions' },
              h(
                'button',
                {
                  type: 'button',
                  class: 'btn btn-sm btn-danger-ghost',
                  'aria-label': `Remove ${c ? c.subjectName : id}`,
                  onclick: () => {
                    state.screen.draft = state.screen.draft.filter((x) => x !== id);
                    renderScreen();
                    $('screen-add').focus();
                  },
                },
                'Remove',
              ),
            )
          : null,
      ),
    );
  }
  $('screen-empty').hidden = draft.length + server.length > 0;
  $('screen-state').textContent = enabled
    ? `Screen recordings are encrypted (${server.length} certificate${server.length === 1 ? '' : 's'}).`
    : 'Screen recordings are not encrypted.';
  $('screen-state').dataset.enabled = String(enabled);
  const removed = server.filter((x) => !draft.includes(x)).length;
  const added = draft.filter((x) => !server.includes(x)).length;
  let note = '';
  if (dirty) {
    note = `Unsaved changes: ${added} to add, ${removed} to remove.`;
    if (draft.length === 0) note += ' Saving turns screen recording encryption off.';
  }
  $('screen-dirty').textContent = note;
  /** @type {HTMLButtonElement} */ ($('screen-save')).disabled = !dirty;
  /** @type {HTMLButtonElement} */ ($('screen-cancel')).disabled = !dirty;
}

$('screen-refresh').addEventListener('click', () => loadScreen());
$('screen-cancel').addEventListener('click', () => {
  state.screen.draft = [...state.screen.server];
  banner($('screen-error'));
  renderScreen();
  toast('Changes discarded.');
});

$('screen-add').addEventListener('click', () => {
  const box = $('select-list');
  clear(box);
  const choices = state.certificates.filter(
    (c) => !state.screen.draft.includes(c.id) && c.status !== 'expired' && c.status !== 'retired',
  );
  for (const c of choices) {
    const id = `sel-${c.id}`;
    box.append(
      h(
        'label',
        { class: 'check check-row', for: id },
        h('input', { type: 'checkbox', id, value: c.id }),
        h(
          'span',
          {},
          h('strong', {}, c.subjectName),
          h('span', { class: 'muted mono' }, ` serial ${c.serialNumber}`),
        ),
        h('span', { class: `badge badge-${expiry(c.notAfter).level}` }, expiry(c.notAfter).text),
      ),
    );
  }
  $('select-empty').hidden = choices.length > 0;
  /** @type {HTMLButtonElement} */ ($('select-ok')).disabled = choices.length === 0;
  openDialog(
    /** @type {HTMLDialogElement} */ ($('select-dialog')),
    box.querySelector('input') ?? $('select-cancel'),
  );
});
$('select-cancel').addEventListener('click', () =>
  /** @type {HTMLDialogElement} */ ($('select-dialog')).close(),
);
$('select-form').addEventListener('submit', (e) => {
  e.preventDefault();
  const picked = [...$('select-list').querySelectorAll('input:checked')].map((i) => i.value);
  for (const id of picked) if (!state.screen.draft.includes(id)) state.screen.draft.push(id);
  /** @type {HTMLDialogElement} */ ($('select-dialog')).close();
  renderScreen();
});

async function saveScreen(confirmDisable) {
  const { server, draft } = state.screen;
  const add = draft.filter((x) => !server.includes(x));
  const remove = server.filter((x) => !draft.includes(x));
  if (draft.length === 0 && server.length > 0 && !confirmDisable) {
    openDialog(/** @type {HTMLDialogElement} */ ($('disable-dialog')), $('disable-cancel'));
    return;
  }
  banner($('screen-error'));
  /** @type {HTMLButtonElement} */ ($('screen-save')).disabled = true;
  try {
    const body = { add, remove };
    if (confirmDisable) body.confirmDisableEncryption = true;
    const res = await api('PATCH', tenantPath('/screen-recording-certificates'), { json: body });
    state.screen.server = [...(res?.certificateIds ?? draft)];
    state.screen.draft = [...state.screen.server];
    state.screen.enabled = Boolean(res?.encryptionEnabled);
    renderScreen();
    toast('Screen recording certificates saved.');
  } catch (err) {
    if (err?.code === 'ENCRYPTION_WOULD_BE_DISABLED' && !confirmDisable) {
      openDialog(/** @type {HTMLDialogElement} */ ($('disable-dialog')), $('disable-cancel'));
    } else if (err?.code === 'NO_RECORDING_CERTIFICATE') {
      banner(
        $('screen-error'),
        'Screen recording certificates can be set only once the tenant has a voice recording certificate: assign a certificate to an IVR profile first. Nothing was changed.',
      );
    } else {
      banner($('screen-error'), `Nothing was changed: ${describe(err)}`);
    }
    renderScreen();
  }
}

$('screen-save').addEventListener('click', () => saveScreen(false));
$('disable-cancel').addEventListener('click', () =>
  /** @type {HTMLDialogElement} */ ($('disable-dialog')).close(),
);
$('disable-form').addEventListener('submit', (e) => {
  e.preventDefault();
  /** @type {HTMLDialogElement} */ ($('disable-dialog')).close();
  saveScreen(true);
});

// ---------------------------------------------------------------------------------------------
// Notifications

async function loadNotifications() {
  banner($('notif-error'));
  const tbody = $('notif-table').querySelector('tbody');
  try {
    const [items, certs] = await Promise.all([
      listAll(tenantPath('/notifications')),
      listAll(tenantPath('/certificates')).catch(() => state.certificates),
    ]);
    state.certificates = certs;
    items.sort((a, b) => String(b.createdAt).localeCompare(String(a.createdAt)));
    clear(tbody);
    for (const n of items) {
      const expired = n.kind === 'expired';
      tbody.append(
        h(
          'tr',
          {},
          h(
            'td',
            {},
            h(
              'span',
              { class: `badge badge-${expired ? 'danger' : 'warn'}` },
              expired
                ? 'expired'
                : `expires within ${n.thresholdDays} day${n.thresholdDays === 1 ? '' : 's'}`,
            ),
          ),
          h('td', {}, certLabel(n.certificateId)),
          h('td', {}, fmtDay(n.notAfter)),
          h('td', {}, fmtDate(n.createdAt)),
        ),
      );
    }
    $('notif-empty').hidden = items.length > 0;
  } catch (err) {
    banner($('notif-error'), describe(err));
  }
}
$('notif-refresh').addEventListener('click', () => loadNotifications());

// ---------------------------------------------------------------------------------------------
// Start: a token from this tab's session, else the dev server's token, else ask for one

/** Signs in with a `#token=` link, if that is what the address holds; true when it did. */
function takeTokenFromLink() {
  const fromLink = /^#token=([^&]+)/.exec(location.hash);
  if (!fromLink) return false;
  history.replaceState(null, '', `${location.pathname}${location.search}#/certificates`);
  try {
    startSession(decodeURIComponent(fromLink[1]));
  } catch (err) {
    showSignIn(err instanceof Error ? err.message : String(err));
  }
  return true;
}

async function start() {
  // `npm start` prints a link with the token in the fragment (never sent to a server): take it,
  // then drop it from the address bar and the history.
  if (takeTokenFromLink()) return;
  const saved = sessionStorage.getItem(TOKEN_KEY);
  if (saved) {
    try {
      startSession(saved);
      return;
    } catch {
      sessionStorage.removeItem(TOKEN_KEY);
    }
  }
  const dev = await fetchDevToken();
  if (dev) {
    try {
      startSession(dev);
      return;
    } catch {
      // fall through to the sign-in form
    }
  }
  showSignIn();
}

start();
