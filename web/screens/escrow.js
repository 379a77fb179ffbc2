// @ts-check
// Escrow and backup: the tenant's escrow certificate (every private key is also sealed to it),
// what is not escrowed and why, registering or replacing it, and downloading the key backup.
// Only the escrow certificate goes to the API; its private key stays with the tenant.

import { ApiError, api, describe, fetchBlob, listAll, tenantPath } from '../api.js';
import { $, banner, clear, h, latest, toast } from '../dom.js';
import { expiryCell } from '../format.js';
import * as session from '../session.js';

/** @typedef {import('../types.js').EscrowCertificate} EscrowCertificate */

/**
 * The Escrow and backup screen.
 * @param {object} deps
 * @param {import('../store.js').Store} deps.store
 */
export function createEscrowScreen({ store }) {
  const runs = latest();
  const file = $('escrow-file', HTMLInputElement);
  const save = $('escrow-save', HTMLButtonElement);
  const download = $('escrow-download', HTMLButtonElement);

  /** Draws the escrow certificate, or says there is none. @param {EscrowCertificate | null} escrow */
  function render(escrow) {
    const props = $('escrow-props');
    clear(props);
    $('escrow-none').hidden = escrow !== null;
    props.hidden = escrow === null;
    $('escrow-missing-section').hidden = escrow === null;
    download.disabled = escrow === null;
    save.textContent = escrow === null ? 'Register' : 'Replace';
    if (!escrow) return;
    const expiry = expiryCell(escrow.notAfter);
    props.append(
      h('dt', {}, 'Subject DN'),
      h('dd', { dataset: { field: 'subjectDN' } }, escrow.subjectDN),
      h('dt', {}, 'Valid until'),
      h('dd', { dataset: { field: 'notAfter' } }, ...expiry.childNodes),
      h('dt', {}, 'SHA-256 fingerprint'),
      h('dd', { class: 'mono', dataset: { field: 'fingerprintSha256' } }, escrow.fingerprintSha256),
      h('dt', {}, 'Escrowed keys'),
      h('dd', { dataset: { field: 'escrowedKeys' } }, escrow.escrowedKeys),
    );
    const list = $('escrow-missing');
    clear(list);
    const missing = Array.isArray(escrow.notEscrowed) ? escrow.notEscrowed : [];
    for (const m of missing) {
      list.append(
        h(
          'li',
          { dataset: { id: m.certificateId } },
          h('strong', {}, store.label(m.certificateId)),
          ': ',
          m.reason,
        ),
      );
    }
    list.hidden = missing.length === 0;
    $('escrow-all').hidden = missing.length > 0;
  }

  /** Reads the escrow certificate (and the certificates, for their names). */
  async function load() {
    const run = runs.start();
    banner($('escrow-error'));
    try {
      /** @type {[EscrowCertificate | null, import('../types.js').Certificate[]]} */
      const [escrow, certs] = await Promise.all([
        api('GET', tenantPath('/escrow-certificate')).catch((err) => {
          if (err instanceof ApiError && err.status === 404) return null;
          throw err;
        }),
        listAll(tenantPath('/certificates')).catch(() => store.certificates),
      ]);
      if (!runs.isCurrent(run)) return;
      store.certificates = certs;
      render(escrow);
    } catch (err) {
      if (runs.isCurrent(run)) banner($('escrow-error'), describe(err));
    }
  }

  /** Registers (or replaces) the chosen certificate. */
  async function register() {
    banner($('escrow-error'));
    const chosen = file.files?.[0];
    if (!chosen) {
      banner($('escrow-error'), 'Choose the escrow certificate (PEM) first.');
      return;
    }
    const certificate = await chosen.text();
    // Its key must never come near the service: a file that holds one is not sent at all.
    if (/-----BEGIN [A-Z ]*PRIVATE KEY-----/.test(certificate)) {
      banner(
        $('escrow-error'),
        'This file holds a private key. Choose the escrow certificate only, and keep its key offline.',
      );
      return;
    }
    save.disabled = true;
    try {
      /** @type {EscrowCertificate} */
      const escrow = await api('PUT', tenantPath('/escrow-certificate'), { json: { certificate } });
      runs.cancel();
      render(escrow);
      file.value = '';
      const missing = escrow.notEscrowed?.length ?? 0;
      toast(
        missing === 0
          ? `Escrow certificate registered; ${escrow.escrowedKeys} key(s) escrowed.`
          : `Escrow certificate registered; ${missing} key(s) could not be escrowed (see the list).`,
        missing === 0 ? 'ok' : 'warn',
      );
    } catch (err) {
      banner($('escrow-error'), describe(err));
    } finally {
      save.disabled = false;
    }
  }

  /** Saves the key backup as a file (an object URL that lives only for the click). */
  async function saveBackup() {
    banner($('escrow-error'));
    download.disabled = true;
    try {
      const blob = await fetchBlob(tenantPath('/key-backup'), 'application/cms');
      const url = URL.createObjectURL(blob);
      const a = h('a', { href: url, download: `${session.tenant()}-key-backup.cms`, hidden: true });
      document.body.append(a);
      a.click();
      a.remove();
      setTimeout(() => URL.revokeObjectURL(url), 0);
      toast('Key backup downloaded. Open it with your escrow key: reccert backup open.');
    } catch (err) {
      banner($('escrow-error'), describe(err));
    } finally {
      download.disabled = false;
    }
  }

  $('escrow-form').addEventListener('submit', (event) => {
    event.preventDefault();
    register();
  });
  download.addEventListener('click', () => saveBackup());
  $('escrow-refresh').addEventListener('click', () => load());
  return { load };
}
