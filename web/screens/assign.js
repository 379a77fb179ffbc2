// @ts-check
// The Assign dialog: requests that a certificate become active on an IVR profile, then follows
// the request (pending, applied, rejected) until the profile shows it or time runs out.

import { ApiError, api, describe, tenantPath } from '../api.js';
import config from '../config.js';
import { $, clear, h, latest, openDialog, toast } from '../dom.js';
import * as session from '../session.js';
import { profilesOf } from '../store.js';

/** @typedef {import('../types.js').Certificate} Certificate */
/** @typedef {{ state: 'applied' | 'pending' | 'error', text: string }} Outcome */

/** @param {number} ms */
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

/**
 * Polls the profile until the certificate is active there, the request is rejected, or time runs out.
 * @param {string} profilePath
 * @param {string} certId
 * @param {string | undefined} requestId
 * @returns {Promise<Outcome>}
 */
async function waitForAssignment(profilePath, certId, requestId) {
  const deadline = Date.now() + (config.pollTimeoutMs ?? 60_000);
  const every = config.pollIntervalMs ?? 750;
  for (let i = 0; Date.now() < deadline; i++) {
    await sleep(every);
    if (!session.token()) return { state: 'error', text: 'Signed out.' };
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
        // The newest entries of this certificate (filtered by the store): a rejection is recent.
        const page = await api(
          'GET',
          tenantPath(`/audit?certificateId=${encodeURIComponent(certId)}&limit=50`),
        );
        /** @type {import('../types.js').AuditEntry[]} */
        const audit = page?.items ?? [];
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

/**
 * The Assign dialog.
 * @param {object} deps
 * @param {import('../store.js').Store} deps.store
 * @param {() => void} deps.pending called when the request is accepted (the list shows it pending)
 * @param {() => void} deps.settled called when the request is applied, rejected or no longer awaited
 */
export function createAssignDialog({ store, pending, settled }) {
  const dialog = $('assign-dialog', HTMLDialogElement);
  const profile = $('assign-profile', HTMLInputElement);
  const status = $('assign-status');
  const submit = $('assign-submit', HTMLButtonElement);
  const profileMsg = $('assign-profile-msg');
  // Only the latest request writes its outcome into the dialog.
  const runs = latest();
  /** @type {Certificate | null} */
  let target = null;

  /** @param {string} stateName @param {string} text */
  function setStatus(stateName, text) {
    status.dataset.state = stateName;
    status.textContent = text;
  }

  /** Opens the dialog for `cert`. @param {Certificate} cert */
  function open(cert) {
    target = cert;
    runs.cancel();
    $('assign-cert').textContent = `Certificate: ${cert.subjectName}, serial ${cert.serialNumber}`;
    const profiles = new Set([config.defaultIvrProfile || 'record']);
    for (const c of store.certificates) for (const p of profilesOf(c)) profiles.add(p);
    const dl = $('profile-list');
    clear(dl);
    for (const p of profiles) dl.append(h('option', { value: p }));
    profile.value = config.defaultIvrProfile || 'record';
    profile.disabled = false;
    status.textContent = '';
    status.dataset.state = '';
    clear(profileMsg);
    submit.hidden = false;
    submit.disabled = false;
    $('assign-cancel').textContent = 'Cancel';
    openDialog(dialog, profile);
  }

  /** @param {SubmitEvent} e */
  async function onSubmit(e) {
    e.preventDefault();
    const cert = target;
    const profileId = profile.value.trim();
    clear(profileMsg);
    if (!cert) return;
    if (!profileId) {
      profileMsg.append(h('p', { class: 'msg msg-error' }, 'Enter the IVR profile name.'));
      profile.focus();
      return;
    }
    const run = runs.start();
    submit.disabled = true;
    profile.disabled = true;
    const profilePath = tenantPath(`/ivr-profiles/${encodeURIComponent(profileId)}`);
    let requestId;
    try {
      const res = await api('PUT', `${profilePath}/recording-certificate`, {
        json: { certificateId: cert.id },
      });
      requestId = res?.requestId;
    } catch (err) {
      submit.disabled = false;
      profile.disabled = false;
      setStatus(
        'error',
        err instanceof ApiError && err.code === 'CERTIFICATE_NOT_USABLE'
          ? `This certificate cannot be assigned: ${err.message}`
          : `Not assigned: ${describe(err)}`,
      );
      return;
    }
    setStatus('pending', `Pending: the assignment to IVR profile ${profileId} has been requested…`);
    store.pending.set(cert.id, profileId);
    pending();
    $('assign-cancel').textContent = 'Close';
    submit.hidden = true;

    const outcome = await waitForAssignment(profilePath, cert.id, requestId);
    store.pending.delete(cert.id);
    if (outcome.state === 'applied') {
      toast(`${cert.subjectName} is now active on IVR profile ${profileId}.`);
    }
    if (runs.isCurrent(run)) setStatus(outcome.state, outcome.text);
    settled();
  }

  /** @type {HTMLFormElement} */ (dialog.querySelector('form')).addEventListener('submit', onSubmit);
  $('assign-cancel').addEventListener('click', () => dialog.close());

  return { open };
}
