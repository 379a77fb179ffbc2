// @ts-check
// Small DOM helpers. Text from the API reaches the page only as text nodes or textContent (what
// `h` does with its children), never through innerHTML: a certificate's name is data, not markup.

/**
 * The element with this id, checked to be of `type` when one is given; a missing element is a
 * bug in index.html, so it throws at start-up rather than later.
 * @template {HTMLElement} [T=HTMLElement]
 * @param {string} id
 * @param {{ new (): T }} [type]
 * @returns {T}
 */
export function $(id, type) {
  const el = document.getElementById(id);
  if (!el) throw new Error(`missing #${id}`);
  if (type && !(el instanceof type)) throw new Error(`#${id} is not a ${type.name}`);
  return /** @type {T} */ (el);
}

/** @typedef {Node | string | number | null | undefined | false} Child */

/**
 * Creates an element. Attributes starting with "on" become listeners; children are nodes or text.
 * @param {string} tag
 * @param {Record<string, unknown>} [attrs]
 * @param {...Child} children
 * @returns {HTMLElement}
 */
export function h(tag, attrs = {}, ...children) {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (v === undefined || v === null || v === false) continue;
    if (k.startsWith('on') && typeof v === 'function')
      el.addEventListener(k.slice(2), /** @type {EventListener} */ (v));
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
export const clear = (el) => el.replaceChildren();

/** Shows `text` in an alert box, or hides the box when there is none. @param {HTMLElement} el @param {string} [text] */
export function banner(el, text) {
  el.textContent = text ?? '';
  el.hidden = !text;
}

// The one timer of the one toast: a newer message restarts it.
let toastTimer = 0;
/**
 * Announces a short message in the polite live region.
 * @param {string} message
 * @param {string} [kind]
 */
export function toast(message, kind = 'ok') {
  const t = $('toast');
  t.textContent = message;
  t.dataset.kind = kind;
  t.classList.add('show');
  clearTimeout(toastTimer);
  toastTimer = window.setTimeout(() => t.classList.remove('show'), 5000);
}

// Dialogs: focus goes in on open and back to the opener on close.
/** @type {WeakMap<HTMLDialogElement, Element | null>} */
const openers = new WeakMap();

/**
 * Opens a modal dialog and moves the focus into it (to `focus`, else its first control).
 * @param {HTMLDialogElement} dialog
 * @param {HTMLElement} [focus]
 */
export function openDialog(dialog, focus) {
  openers.set(dialog, document.activeElement);
  if (!dialog.open) dialog.showModal();
  const first = /** @type {HTMLElement | null} */ (dialog.querySelector('input, button, select, textarea'));
  (focus ?? first)?.focus();
}

/** Makes every dialog of the page give the focus back to what opened it, however it closes. */
export function returnFocusOnClose() {
  for (const d of document.querySelectorAll('dialog')) {
    d.addEventListener('close', () => {
      const back = openers.get(d);
      if (back instanceof HTMLElement && back.isConnected) back.focus();
    });
  }
}

/**
 * Numbers the overlapping runs of one asynchronous task, so that only the latest writes to the
 * page: a late answer to an earlier run is dropped.
 */
export function latest() {
  let current = 0;
  return {
    /** Starts a run and returns its number. */
    start: () => ++current,
    /** Whether run `run` is still the latest. @param {number} run */
    isCurrent: (run) => run === current,
    /** Makes every run started so far stale. */
    cancel: () => {
      current++;
    },
  };
}
