// The seller inventory page's entry module, loaded by index.html: it wires every part of the
// page to its markup and starts it (settings, then sign-in, then the app). The page is split by
// concern into the flat modules beside this one (see README.md): plain JavaScript, no
// dependencies, no build step; CSP-friendly (no inline script or handlers, no eval, no inline
// styles for layout).

import { $ } from './dom.js';
import { messages } from './messages.js';
import { config, loadConfig } from './api.js';
import { auth } from './auth.js';
import { showApp, showFatal, showSignIn, wireSignIn } from './views.js';
import { wireDropzone, wireUploadForm } from './upload-form.js';
import { wireUploadRows } from './upload-row.js';
import { wireInventory } from './inventory.js';
import { wireSelection } from './selection.js';
import { wireBulk } from './bulk.js';
import { wireProductView } from './product-view.js';
import { wireDetail } from './detail.js';
import { wireHistory } from './history.js';
import { wireReplace } from './replace.js';
import { wirePolling } from './polling.js';

/**
 * Every listener of the page, in one order: sign-in, uploads, inventory (with its selection
 * and bulk actions), the product view, the dialog, polling.
 */
function wireUp() {
  messages.region = $('#messages');
  $('#signin-title').setAttribute('tabindex', '-1');
  $('#inventory-title').setAttribute('tabindex', '-1');
  wireSignIn();
  wireUploadForm();
  wireUploadRows();
  wireDropzone();
  wireInventory();
  wireSelection();
  wireBulk();
  wireProductView();
  wireDetail();
  wireHistory();
  wireReplace();
  wirePolling();
}

async function main() {
  wireUp();
  try {
    await loadConfig();
  } catch (error) {
    showFatal(error instanceof Error ? error.message : String(error));
    return;
  }
  if (!window.isSecureContext || !crypto.subtle) {
    showFatal('This page needs a secure address (https, or http on localhost or 127.0.0.1) to check files and sign in.');
    return;
  }
  let problem = null;
  if (config?.auth.kind === 'token') {
    if (!auth.adoptTokenFromFragment()) auth.load();
  } else {
    problem = await auth.completeSignIn();
    auth.load();
  }
  if (auth.session?.access_token) {
    showApp();
    // A stale or refused sign-in answer does not end a session that still works.
    if (problem) messages.show('error', problem.replace(/ Sign in again\.$/, ' You are still signed in.'));
  } else {
    showSignIn(problem);
  }
}

main().catch((error) => showFatal(`Something went wrong while starting: ${error instanceof Error ? error.message : error}`));
