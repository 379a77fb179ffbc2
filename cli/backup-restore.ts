/**
 * `reccert backup restore`: puts a key backup into a (fresh) deployment through the public API
 * only. Every certificate is uploaded with its key, then the assignments are replayed in order,
 * each IVR profile's previous certificates oldest first and then its active one, then the
 * screen-recording set, so that the deployment ends with the same active certificates and the
 * same history. A re-run changes nothing: an existing certificate (409 CERTIFICATE_EXISTS) counts
 * as done, and an assignment already in place is not made again.
 */
import { X509Certificate } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import type { BackupBundle, BackupEntry } from '../shared/escrow/backup-bundle';
import { toPem } from '../shared/pki/pem';
import { EXIT, RefusedError } from './errors';
import { callJson, jsonBody, refusal, type Service, send, tenantUrl } from './service';

/** What happened to one certificate. */
export interface CertificateResult {
  certificateId: string;
  result: 'uploaded' | 'exists' | 'skipped' | 'failed';
  code?: string;
  reason?: string;
}

/** What happened to one step of an IVR profile's history. */
export interface AssignmentResult {
  profileId: string;
  certificateId: string;
  result: 'applied' | 'in-place' | 'skipped' | 'failed';
  code?: string;
  reason?: string;
}

export interface ScreenResult {
  certificateIds: string[];
  added: string[];
  /** Certificates of the set that are not on the deployment (expired, or no key in the backup). */
  skipped: string[];
  result: 'applied' | 'in-place' | 'failed';
  code?: string;
  reason?: string;
}

/** The `--json` report of a restore. */
export interface RestoreReport {
  tenant: string;
  backupTenant: string;
  backupCreatedAt: string;
  certificates: CertificateResult[];
  assignments: AssignmentResult[];
  screenRecording: ScreenResult;
  failed: number;
}

/** How often a requested assignment is looked for on the profile (it is applied asynchronously). */
const POLL_MS = 200;

/** Errors that end the run: the service is not there, so every further step would fail too. */
function fatal(error: unknown): boolean {
  return error instanceof RefusedError && error.exitCode === EXIT.unavailable;
}

function failure(error: unknown): { code: string; reason: string } {
  if (fatal(error) || !(error instanceof Error)) throw error;
  const code = error instanceof RefusedError ? error.code : 'INTERNAL_ERROR';
  return { code, reason: error.message };
}

function expiredOn(entry: BackupEntry, now: Date): string | undefined {
  const notAfter = new Date(new X509Certificate(entry.certificatePem).validTo);
  return notAfter.getTime() <= now.getTime() ? notAfter.toISOString() : undefined;
}

async function exists(service: Service, certificateId: string): Promise<boolean> {
  const url = tenantUrl(service, `/certificates/${encodeURIComponent(certificateId)}`);
  const response = await send(service, url, { method: 'GET' });
  const body = await jsonBody(response);
  if (response.status === 404) return false;
  if (!response.ok) throw refusal(response.status, response.statusText, body);
  return true;
}

async function upload(service: Service, entry: BackupEntry, key: Buffer): Promise<CertificateResult> {
  const form = new FormData();
  form.append('certificate', new Blob([entry.certificatePem]), `${entry.certificateId}.pem`);
  form.append('privateKey', new Blob([toPem('PRIVATE KEY', key)]), `${entry.certificateId}.key`);
  form.append('privateKeyPassword', '');
  const response = await send(service, tenantUrl(service, '/certificates'), { method: 'POST', body: form });
  const body = await jsonBody(response);
  const id = entry.certificateId;
  if (response.ok) return { certificateId: id, result: 'uploaded' };
  const error = refusal(response.status, response.statusText, body);
  if (error.code === 'CERTIFICATE_EXISTS') return { certificateId: id, result: 'exists' };
  if (fatal(error)) throw error;
  return { certificateId: id, result: 'failed', code: error.code, reason: error.message };
}

