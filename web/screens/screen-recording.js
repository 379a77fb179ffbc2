// @ts-check
// Screen Recording Certificates: the tenant's list, edited as a draft (add through a selection
// dialog, remove, keep) that is sent only on Save; emptying it asks before turning encryption off.

import { ApiError, api, describe, listAll, tenantPath } from '../api.js';
import { $, banner, clear, h, openDialog, toast } from '../dom.js';
import { expiry, expiryCell, fmtDay, statusBadge } from '../format.js';
import * as session from '../session.js';

/** @param {string[]} a @param {string[]} b */
const sameSet = (a, b) => a.length === b.length && a.every((x) => b.includes(x));

/**
 * The Screen Recording Certificates screen.
 * @param {object} deps
 * @param {import('../store.js').Store} deps.store
 */
export function createScreenRecordingScreen({ store }) {
  const table = $('screen-table');
  const error = $('screen-error');
  const add = $('screen-add');
  const save = $('screen-save', HTMLButtonElement);
  const selectDialog = $('select-dialog', HTMLDialogElement);
  const disableDialog = $('disable-dialog', HTMLDialogElement);
  const screen = {
    /** What the API holds. @type {string[]} */
    server: [],
    /** What Save would send. @type {string[]} */
    draft: [],
    enabled: false,
  };

  /**
   * A row's action button: it changes the draft, redraws and keeps the focus in the screen.
   * @param {string} label
   * @param {string} text
   * @param {string} className
   * @param {() => void} change
   */
  function actionCell(label, text, className, change) {
    if (!session.can('admin')) return null;
    return h(
      'td',
      { class: 'row-actions' },
      h(
        'button',
        {
          type: 'button',
          class: className,
          'aria-label': label,
          onclick: () => {
            change();
            render();
            add.focus();
          },
        },
        text,
      ),
    );
  }

  /** @param {string} id */
  function removedRow(id) {
    const c = store.byId(id);
    return h(
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
      actionCell(`Keep ${c ? c.subjectName : id}`, 'Keep', 'btn btn-sm', () => {
        screen.draft.push(id);
      }),
    );
  }

  /** @param {string} id */
  function draftRow(id) {
    const c = store.byId(id);
    const added = !screen.server.includes(id);
    return h(
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
      actionCell(`Remove ${c ? c.subjectName : id}`, 'Remove', 'btn btn-sm btn-danger-ghost', () => {
        screen.draft = screen.draft.filter((x) => x !== id);
      }),
    );
  }

  function render() {
    const { server, draft, enabled } = screen;
    const dirty = !sameSet(server, draft);
    const tbody = /** @type {HTMLTableSectionElement} */ (table.querySelector('tbody'));
    clear(tbody);
    // Rows to be removed stay visible, struck through, until Save or Cancel.
    for (const id of server.filter((x) => !draft.includes(x))) tbody.append(removedRow(id));
    for (const id of draft) tbody.append(draftRow(id));
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
    save.disabled = !dirty;
    $('screen-cancel', HTMLButtonElement).disabled = !dirty;
  }

  /** @param {{ certificateIds?: string[], encryptionEnabled?: boolean } | null} answer @param {string[]} fallback */
  function accept(answer, fallback) {
    screen.server = [...(answer?.certificateIds ?? fallback)];
    screen.draft = [...screen.server];
    screen.enabled = Boolean(answer?.encryptionEnabled);
  }

  /** Reads the certificates and the screen recording list, and drops the draft. */
  async function load() {
    banner(error);
    table.setAttribute('aria-busy', 'true');
    try {
      const [certs, answer] = await Promise.all([
        listAll(tenantPath('/certificates')),
        api('GET', tenantPath('/screen-recording-certificates')),
      ]);
      store.certificates = certs;
      accept(answer, []);
      render();
    } catch (err) {
      banner(error, describe(err));
    } finally {
      table.removeAttribute('aria-busy');
    }
  }

  function openSelect() {
    const box = $('select-list');
    clear(box);
    const choices = store.certificates.filter(
      (c) => !screen.draft.includes(c.id) && c.status !== 'expired' && c.status !== 'retired',
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
    $('select-ok', HTMLButtonElement).disabled = choices.length === 0;
    openDialog(selectDialog, box.querySelector('input') ?? $('select-cancel'));
  }

  /** Sends the draft; an empty draft asks first, since saving it turns encryption off. @param {boolean} confirmDisable */
  async function saveDraft(confirmDisable) {
    const { server, draft } = screen;
    if (draft.length === 0 && server.length > 0 && !confirmDisable) {
      openDialog(disableDialog, $('disable-cancel'));
      return;
    }
    banner(error);
    save.disabled = true;
    try {
      /** @type {{ add: string[], remove: string[], confirmDisableEncryption?: boolean }} */
      const body = {
        add: draft.filter((x) => !server.includes(x)),
        remove: server.filter((x) => !draft.includes(x)),
      };
      if (confirmDisable) body.confirmDisableEncryption = true;
      accept(await api('PATCH', tenantPath('/screen-recording-certificates'), { json: body }), draft);
      render();
      toast('Screen recording certificates saved.');
    } catch (err) {
      const code = err instanceof ApiError ? err.code : '';
      if (code === 'ENCRYPTION_WOULD_BE_DISABLED' && !confirmDisable) {
        openDialog(disableDialog, $('disable-cancel'));
      } else if (code === 'NO_RECORDING_CERTIFICATE') {
        banner(
          error,
          'Screen recording certificates can be set only once the tenant has a voice recording certificate: assign a certificate to an IVR profile first. Nothing was changed.',
        );
      } else {
        banner(error, `Nothing was changed: ${describe(err)}`);
      }
      render();
    }
  }

  $('screen-refresh').addEventListener('click', () => load());
  $('screen-cancel').addEventListener('click', () => {
    screen.draft = [...screen.server];
    banner(error);
    render();
    toast('Changes discarded.');
  });
  add.addEventListener('click', openSelect);
  $('select-cancel').addEventListener('click', () => selectDialog.close());
  $('select-form').addEventListener('submit', (e) => {
    e.preventDefault();
    const picked = [...$('select-list').querySelectorAll('input:checked')].map(
      (i) => /** @type {HTMLInputElement} */ (i).value,
    );
    for (const id of picked) if (!screen.draft.includes(id)) screen.draft.push(id);
    selectDialog.close();
    render();
  });
  save.addEventListener('click', () => saveDraft(false));
  $('disable-cancel').addEventListener('click', () => disableDialog.close());
  $('disable-form').addEventListener('submit', (e) => {
    e.preventDefault();
    disableDialog.close();
    saveDraft(true);
  });

  return { load };
}
