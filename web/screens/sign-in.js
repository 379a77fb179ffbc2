// @ts-check
// Signing in: a `#token=` link, the token this tab used before, the local server's development
// token, or one pasted into the form; and the way back to the form when the session ends.

import { fetchDevToken } from '../api.js';
import { $ } from '../dom.js';
import * as session from '../session.js';

/**
 * The sign-in screen.
 * @param {object} deps
 * @param {{ renderChrome: () => void, route: () => void }} deps.router
 */
export function createSignIn({ router }) {
  const input = $('token-input', HTMLTextAreaElement);
  const error = $('token-error');

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
    error.textContent = message ?? '';
    input.value = '';
    probeDevToken();
    input.focus();
  }

  /** Signs in with `token` and shows the screen the address names; throws when it is unusable. @param {string} token */
  function startSession(token) {
    session.begin(token);
    router.renderChrome();
    if (!location.hash) history.replaceState(null, '', '#/certificates');
    router.route();
  }

  /** Signs in with a `#token=` link, if that is what the address holds; true when it did. */
  function takeTokenFromLink() {
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

  /** Signs in from what the tab already has, else shows the form. */
  async function start() {
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