const EXPIRED_REASON = (notAfter: string) =>
  `expired on ${notAfter}: the service refuses expired certificates (rule 4). Its key stays in the ` +
  'backup: play old recordings with reccert decrypt --key <certificateId>.key (reccert backup open writes it)';

/** Uploads every certificate that can be; an expired one or one without a key is skipped. */
async function restoreCertificates(
  service: Service,
  bundle: BackupBundle,
  now: Date,
): Promise<CertificateResult[]> {
  const results: CertificateResult[] = [];
  for (const entry of bundle.entries) {
    const id = entry.certificateId;
    const expired = expiredOn(entry, now);
    const missingKey = entry.privateKeyDer
      ? undefined
      : `the backup holds no private key for it (not escrowed: ${entry.notEscrowedReason ?? 'no reason given'}); upload it from your own copy of the key`;
    if (expired !== undefined || missingKey !== undefined) {
      // Already on the deployment (an earlier restore, or an upload by hand) is as good as done.
      if (await exists(service, id)) {
        results.push({ certificateId: id, result: 'exists' });
        continue;
      }
      results.push({
        certificateId: id,
        result: 'skipped',
        code: expired !== undefined ? 'CERTIFICATE_EXPIRED' : 'PRIVATE_KEY_NOT_IN_BACKUP',
        reason: expired !== undefined ? EXPIRED_REASON(expired) : missingKey!,
      });
      continue;
    }
    const result = await upload(service, entry, entry.privateKeyDer!);
    // The service's clock may be ahead of ours: its refusal of an expired certificate is a skip too.
    if (result.code === 'CERTIFICATE_EXPIRED') {
      results.push({ ...result, result: 'skipped', reason: EXPIRED_REASON(entry.notAfter) });
    } else {
      results.push(result);
    }
  }
  return results;
}

interface ProfileState {
  activeCertificateId: string;
  previousCertificateIds: string[];
}

async function profileState(service: Service, profileId: string): Promise<ProfileState | undefined> {
  const url = tenantUrl(service, `/ivr-profiles/${encodeURIComponent(profileId)}`);
  const response = await send(service, url, { method: 'GET' });
  const body = await jsonBody(response);
  if (response.status === 404) return undefined;
  if (!response.ok) throw refusal(response.status, response.statusText, body);
  const profile = body as Partial<ProfileState> | undefined;
  if (typeof profile?.activeCertificateId !== 'string' || !Array.isArray(profile.previousCertificateIds)) {
    throw new RefusedError(
      'INVALID_RESPONSE',
      `the service's answer for IVR profile ${profileId} is not a profile`,
      {
        exitCode: EXIT.unavailable,
      },
    );
  }
  return {
    activeCertificateId: profile.activeCertificateId,
    previousCertificateIds: profile.previousCertificateIds,
  };
}

/** A profile's history in the order it happened: the oldest previous first, the active last. */
function sequence(profile: ProfileState): string[] {
  return [...profile.previousCertificateIds].reverse().concat(profile.activeCertificateId);
}

/**
 * How many of `wanted` are already in place: the longest start of `wanted` that the deployment's
 * history ends with. A fresh profile has none; a re-run has all of them; an interrupted run has
 * the ones it got through.
 */
export function stepsInPlace(current: readonly string[], wanted: readonly string[]): number {
  for (let k = Math.min(current.length, wanted.length); k > 0; k--) {
    const tail = current.slice(current.length - k);
    if (tail.every((id, i) => id === wanted[i])) return k;
  }
  return 0;
}

/** Requests the assignment and waits until the profile shows it (the consumer applies it later). */
async function assign(service: Service, profileId: string, certificateId: string): Promise<void> {
  await callJson(service, 'PUT', `/ivr-profiles/${encodeURIComponent(profileId)}/recording-certificate`, {
    certificateId,
  });
  const deadline = Date.now() + service.timeoutSeconds * 1000;
  for (;;) {
    const state = await profileState(service, profileId);
    if (state?.activeCertificateId === certificateId) return;
    if (Date.now() >= deadline) {
      throw new RefusedError(
        'ASSIGNMENT_NOT_APPLIED',
        `the service accepted the assignment but had not applied it after ${service.timeoutSeconds} s; ` +
          `its audit trail says why (GET .../audit?certificateId=${certificateId})`,
      );
    }
    await sleep(POLL_MS);
  }
}

