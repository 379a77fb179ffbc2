// @ts-check
// Signing in, in the mode config.js names (auth.mode):
// - 'oidc': a button that goes to the OpenID provider, and the provider's answer when the browser
//   comes back (oidc.js checks it and exchanges the code; session.js keeps the tokens in memory);
// - 'token': a `#token=` link, the token this tab used before, the local server's development
//   token, or one pasted into the form.
// Either way, the way back here when the session ends. An address with `?tenant=<id>` opens that
// tenant's screens once signed in (the API refuses a tenant the account does not belong to).

import { fetchDevToken } from '../api.js';
import { $, h } from '../dom.js';
import * as oidc from '../oidc.js';
import * as session from '../session.js';

/**
 * The sign-in screen.
 * @param {object} deps
 * @param {{ renderChrome: () => void, route: () => void }} deps.router
 */
export function createSignIn({ router }) {
  const input = $('token-input', HTMLTextAreaElement);
  const error = $('token-error');
  const viaProvider = oidc.enabled();
  const providerError = h('p', { class: 'field-msg error', id: 'signin-provider-error', role: 'alert' });
  const providerButton = /** @type {HTMLButtonElement} */ (
    h('button', { type: 'button', class: 'btn btn-primary', id: 'signin-provider' }, 'Sign in')
  );

  if (viaProvider) {
    // The paste form is for the local runtime's tokens; here the provider signs people in.
    $('signin-form').hidden = true;
    const intro = document.querySelector('#screen-signin .signin-card > p.muted');
    if (intro)
      intro.textContent =
        "Sign in with your organization's account. You are sent to the sign-in page of your identity provider and back here.";
    $('signin-form').after(providerError, h('div', { class: 'actions' }, providerButton));
  }

  async function probeDevToken() {
    const t = await fetchDevToken();
    $('dev-token').hidden = !t;
  }

  /** Shows the form (and why, when a session ended). @param {string} [message] */
  function show(message) {
    $('session').hidden = true;
    $('tabs').hidden = true;
    for (const s of document.querySelectorAll('.screen')) {
      if (s instanceof HTMLElement) s.hidden = true;
    }
    $('screen-signin').hidden = false;
    if (viaProvider) {
      providerError.textContent = message ?? '';
      providerButton.disabled = false;
      providerButton.focus();
      return;
    }
    error.textContent = message ?? '';
    input.value = '';
    probeDevToken();
    input.focus();
  }

  /** Shows the screens of the session just begun, for the tenant the address names if any. */
  function enter() {
    const wanted = new URLSearchParams(location.search).get('tenant');
    if (wanted && wanted !== session.tenant()) session.chooseTenant(wanted);
    router.renderChrome();
    if (!location.hash)
      history.replaceState(null, '', `${location.pathname}${location.search}#/certificates`);
    router.route();
  }

  /** Signs in with `token` and shows the screen the address names; throws when it is unusable. @param {string} token */
  function startSession(token) {
    session.begin(token);
    enter();
  }

  /** Signs in with a `#token=` link, if that is what the address holds; true when it did. */
  function takeTokenFromLink() {
    if (viaProvider) return false;
    const fromLink = /^#token=([^&]+)/.exec(location.hash);
    if (!fromLink) return false;
    history.replaceState(null, '', `${location.pathname}${location.search}#/certificates`);
    try {
      startSession(decodeURIComponent(fromLink[1] ?? ''));
    } catch (err) {
      show(err instanceof Error ? err.message : String(err));
    }
    return true;
  }

  /** Finishes a sign-in at the provider if the address holds its answer, else shows the button. */
  async function startWithProvider() {
    try {
      const done = await oidc.completeSignIn();
      if (!done) {
        show();
        return;
      }
      session.beginWithTokens(done.tokens);
      enter();
    } catch (err) {
      show(err instanceof Error ? err.message : String(err));
    }
  }

  /** Signs in from what the tab already has, else shows the form. */
  async function start() {
    if (viaProvider) {
      await startWithProvider();
      return;
    }
    // `npm start` prints a link with the token in the fragment (never sent to a server): take it,
    // then drop it from the address bar and the history.
    if (takeTokenFromLink()) return;
    const saved = session.savedToken();
    if (saved) {
      try {
        startSession(saved);
        return;
      } catch {
        session.forgetSavedToken();
      }
    }
    const dev = await fetchDevToken();
    if (dev) {
      try {
        startSession(dev);
        return;
      } catch {
        // fall through to the sign-in form
      }
    }
    show();
  }

  providerButton.addEventListener('click', async () => {
    providerButton.disabled = true;
    providerError.textContent = '';
    try {
      const returnTo = `${location.search}${location.hash.startsWith('#/') ? location.hash : ''}`;
      await oidc.startSignIn(returnTo);
    } catch (err) {
      providerButton.disabled = false;
      providerError.textContent = err instanceof Error ? err.message : String(err);
    }
  });
  $('signin-form').addEventListener('submit', (e) => {
    e.preventDefault();
    const value = input.value.trim().replace(/^Bearer\s+/i, '');
    if (!value) {
      error.textContent = 'Paste a token first.';
      return;
    }
    try {
      startSession(value);
    } catch (err) {
      error.textContent = err instanceof Error ? err.message : String(err);
    }
  });
  $('dev-token').addEventListener('click', async () => {
    const t = await fetchDevToken();
    if (t) startSession(t);
    else error.textContent = 'The server no longer hands out a development token.';
  });
  session.onEnd((message) => {
    for (const d of document.querySelectorAll('dialog[open]')) {
      if (d instanceof HTMLDialogElement) d.close();
    }
    show(message);
  });

  return { start, takeTokenFromLink };
}
