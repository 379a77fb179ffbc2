// @ts-check
// The Delete dialog: deletes a certificate and its private key, explains why the API refused (in
// use, or kept for the recordings that may depend on it) and offers the forced delete where the
// API allows one.

import { ApiError, api, describe, tenantPath } from '../api.js';
import { $, banner, openDialog, toast } from '../dom.js';
import { onScreen, profilesOf } from '../store.js';

/** @typedef {import('../types.js').Certificate} Certificate */

/** "a", "a and b", "a, b and c". @param {string[]} words */
function list(words) {
  if (words.length <= 1) return words.join('');
  return `${words.slice(0, -1).join(', ')} and ${words.at(-1)}`;
}

/**
 * Where the certificate is in use and what to do first, from a CERTIFICATE_IN_USE answer.
 * @param {ApiError} err
 * @param {Certificate} cert
 */
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

/**
 * The Delete dialog.
 * @param {object} deps
 * @param {(cert: Certificate) => void} deps.deleted called after the certificate is gone
 */
export function createDeleteDialog({ deleted }) {
  const dialog = $('delete-dialog', HTMLDialogElement);
  const guard = $('delete-guard');
  const force = $('delete-force');
  const forceCheck = $('delete-force-confirm', HTMLInputElement);
  const submit = $('delete-submit', HTMLButtonElement);
  const forceSubmit = $('delete-force-submit', HTMLButtonElement);
  const cancel = $('delete-cancel');
  /** @type {Certificate | null} */
  let target = null;

  /** Opens the dialog for `cert`. @param {Certificate} cert */
  function open(cert) {
    target = cert;
    $('delete-question').textContent =
      `Delete the certificate ${cert.subjectName} (serial ${cert.serialNumber})? Its private key is deleted with it.`;
    banner(guard);
    guard.dataset.code = '';
    force.hidden = true;
    forceCheck.checked = false;
    submit.hidden = false;
    submit.disabled = false;
    forceSubmit.hidden = true;
    forceSubmit.disabled = true;
    cancel.textContent = 'Cancel';
    openDialog(dialog, cancel);
  }

  /** @param {boolean} forced */
  async function doDelete(forced) {
    const cert = target;
    if (!cert) return;
    submit.disabled = true;
    forceSubmit.disabled = true;
    try {
      await api(
        'DELETE',
        tenantPath(`/certificates/${encodeURIComponent(cert.id)}${forced ? '?force=true' : ''}`),
      );
      dialog.close();
      toast(`Certificate ${cert.subjectName} deleted${forced ? ' (forced)' : ''}.`);
      deleted(cert);
    } catch (err) {
      const code = err instanceof ApiError ? err.code : '';
      guard.dataset.code = code;
      if (err instanceof ApiError && code === 'CERTIFICATE_IN_USE') {
        banner(guard, inUseText(err, cert));
        submit.hidden = true;
        cancel.textContent = 'Close';
        cancel.focus();
      } else if (code === 'CERTIFICATE_RETAINED') {
        banner(
          guard,
          'This certificate is kept because it was assigned before: recordings made while it was assigned may depend on it, and without its private key they can no longer be decrypted or played back. It is normally kept for as long as such recordings are.',
        );
        submit.hidden = true;
        force.hidden = false;
        forceSubmit.hidden = false;
        forceSubmit.disabled = !forceCheck.checked;
        forceCheck.focus();
      } else {
        banner(guard, `Not deleted: ${describe(err)}`);
        submit.disabled = false;
      }
    }
  }

  /** @type {HTMLFormElement} */ (dialog.querySelector('form')).addEventListener('submit', (e) => {
    e.preventDefault();
    doDelete(false);
  });
  forceCheck.addEventListener('change', () => {
    forceSubmit.disabled = !forceCheck.checked;
  });
  forceSubmit.addEventListener('click', () => {
    if (forceCheck.checked) doDelete(true);
  });
  cancel.addEventListener('click', () => dialog.close());

  return { open };
}
