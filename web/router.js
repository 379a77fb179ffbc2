// @ts-check
// Routing and chrome: which screen the address names, the tabs, and the session bar (tenant
// choice, roles, subject, sign out).

import { $, banner, clear, h } from './dom.js';
import * as session from './session.js';

/** @typedef {'certificates' | 'screen-recording' | 'notifications' | 'escrow'} ScreenName */

/** @type {ScreenName[]} */
const SCREENS = ['certificates', 'screen-recording', 'notifications', 'escrow'];

/** The screen the address names; the certificates by default. @returns {ScreenName} */
function currentScreen() {
  const name = location.hash.replace(/^#\/?/, '');
  return SCREENS.find((s) => s === name) ?? 'certificates';
}

/**
 * The router.
 * @param {object} deps
 * @param {Record<ScreenName, () => void>} deps.screens what loads each screen when it is shown
 * @param {() => void} deps.tenantChanged called when another tenant is chosen, before the reload
 */
export function createRouter({ screens, tenantChanged }) {
  const tenantSelect = $('tenant-select', HTMLSelectElement);

  /** Shows the session bar and the tabs for the signed-in token. */
  function renderChrome() {
    $('session').hidden = false;
    $('tabs').hidden = false;
    $('screen-signin').hidden = true;
    clear(tenantSelect);
    const tenants = session.tenants();
    for (const t of tenants)
      tenantSelect.append(h('option', { value: t, selected: t === session.tenant() }, t));
    const label = tenantSelect.closest('label');
    if (label) label.hidden = tenants.length < 2;
    $('tenant-single').hidden = tenants.length > 1;
    $('tenant-single').textContent = `Tenant ${session.tenant()}`;
    const roles = $('roles');
    clear(roles);
    for (const r of session.roles()) roles.append(h('span', { class: `role role-${r}` }, r));
    if (session.roles().length === 0) roles.append(h('span', { class: 'role' }, 'no role'));
    $('subject').textContent = session.subject();
    // Hide what the roles do not allow; the API enforces the same rules.
    for (const el of document.querySelectorAll('[data-role="admin"]')) {
      if (el instanceof HTMLElement) el.hidden = !session.can('admin');
    }
  }

  /** Shows and loads the screen the address names (when signed in). */
  function route() {
    if (!session.token()) return;
    const name = currentScreen();
    for (const a of document.querySelectorAll('#tabs a')) {
      if (a instanceof HTMLElement && a.dataset.screen === name) a.setAttribute('aria-current', 'page');
      else a.removeAttribute('aria-current');
    }
    for (const s of SCREENS) $(`screen-${s}`).hidden = s !== name;
    if (!session.canView()) {
      banner(
        $('certs-error'),
        'This token holds neither the admin nor the decrypt role, so it cannot view certificates.',
      );
      return;
    }
    screens[name]();
  }

  tenantSelect.addEventListener('change', () => {
    session.chooseTenant(tenantSelect.value);
    $('tenant-single').textContent = `Tenant ${session.tenant()}`;
    tenantChanged();
    route();
  });
  $('sign-out').addEventListener('click', () => session.signOut());

  return { renderChrome, route };
}
