// @ts-check
// Notifications: the expiry notices of the tenant's certificates, newest first.

import { describe, listAll, tenantPath } from '../api.js';
import { $, banner, clear, h } from '../dom.js';
import { fmtDate, fmtDay } from '../format.js';

/**
 * @param {import('../types.js').ExpiryNotification} n
 * @param {import('../store.js').Store} store
 */
function row(n, store) {
  const expired = n.kind === 'expired';
  const tr = h(
    'tr',
    {},
    h(
      'td',
      {},
      h(
        'span',
        { class: `badge badge-${expired ? 'danger' : 'warn'}` },
        expired ? 'expired' : `expires within ${n.thresholdDays} day${n.thresholdDays === 1 ? '' : 's'}`,
      ),
    ),
    h('td', {}, store.label(n.certificateId)),
    activeInCell(n.activeIn),
    h(
      'td',
      { dataset: { field: 'replacement' } },
      n.replacementAvailable
        ? h('span', { class: 'badge badge-ok' }, 'ready: assign it')
        : h('span', { class: 'badge badge-warn' }, 'none uploaded'),
    ),
    h('td', {}, fmtDay(n.notAfter)),
    h('td', {}, fmtDate(n.createdAt)),
  );
  // The notice's own text (what happens to recordings, what to do), as the e-mail and webhook carry it.
  if (n.message) tr.title = n.message;
  return tr;
}

/**
 * Where the certificate was active when the notice was made.
 * @param {import('../types.js').ExpiryNotification['activeIn']} activeIn
 */
function activeInCell(activeIn) {
  const td = h('td', { class: 'assigned', dataset: { field: 'activeIn' } });
  for (const p of activeIn?.ivrProfiles ?? []) td.append(h('span', { class: 'chip' }, `IVR: ${p}`));
  if (activeIn?.screenRecording) td.append(h('span', { class: 'chip chip-screen' }, 'Screen recording'));
  if (!td.childNodes.length) td.append(h('span', { class: 'muted' }, '—'));
  return td;
}

/**
 * The Notifications screen.
 * @param {object} deps
 * @param {import('../store.js').Store} deps.store
 */
export function createNotificationsScreen({ store }) {
  /** Reads the notices (and the certificates, for their names) and draws them. */
  async function load() {
    banner($('notif-error'));
    const tbody = /** @type {HTMLTableSectionElement} */ ($('notif-table').querySelector('tbody'));
    try {
      /** @type {[import('../types.js').ExpiryNotification[], import('../types.js').Certificate[]]} */
      const [items, certs] = await Promise.all([
        listAll(tenantPath('/notifications')),
        listAll(tenantPath('/certificates')).catch(() => store.certificates),
      ]);
      store.certificates = certs;
      items.sort((a, b) => String(b.createdAt).localeCompare(String(a.createdAt)));
      clear(tbody);
      for (const n of items) tbody.append(row(n, store));
      $('notif-empty').hidden = items.length > 0;
    } catch (err) {
      banner($('notif-error'), describe(err));
    }
  }

  $('notif-refresh').addEventListener('click', () => load());
  return { load };
}
