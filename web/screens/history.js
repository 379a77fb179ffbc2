// @ts-check
// The history in a certificate's details: the audit entries that concern it, in plain words.

import { api, describe, listAll, tenantPath } from '../api.js';
import { $, clear, h, latest } from '../dom.js';
import { fmtDate } from '../format.js';

/** @typedef {import('../types.js').AuditEntry} AuditEntry */

/** @type {Record<string, string>} */
const ACTION_TEXT = {
  'certificate.upload': 'Uploaded',
  'certificate.delete': 'Deleted',
  'ivr.assign.requested': 'Assignment requested',
  'ivr.assign.applied': 'Assigned',
  'ivr.assign.rejected': 'Assignment rejected',
  'screen.change': 'Screen recording changed',
  'recording.decrypt': 'Recording decrypted',
};

/**
 * Does this audit entry concern the certificate (directly, or as part of a screen change)?
 * @param {AuditEntry} entry
 * @param {string} id
 */
function concerns(entry, id) {
  if (entry.certificateId === id) return true;
  const d = entry.details ?? {};
  for (const k of ['add', 'remove', 'added', 'removed', 'previousCertificateId']) {
    const v = d[k];
    if (v === id || (Array.isArray(v) && v.includes(id))) return true;
  }
  return false;
}

/**
 * What the entry did to certificate `id`, in words.
 * @param {AuditEntry} entry
 * @param {string} id
 */
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
      /** @type {unknown[]} */
      const added = [].concat(d.add ?? d.added ?? []);
      /** @type {unknown[]} */
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

/** The history box of the details panel. */
export function createHistory() {
  const runs = latest();

  /**
   * Shows the history of `cert` (the latest call wins).
   * @param {import('../types.js').Certificate} cert
   */
  async function load(cert) {
    const run = runs.start();
    const box = $('details-history');
    clear(box);
    box.append(h('p', { class: 'muted' }, 'Loading…'));
    try {
      // Its own entries, all of them (filtered by the store), and screen changes that name it
      // among the newest entries of the tenant (those do not carry one certificate id).
      const [own, recent] = await Promise.all([
        listAll(tenantPath(`/audit?certificateId=${encodeURIComponent(cert.id)}&limit=1000`)),
        api('GET', tenantPath('/audit?limit=1000')),
      ]);
      /** @type {Map<string, AuditEntry>} */
      const byId = new Map();
      for (const e of [...own, ...(recent?.items ?? [])]) if (concerns(e, cert.id)) byId.set(e.id, e);
      /** @type {AuditEntry[]} */
      const items = [...byId.values()].sort((a, b) => String(b.at).localeCompare(String(a.at)));
      if (!runs.isCurrent(run)) return;
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
      if (!runs.isCurrent(run)) return;
      clear(box);
      box.append(h('p', { class: 'muted' }, `History unavailable: ${describe(err)}`));
    }
  }

  return { load };
}
