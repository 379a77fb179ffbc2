// @ts-check
// reccert admin page. Plain ES modules, no framework, no build step: the folder is served as is by
// the local runtime and can be hosted beside either cloud deployment (see config.js).
// The only thing this page talks to is the HTTP API v1 (api.js). All text from the API reaches the
// DOM through textContent, never innerHTML (dom.js).
//
// This module puts the page together, as cli/commands.ts does the CLI: session.js owns the sign-in
// state, store.js the certificates the screens share, router.js the tabs and the session bar, and
// each screen or dialog is one module under screens/ that gets what it needs from here.

import { returnFocusOnClose } from './dom.js';
import { createRouter } from './router.js';
import { createAssignDialog } from './screens/assign.js';
import { createCertificatesScreen } from './screens/certificates.js';
import { createDeleteDialog } from './screens/delete.js';
import { createEscrowScreen } from './screens/escrow.js';
import { createNotificationsScreen } from './screens/notifications.js';
import { createScreenRecordingScreen } from './screens/screen-recording.js';
import { createSignIn } from './screens/sign-in.js';
import { createUploadDialog } from './screens/upload.js';
import { Store } from './store.js';

returnFocusOnClose();
const store = new Store();

const certificates = createCertificatesScreen({
  store,
  assign: (cert) => assign.open(cert),
  remove: (cert) => remove.open(cert),
});
const assign = createAssignDialog({
  store,
  pending: () => certificates.render(),
  settled: () => certificates.load(),
});
const remove = createDeleteDialog({
  deleted: (cert) => {
    if (store.selected?.id === cert.id) certificates.deselect();
    certificates.load();
  },
});
createUploadDialog({ uploaded: () => certificates.load() });
const screenRecording = createScreenRecordingScreen({ store });
const notifications = createNotificationsScreen({ store });
const escrow = createEscrowScreen({ store });

const router = createRouter({
  screens: {
    certificates: () => certificates.load(),
    'screen-recording': () => screenRecording.load(),
    notifications: () => notifications.load(),
    escrow: () => escrow.load(),
  },
  tenantChanged: () => certificates.deselect(),
});
const signIn = createSignIn({ router });

window.addEventListener('hashchange', () => {
  if (!signIn.takeTokenFromLink()) router.route();
});

// Start: a token from a link or this tab's session, else the dev server's token, else ask for one.
signIn.start();
