/**
 * Expiry rules: certificate status, and the thresholds the scan notifies at (DESIGN section 5).
 * Each certificate carries a cursor (`nextNotifyAt`) = when its next, more urgent threshold is
 * crossed, so the scan reads only what is due.
 */
import { profilesOf } from './assignments';
import type { ActiveIn, CertificateRecord, CertificateStatus, TenantAssignments } from './types';

export const DEFAULT_THRESHOLDS_DAYS: readonly number[] = [90, 60, 30, 14, 7, 1];
/**
 * The thresholds of a `RECCERT_EXPIRY_THRESHOLDS` setting (comma-separated whole days, each
 * 1 to 3650); unset or blank gives the defaults. Throws naming the setting (a start-up error).
 */
export function parseExpiryThresholds(raw: string | undefined): number[] {
  if (raw === undefined || raw.trim() === '') return [...DEFAULT_THRESHOLDS_DAYS];
  const days = raw.split(',').map((s) => Number(s.trim()));
  if (days.some((d) => !Number.isInteger(d) || d <= 0 || d > 3650)) {
    throw new Error('RECCERT_EXPIRY_THRESHOLDS must be comma-separated whole days, e.g. 90,60,30,14,7,1.');
  }
  return days;
}

export const EXPIRING_STATUS_DAYS = 30;
const DAY_MS = 86_400_000;

/** Thresholds sorted most distant first, positive integers only, without duplicates. */
export function normalizeThresholds(days: readonly number[]): number[] {
  const clean = [...new Set(days.filter((d) => Number.isInteger(d) && d > 0))];
  return clean.sort((a, b) => b - a);
}

/**
 * The most urgent threshold crossed at `now`: 0 when expired, else the smallest threshold not
 * further away than the time left; undefined when no threshold is crossed yet.
 */
export function crossedThreshold(
  notAfter: string,
  now: Date,
  thresholds: readonly number[],
): number | undefined {
  const msLeft = Date.parse(notAfter) - now.getTime();
  if (msLeft <= 0) return 0;
  let crossed: number | undefined;
  for (const t of thresholds) if (msLeft <= t * DAY_MS) crossed = t;
  return crossed;
}

/** When the next threshold after `notified` is crossed (ISO), or null after the expired notice. */
export function nextNotifyAt(
  notAfter: string,
  notified: number | null,
  thresholds: readonly number[],
): string | null {
  if (notified === 0) return null;
  const remaining = thresholds.filter((t) => notified === null || t < notified);
  const expiry = Date.parse(notAfter);
  const next = remaining.length > 0 ? expiry - Math.max(...remaining) * DAY_MS : expiry;
  return new Date(next).toISOString();
}

/** Profiles on which the certificate is the active one. */
export function activeProfiles(state: TenantAssignments, certificateId: string): string[] {
  return profilesOf(state)
    .filter((p) => p.activeCertificateId === certificateId)
    .map((p) => p.id)
    .sort();
}

/** In use: active on an IVR profile or in the screen-recording set. */
export function isInUse(state: TenantAssignments, certificateId: string): boolean {
  return (
    activeProfiles(state, certificateId).length > 0 || state.screen.certificateIds.includes(certificateId)
  );
}

/** Where the certificate is active: its IVR profiles and whether it is in the screen-recording set. */
export function activeIn(state: TenantAssignments, certificateId: string): ActiveIn {
  return {
    ivrProfiles: activeProfiles(state, certificateId),
    screenRecording: state.screen.certificateIds.includes(certificateId),
  };
}

/** Whether `where` names any place recordings are encrypted with the certificate. */
export function isActiveSomewhere(where: ActiveIn): boolean {
  return where.ivrProfiles.length > 0 || where.screenRecording;
}

/**
 * Whether the tenant holds a newer usable certificate than `record` that is not assigned anywhere
 * yet: it expires later, has not expired and is not retired, so assigning it is all that is left
 * to do (DESIGN rule 14).
 */
export function replacementAvailable(
  record: Pick<CertificateRecord, 'id' | 'notAfter'>,
  certificates: readonly CertificateRecord[],
  state: TenantAssignments,
  now: Date,
): boolean {
  const expiry = Date.parse(record.notAfter);
  return certificates.some(
    (c) =>
      c.id !== record.id &&
      Date.parse(c.notAfter) > expiry &&
      Date.parse(c.notAfter) > now.getTime() &&
      !isInUse(state, c.id) &&
      !isRetired(state, c.id),
  );
}

/** Ever assigned anywhere: recordings may have been encrypted for it. */
export function wasEverAssigned(state: TenantAssignments, certificateId: string): boolean {
  return (
    isInUse(state, certificateId) ||
    state.screen.everIncluded.includes(certificateId) ||
    profilesOf(state).some((p) => p.previousCertificateIds.includes(certificateId))
  );
}

/** Replaced on an IVR profile and no longer used anywhere. */
export function isRetired(state: TenantAssignments, certificateId: string): boolean {
  return (
    !isInUse(state, certificateId) &&
    profilesOf(state).some((p) => p.previousCertificateIds.includes(certificateId))
  );
}

export function certificateStatus(
  record: Pick<CertificateRecord, 'id' | 'notAfter'>,
  state: TenantAssignments,
  now: Date,
): CertificateStatus {
  const msLeft = Date.parse(record.notAfter) - now.getTime();
  if (msLeft <= 0) return 'expired';
  if (isRetired(state, record.id)) return 'retired';
  if (msLeft <= EXPIRING_STATUS_DAYS * DAY_MS) return 'expiring';
  return 'active';
}

export function daysUntil(iso: string, now: Date): number {
  return Math.floor((Date.parse(iso) - now.getTime()) / DAY_MS);
}
