// @ts-check
// The certificates the screens share (the list, the one whose details are open, the assignments
// still pending) and what the page reads from a certificate.

/** @typedef {import('./types.js').Certificate} Certificate */

/** What the screens share; one instance, made at start-up and handed to each screen. */
export class Store {
  /** The tenant's certificates as last read. @type {Certificate[]} */
  certificates = [];
  /** The certificate whose details are open. @type {Certificate | null} */
  selected = null;
  /** certificateId -> profileId, while an assignment is pending. @type {Map<string, string>} */
  pending = new Map();

  /** @param {string} id */
  byId(id) {
    return this.certificates.find((c) => c.id === id);
  }

  /** The certificate's name and serial, or the id of one not (or no longer) listed. @param {string} id */
  label(id) {
    const c = this.byId(id);
    return c ? `${c.subjectName} (serial ${c.serialNumber})` : id;
  }
}

/**
 * The certificate's IVR profiles, whatever shape the API used (array of ids or of objects).
 * @param {{ ivrProfiles?: unknown } | null | undefined} cert
 * @returns {string[]}
 */
export function profilesOf(cert) {
  const p = cert?.ivrProfiles;
  if (!p) return [];
  const list = Array.isArray(p) ? p : [p];
  return list.map((x) => (typeof x === 'string' ? x : (x?.id ?? x?.profileId ?? String(x))));
}

/** Expired and replaced certificates stay for playback but cannot be assigned again. @param {Certificate} cert */
export const assignable = (cert) => cert?.status !== 'expired' && cert?.status !== 'retired';

/** Whether the certificate is one of the screen recording certificates. @param {Certificate} cert */
export const onScreen = (cert) =>
  cert?.screenRecording === true ||
  Boolean(
    cert?.screenRecording && /** @type {{ enabled?: unknown }} */ (cert.screenRecording).enabled !== false,
  );
