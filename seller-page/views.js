// The page's three views (loading or "could not start", sign-in, the app), what stops when a
// session ends, and the sign-in controls that switch between them. Apart from auth.js so that
// signing in does not draw the page, and from app.js so that other modules can switch views.

import { $ } from './dom.js';
import { sentence } from './format.js';
import { messages } from './messages.js';
import { config } from './api.js';
import { auth } from './auth.js';
import { pollers, unwatch } from './polling.js';
import { inventory } from './inventory.js';
import { productView } from './product-view.js';
import { detailDialog } from './detail.js';

/** Stops what runs for a session: status checks, the lists' requests, the dialog. */
export function stopEverything() {
  for (const id of [...pollers.keys()]) unwatch(id);
  inventory.controller?.abort();
  productView.reset();
  if (detailDialog()?.open) detailDialog().close();
}

/**
 * The sign-in view, with why it shows (null: no problem to report).
 * @param {string | null} problem
 */
export function showSignIn(problem) {
  $('#loading-panel').hidden = true;
  $('#app').hidden = true;
  $('#account').hidden = true;
  $('#signin-panel').hidden = false;
  const note = $('#signin-problem');
  note.hidden = !problem;
  note.textContent = problem ? sentence(problem) : '';
  $('#signin-cognito').hidden = config?.auth.kind !== 'cognito';
  $('#signin-token').hidden = config?.auth.kind !== 'token';
  // Focus follows only when the view changed under the user (a 401, signing out).
  if (appStarted) $('#signin-title').focus();
  appStarted = false;
}

/** Whether the app view has been started (the inventory loaded) for this session. */
let appStarted = false;

/** The app view: uploads and the inventory, loaded the first time it shows. */
export function showApp() {
  $('#loading-panel').hidden = true;
  $('#signin-panel').hidden = true;
  $('#app').hidden = false;
  $('#account').hidden = false;
  $('#account-name').textContent = auth.session?.who ? `Signed in as ${auth.session.who}` : 'Signed in';
  if (appStarted) return;
  appStarted = true;
  inventory.load();
}

/**
 * The page could not start: says why in the loading panel and as a message.
 * @param {string} text
 */
export function showFatal(text) {
  $('#loading-panel').hidden = false;
  $('#loading-title').textContent = 'The page could not start';
  $('#loading-panel p').textContent = text;
  messages.show('error', text);
}

/** The sign-in controls: the Cognito button, sign-out, the token form, a new #token=. */
export function wireSignIn() {
  $('#sign-in').addEventListener('click', () => auth.signIn().catch((e) => messages.error(e, 'Could not start sign-in')));
  $('#sign-out').addEventListener('click', () => auth.signOut());
  $('#token-form').addEventListener('submit', (/** @type {SubmitEvent} */ event) => {
    event.preventDefault();
    const token = $('#token-input').value.trim().replace(/^Bearer\s+/i, '');
    if (!token) {
      $('#token-input').focus();
      return;
    }
    $('#token-input').value = '';
    auth.adoptToken(token);
    showApp();
  });
  window.addEventListener('hashchange', () => {
    if (config?.auth.kind === 'token' && auth.adoptTokenFromFragment()) {
      stopEverything();
      appStarted = false;
      showApp();
    }
  });
}
