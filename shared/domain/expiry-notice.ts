/**
 * What an expiry notice says (DESIGN rule 14): where the certificate is active, what happens to
 * recordings when it expires, and what to do. The platform keeps encrypting with the certificate
 * assigned to a profile or the screen-recording set whether or not it has expired (nothing
 * unassigns it, and the product documentation leaves tracking expiry and installing the next
 * certificate to the tenant), so the text says recordings keep being encrypted with an expired
 * certificate, not that encryption stops.
 */
import type { ActiveIn, ExpiryNotification } from './types';

/** A notification as people and integrations receive it: the stored fields and its text. */
export type ExpiryNoticeView = ExpiryNotification & { message: string };

function where(activeIn: ActiveIn): string {
  const places: string[] = [];
  const profiles = activeIn.ivrProfiles;
  if (profiles.length === 1) places.push(`IVR profile ${profiles[0]}`);
  else if (profiles.length > 1) places.push(`IVR profiles ${profiles.join(', ')}`);
  if (activeIn.screenRecording) places.push('the screen-recording set');
  return places.length === 0 ? 'no IVR profile or screen-recording set' : places.join(' and ');
}

/** The notice's text, from its fields alone (so it reads the same wherever it is shown). */
export function expiryNoticeMessage(n: ExpiryNotification): string {
  const day = n.notAfter.slice(0, 10);
  const next = n.replacementAvailable
    ? 'A newer certificate is already uploaded and not assigned yet: assign it where this one is active.'
    : 'Upload a new certificate and assign it where this one is active.';
  const keep = 'Keep this certificate and its private key: recordings made with it need them to play.';
  if (n.kind === 'expired') {
    return `Recording certificate ${n.certificateId} expired on ${day} and is still active in ${where(n.activeIn)}: new recordings are still being encrypted with the expired certificate. ${next} ${keep}`;
  }
  const days = n.thresholdDays === 1 ? '1 day' : `${n.thresholdDays} days`;
  return `Recording certificate ${n.certificateId} expires within ${days}, on ${day}. It is active in ${where(n.activeIn)}; after it expires, recordings keep being encrypted with the expired certificate until another one is assigned. ${next} ${keep}`;
}

/**
 * The notification with its text. A notice queued before rule 14 (an older message still on a
 * queue) has no `activeIn`; it reads as active nowhere.
 */
export function withNoticeMessage(n: ExpiryNotification): ExpiryNoticeView {
  const known: ExpiryNotification = {
    ...n,
    activeIn: activeInFromStored(n.activeIn),
    replacementAvailable: n.replacementAvailable === true,
  };
  return { ...known, message: expiryNoticeMessage(known) };
}

/**
 * The `activeIn` a store kept (parsed JSON or an unmarshalled map), or nothing
 * (no profile, not in the screen-recording set) for a notice written before it was recorded.
 */
export function activeInFromStored(stored: unknown): ActiveIn {
  if (typeof stored !== 'object' || stored === null) return { ivrProfiles: [], screenRecording: false };
  const raw = stored as { ivrProfiles?: unknown; screenRecording?: unknown };
  return {
    ivrProfiles: Array.isArray(raw.ivrProfiles)
      ? raw.ivrProfiles.filter((p): p is string => typeof p === 'string')
      : [],
    screenRecording: raw.screenRecording === true,
  };
}
