// @ts-check
// The Upload dialog: certificate, private key and password, checked by the API's preview as soon
// as they are chosen (Subject Name, Serial Number, Subject DN and Issuer DN shown before anything
// is stored), each message next to the field it concerns, then saved.

import { ApiError, api, describe, tenantPath } from '../api.js';
import { $, banner, clear, h, latest, openDialog, toast } from '../dom.js';
import { fmtDay, warningList } from '../format.js';

/** @typedef {'certificate' | 'key' | 'password'} Field */
/** @typedef {Field | 'general'} Place */

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
/** @type {Record<string, Field>} */
const WARNING_FIELD = {
  PASSWORD_IGNORED: 'password',
  EXPIRES_SOON: 'certificate',
  NON_STANDARD_COUNTRY: 'certificate',
};
/** @type {Field[]} */
const FIELDS = ['certificate', 'key', 'password'];

/**
 * Which upload field an error concerns: the API's own hint first, then the code.
 * @param {ApiError} err
 * @returns {Place}
 */
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

/** @param {Field} field */
const msgBox = (field) => $(`upload-${field}-msg`);

/**
 * The Upload dialog.
 * @param {object} deps
 * @param {() => void} deps.uploaded called after a certificate has been stored
 */
export function createUploadDialog({ uploaded }) {
  const dialog = $('upload-dialog', HTMLDialogElement);
  const form = $('upload-form', HTMLFormElement);
  const save = $('upload-save', HTMLButtonElement);
  /** @type {Record<Field, HTMLInputElement>} */
  const inputs = {
    certificate: $('upload-certificate', HTMLInputElement),
    key: $('upload-key', HTMLInputElement),
    password: $('upload-password', HTMLInputElement),
  };
  const previews = latest();

  function clearMessages() {
    for (const f of FIELDS) {
      clear(msgBox(f));
      inputs[f].removeAttribute('aria-invalid');
    }
    banner($('upload-general'));
  }

  /**
   * @param {Place} field
   * @param {'error' | 'warning' | 'hint' | 'ok'} kind
   * @param {string | null} code
   * @param {string} text
   */
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
    if (kind === 'error') inputs[field].setAttribute('aria-invalid', 'true');
  }

  /** @param {Record<string, any> | null} details */
  function fillPreview(details) {
    for (const k of ['subjectName', 'serialNumber', 'subjectDN', 'issuerDN']) {
      $(`pv-${k}`, HTMLInputElement).value = details?.[k] ?? '';
    }
    $('pv-extra').textContent = details
      ? `Valid ${fmtDay(details.notBefore)} – ${fmtDay(details.notAfter)} · ${details.keyAlgorithm ?? 'RSA'} ${details.keySize ?? '?'} bits · SHA-256 ${details.fingerprintSha256 ?? ''}`
      : '';
  }

  function formData() {
    const fd = new FormData();
    const c = inputs.certificate.files?.[0];
    const k = inputs.key.files?.[0];
    if (c) fd.append('certificate', c, c.name);
    if (k) fd.append('privateKey', k, k.name);
    fd.append('privateKeyPassword', inputs.password.value);
    return fd;
  }

  /** @param {unknown} err */
  function showError(err) {
    if (!(err instanceof ApiError)) {
      fieldMessage('general', 'error', null, describe(err));
      return;
    }
    // A missing key is the normal state right after the certificate is chosen: say what comes next.
    if (err.code === 'PRIVATE_KEY_REQUIRED' && !inputs.key.files?.length) {
      fieldMessage('key', 'hint', null, 'Now choose the private key file that belongs to this certificate.');
      return;
    }
    fieldMessage(fieldOf(err), 'error', err.code, err.message);
  }

  async function runPreview() {
    const run = previews.start();
    save.disabled = true;
    clearMessages();
    if (!inputs.certificate.files?.length) {
      fillPreview(null);
      if (inputs.key.files?.length) fieldMessage('certificate', 'hint', null, 'Choose the certificate file.');
      return;
    }
    $('upload-busy').textContent = 'Checking…';
    try {
      const details = await api('POST', tenantPath('/certificates/preview'), { form: formData() });
      if (!previews.isCurrent(run)) return;
      fillPreview(details);
      for (const w of details?.warnings ?? []) {
        fieldMessage(WARNING_FIELD[w.code] ?? 'certificate', 'warning', w.code, w.message);
      }
      fieldMessage('certificate', 'ok', null, 'Certificate and key checked.');
      save.disabled = false;
    } catch (err) {
      if (!previews.isCurrent(run)) return;
      // Keep what could be read of the certificate when the error is about the key.
      const d = err instanceof ApiError ? err.details : {};
      fillPreview(d.subjectName ? d : null);
      showError(err);
    } finally {
      if (previews.isCurrent(run)) $('upload-busy').textContent = '';
    }
  }

  function reset() {
    previews.cancel();
    form.reset();
    clearMessages();
    fillPreview(null);
    save.disabled = true;
    save.hidden = false;
    $('upload-cancel').textContent = 'Cancel';
    $('upload-result').hidden = true;
    for (const el of [...$('upload-result').children])
      if (el.tagName !== 'H3' && el.tagName !== 'DL') el.remove();
    $('upload-preview', HTMLFieldSetElement).disabled = false;
    for (const el of FIELDS) inputs[el].disabled = false;
    $('upload-busy').textContent = '';
  }

  /** Shows what was stored, in place of the form's buttons. @param {import('../types.js').Certificate} cert */
  function showResult(cert) {
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
    save.hidden = true;
    $('upload-cancel').textContent = 'Close';
    $('upload-cancel').focus();
  }

  $('upload-open').addEventListener('click', () => {
    reset();
    openDialog(dialog, inputs.certificate);
  });
  inputs.certificate.addEventListener('change', runPreview);
  inputs.key.addEventListener('change', runPreview);
  // The password is only checked when the user has finished typing it.
  inputs.password.addEventListener('change', runPreview);
  $('upload-cancel').addEventListener('click', () => dialog.close());
  // Whatever way the dialog closes, the chosen files and the password are dropped.
  dialog.addEventListener('close', () => reset());

  form.addEventListener('submit', async (e) => {
    e.preventDefault();
    if (save.disabled) return;
    save.disabled = true;
    clearMessages();
    $('upload-busy').textContent = 'Saving…';
    try {
      /** @type {import('../types.js').Certificate} */
      const cert = await api('POST', tenantPath('/certificates'), { form: formData() });
      previews.cancel();
      // The key file and password are no longer needed: drop them from the form at once.
      inputs.key.value = '';
      inputs.password.value = '';
      for (const el of FIELDS) inputs[el].disabled = true;
      showResult(cert);
      toast(`Certificate ${cert.subjectName} uploaded.`);
      uploaded();
    } catch (err) {
      save.disabled = false;
      showError(err);
    } finally {
      $('upload-busy').textContent = '';
    }
  });
}
