// @ts-check
// How dates, expiry, status and warnings are shown.

import { h } from './dom.js';

const DAY_MS = 86_400_000;

/** A date and time in the reader's locale; what cannot be read is shown as it came. @param {unknown} iso */
export const fmtDate = (iso) => {
  if (!iso) return '—';
  const d = new Date(/** @type {string} */ (iso));
  if (Number.isNaN(d.getTime())) return String(iso);
  return d.toLocaleString(undefined, { dateStyle: 'medium', timeStyle: 'short' });
};

/** A date in the reader's locale. @param {unknown} iso */
export const fmtDay = (iso) => {
  if (!iso) return '—';
  const d = new Date(/** @type {string} */ (iso));
  return Number.isNaN(d.getTime()) ? String(iso) : d.toLocaleDateString(undefined, { dateStyle: 'medium' });
};

/**
 * "expires in N days" / "expired", with a severity for the badge colour.
 * @param {string} notAfter
 * @returns {{ text: string, level: string }}
 */
export function expiry(notAfter) {
  const ms = new Date(notAfter).getTime() - Date.now();
  if (Number.isNaN(ms)) return { text: 'unknown', level: 'neutral' };
  if (ms <= 0) return { text: 'expired', level: 'danger' };
  const days = Math.ceil(ms / DAY_MS);
  const text = days === 1 ? 'expires in 1 day' : `expires in ${days} days`;
  return { text, level: days <= 30 ? 'warn' : days <= 90 ? 'info' : 'ok' };
}

/** A table cell with the expiry date and its badge. @param {string} notAfter */
export function expiryCell(notAfter) {
  const e = expiry(notAfter);
  return h(
    'td',
    {},
    h('span', { class: 'date' }, fmtDay(notAfter)),
    ' ',
    h('span', { class: `badge badge-${e.level}` }, e.text),
  );
}

/** @type {Record<string, string>} */
const STATUS_LEVEL = { active: 'ok', expiring: 'warn', expired: 'danger', retired: 'neutral' };

/** The certificate status as a coloured badge. @param {string | undefined} status */
export const statusBadge = (status) =>
  h(
    'span',
    { class: `badge badge-${STATUS_LEVEL[status ?? ''] ?? 'neutral'} badge-status` },
    status ?? 'unknown',
  );

/**
 * The API's warnings as a list, or null when there are none.
 * @param {import('./types.js').ApiWarning[] | undefined} warnings
 */
export function warningList(warnings) {
  if (!warnings?.length) return null;
  return h(
    'ul',
    { class: 'warnings' },
    ...warnings.map((w) => h('li', { class: 'warning' }, h('strong', {}, w.code), ' ', w.message)),
  );
}
