// @ts-check
// Recording Certificates: the list with expiry and status badges, and the details panel of the
// certificate chosen (its fields, warnings and history).

import { describe, listAll, tenantPath } from '../api.js';
import { $, banner, clear, h, latest } from '../dom.js';
import { expiryCell, fmtDate, statusBadge, warningList } from '../format.js';
import * as session from '../session.js';
import { assignable, onScreen, profilesOf } from '../store.js';
import { createHistory } from './history.js';

/** @typedef {import('../types.js').Certificate} Certificate */

/** @type {[string, string][]} */
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
const MONO_FIELDS = ['serialNumber', 'fingerprintSha256', 'id', 'key'];

/** Whether recordings are being encrypted with the certificate. @param {Certificate} cert */
const isActive = (cert) => profilesOf(cert).length > 0 || onScreen(cert);

/**
 * A newer usable certificate not assigned anywhere: it expires later, has not expired and is not
 * retired (the rule of `replacementAvailable` in shared/domain/expiry.ts, on the listed fields).
 * @param {Certificate} cert
 * @param {Certificate[]} all
 * @returns {Certificate | undefined}
 */
export function replacementFor(cert, all) {
  const expiry = Date.parse(cert.notAfter);
  return all.find(
    (c) => c.id !== cert.id && Date.parse(c.notAfter) > expiry && assignable(c) && !isActive(c),
  );
}

/** @param {string} key @param {unknown} v */
function formatValue(key, v) {
  if (v === undefined || v === null || v === '') return '—';
  if (key === 'notBefore' || key === 'notAfter' || key === 'uploadedAt') return `${fmtDate(v)} (${v})`;
  if (key === 'keySize') return `${v} bits`;
  if (key === 'ivrProfiles') return profilesOf({ ivrProfiles: v }).join(', ') || 'none';
  if (typeof v === 'boolean') return v ? 'yes' : 'no';
  if (typeof v === 'object') return JSON.stringify(v);
  return String(v);
}

/**
 * Fills a <dl> with the known fields first, then whatever else the API returned.
 * @param {HTMLElement} dl
 * @param {Record<string, unknown>} obj
 */
function fillProps(dl, obj) {
  clear(dl);
  const seen = new Set();
  /** @param {string} key @param {string} label */
  const add = (key, label) => {
    seen.add(key);
    if (!(key in obj)) return;
    const dd = h('dd', { class: MONO_FIELDS.includes(key) ? 'mono' : '', dataset: { field: key } });
    const value = obj[key];
    if ((key === 'subjectDN' || key === 'issuerDN') && typeof value === 'string') {
      // Let long DNs wrap between their attributes (<wbr> adds no character when copied).
      value.split(/(?<!\\),/).forEach((part, i) => {
        if (i > 0) dd.append(',', h('wbr'));
        dd.append(part);
      });
    } else {
      dd.textContent = formatValue(key, value);
    }
    dl.append(h('dt', {}, label), dd);
  };
  for (const [k, l] of FIELD_LABELS) add(k, l);
  for (const k of Object.keys(obj)) if (!seen.has(k) && !HIDDEN_FIELDS.has(k)) add(k, k);
}

/**
 * The Recording Certificates screen.
 * @param {object} deps
 * @param {import('../store.js').Store} deps.store
 * @param {(cert: Certificate) => void} deps.assign opens the Assign dialog
 * @param {(cert: Certificate) => void} deps.remove opens the Delete dialog
 */
