// @ts-check
// Deployment settings of the admin page. Edit this one file when the page is hosted apart from
// the API (for example beside the AWS or Azure deployment): point apiBaseUrl at the API's base URL,
// without the trailing /v1 and without a trailing slash, e.g. 'https://api.example.com'.
// The API must then allow this page's origin (CORS).

/** @type {{apiBaseUrl: string, defaultIvrProfile: string, pollIntervalMs: number, pollTimeoutMs: number}} */
export default {
  // '' = the same origin that serves this page (the local runtime serves both).
  apiBaseUrl: '',
  // The product's default IVR profile, pre-filled in the Assign dialog.
  defaultIvrProfile: 'record',
  // How often, and for how long, the page checks whether an assignment has been applied.
  pollIntervalMs: 750,
  pollTimeoutMs: 60000,
};