async function restoreProfiles(
  service: Service,
  bundle: BackupBundle,
  present: ReadonlySet<string>,
): Promise<AssignmentResult[]> {
  const results: AssignmentResult[] = [];
  for (const profile of bundle.profiles) {
    const { profileId } = profile;
    if (!present.has(profile.activeCertificateId)) {
      // Replaying only the history would leave a replaced certificate active: recordings would
      // be encrypted for a key the tenant retired. Leave the profile to the administrator.
      const reason = `its active certificate ${profile.activeCertificateId} could not be restored (see its entry above); nothing is assigned on ${profileId}, so that no replaced certificate becomes active again: assign a current one yourself`;
      for (const id of sequence(profile)) {
        results.push({
          profileId,
          certificateId: id,
          result: 'skipped',
          code: 'ACTIVE_CERTIFICATE_NOT_RESTORED',
          reason,
        });
      }
      continue;
    }
    const wanted: string[] = [];
    for (const id of sequence(profile)) {
      if (present.has(id)) wanted.push(id);
      else
        results.push({
          profileId,
          certificateId: id,
          result: 'skipped',
          reason: 'the certificate is not on the deployment (see its entry above)',
        });
    }
    const current = await profileState(service, profileId);
    const done = stepsInPlace(current ? sequence(current) : [], wanted);
    for (const id of wanted.slice(0, done))
      results.push({ profileId, certificateId: id, result: 'in-place' });
    for (const id of wanted.slice(done)) {
      try {
        await assign(service, profileId, id);
        results.push({ profileId, certificateId: id, result: 'applied' });
      } catch (error) {
        results.push({ profileId, certificateId: id, result: 'failed', ...failure(error) });
      }
    }
  }
  return results;
}

async function restoreScreen(
  service: Service,
  bundle: BackupBundle,
  present: ReadonlySet<string>,
): Promise<ScreenResult> {
  const wanted = bundle.screenRecordingCertificateIds.filter((id) => present.has(id));
  const skipped = bundle.screenRecordingCertificateIds.filter((id) => !present.has(id));
  const current = (await callJson(service, 'GET', '/screen-recording-certificates')).body.certificateIds;
  const held = new Set(Array.isArray(current) ? current : []);
  const add = wanted.filter((id) => !held.has(id));
  if (add.length === 0) return { certificateIds: wanted, added: [], skipped, result: 'in-place' };
  try {
    await callJson(service, 'PATCH', '/screen-recording-certificates', { add });
    return { certificateIds: wanted, added: add, skipped, result: 'applied' };
  } catch (error) {
    return { certificateIds: wanted, added: [], skipped, result: 'failed', ...failure(error) };
  }
}

/** Restores `bundle` into the tenant of `service`; see the file comment. */
export async function restoreBackup(
  service: Service,
  bundle: BackupBundle,
  now: Date,
): Promise<RestoreReport> {
  const certificates = await restoreCertificates(service, bundle, now);
  const present = new Set(
    certificates.filter((c) => c.result === 'uploaded' || c.result === 'exists').map((c) => c.certificateId),
  );
  const assignments = await restoreProfiles(service, bundle, present);
  const screenRecording = await restoreScreen(service, bundle, present);
  const failed =
    certificates.filter((c) => c.result === 'failed').length +
    assignments.filter((a) => a.result === 'failed').length +
    (screenRecording.result === 'failed' ? 1 : 0);
  return {
    tenant: service.tenant,
    backupTenant: bundle.tenantId,
    backupCreatedAt: bundle.createdAt,
    certificates,
    assignments,
    screenRecording,
    failed,
  };
}