export function createCertificatesScreen({ store, assign, remove }) {
  const table = $('certs-table');
  const details = $('details');
  const history = createHistory();
  const runs = latest();

  /** @param {Certificate} cert */
  function assignedCell(cert) {
    const td = h('td', { class: 'assigned' });
    for (const p of profilesOf(cert)) td.append(h('span', { class: 'chip' }, `IVR: ${p}`));
    if (onScreen(cert)) td.append(h('span', { class: 'chip chip-screen' }, 'Screen recording'));
    const pend = store.pending.get(cert.id);
    if (pend) td.append(h('span', { class: 'chip chip-pending' }, `pending: ${pend}`));
    if (!td.childNodes.length) td.append(h('span', { class: 'muted' }, 'not assigned'));
    const next = replacementNote(cert);
    if (next) td.append(' ', next);
    return td;
  }

  /**
   * For a certificate in use that expires soon or has expired (the ones expiry notices are about,
   * DESIGN rule 14): whether a newer usable certificate is uploaded and not assigned anywhere yet.
   * @param {Certificate} cert
   */
  function replacementNote(cert) {
    if (!isActive(cert) || (cert.status !== 'expiring' && cert.status !== 'expired')) return null;
    const ready = replacementFor(cert, store.certificates);
    return ready
      ? h(
          'span',
          { class: 'badge badge-ok', dataset: { replacement: ready.id } },
          `replacement ready: ${ready.subjectName}`,
        )
      : h('span', { class: 'badge badge-warn', dataset: { replacement: '' } }, 'no replacement uploaded');
  }

  /** @param {Certificate} c */
  function row(c) {
    const open = () => showDetails(c, true);
    const tr = h(
      'tr',
      { dataset: { id: c.id }, class: store.selected?.id === c.id ? 'selected' : '' },
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
      session.can('admin')
        ? h(
            'td',
            { class: 'row-actions' },
            h(
              'button',
              {
                type: 'button',
                class: 'btn btn-sm',
                onclick: () => assign(c),
                'aria-label': `Assign ${c.subjectName}`,
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
                onclick: () => remove(c),
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
    return tr;
  }

  /** Draws the list from the store. */
  function render() {
    const tbody = /** @type {HTMLTableSectionElement} */ (table.querySelector('tbody'));
    clear(tbody);
    for (const c of store.certificates) tbody.append(row(c));
    $('certs-empty').hidden = store.certificates.length > 0;
  }

  /** @param {Certificate} cert @param {boolean} focus */
  function showDetails(cert, focus) {
    store.selected = cert;
    for (const tr of table.querySelectorAll('tbody tr')) {
      if (tr instanceof HTMLElement) tr.classList.toggle('selected', tr.dataset.id === cert.id);
    }
    details.hidden = false;
    $('details-title').textContent = cert.subjectName;
    const w = $('details-warnings');
    clear(w);
    const wl = warningList(cert.warnings);
    if (wl) w.append(wl);
    fillProps($('details-props'), cert);
    $('details-assign', HTMLButtonElement).disabled = !assignable(cert);
    history.load(cert);
    if (focus) $('details-title').focus();
  }

  /** Reads the tenant's certificates and draws them (the latest call wins). */
  async function load() {
    const run = runs.start();
    banner($('certs-error'));
    table.setAttribute('aria-busy', 'true');
    try {
      /** @type {Certificate[]} */
      const items = await listAll(tenantPath('/certificates'));
      if (!runs.isCurrent(run)) return;
      items.sort((a, b) => String(b.uploadedAt).localeCompare(String(a.uploadedAt)));
      store.certificates = items;
      render();
      if (store.selected) {
        const fresh = store.byId(store.selected.id);
        if (fresh) showDetails(fresh, false);
        else details.hidden = true;
      }
    } catch (err) {
      if (runs.isCurrent(run)) banner($('certs-error'), describe(err));
    } finally {
      if (runs.isCurrent(run)) table.removeAttribute('aria-busy');
    }
  }

  /** Closes the details panel without moving the focus. */
  function deselect() {
    store.selected = null;
    details.hidden = true;
  }

  $('details-close').addEventListener('click', () => {
    const id = store.selected?.id;
    deselect();
    for (const tr of table.querySelectorAll('tbody tr.selected')) tr.classList.remove('selected');
    const link = id && table.querySelector(`tr[data-id="${CSS.escape(id)}"] button.linkish`);
    if (link instanceof HTMLElement) link.focus();
  });
  $('details-assign').addEventListener('click', () => store.selected && assign(store.selected));
  $('details-delete').addEventListener('click', () => store.selected && remove(store.selected));
  $('certs-refresh').addEventListener('click', () => load());

  return { load, render, deselect };
}
