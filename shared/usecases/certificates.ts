/** Use cases for certificates: preview, upload, list, get, guarded delete, verify-key. */
import {
  constants,
  createHash,
  type KeyObject,
  publicEncrypt,
  randomBytes,
  timingSafeEqual,
} from 'node:crypto';
import { pendingFor } from '../domain/assignments';
import {
  activeProfiles,
  isInUse,
  nextNotifyAt,
  normalizeThresholds,
  wasEverAssigned,
} from '../domain/expiry';
import type { CertificateDetails, CertificateRecord, CertificateStatus, DomainEvent } from '../domain/types';
import {
  AlreadyExists,
  ConflictError,
  hasCode,
  isRefusal,
  NotFoundError,
  UnavailableError,
  ValidationError,
  type Warning,
} from '../errors';
import {
  ANY_KEY_FORMAT,
  checkKeyMatches,
  parseCertificatePem,
  parsePrivateKeyInputAsync,
  type UploadInput,
  validateUploadAsync,
} from '../pki/validate';
import type { KeyReference } from '../ports';
import { markAssignmentPending, releasePendingAssignment } from './assignments';
import { type Actor, asUnavailable, type CoreDeps, recordCommittedChange, retryOnConflict } from './deps';
import { type CertificateView, certificateView } from './views';

function removeKeyQuietly(deps: CoreDeps, ref: KeyReference, keyRef: string): Promise<void> {
  return deps.custody.remove(ref, keyRef).catch((error) => {
    deps.logger.error('upload rollback: could not remove the stored key; the orphan sweep will', {
      tenantId: ref.tenantId,
      certificateId: ref.certificateId,
      error: String(error),
    });
  });
}

/**
 * Wraps 32 random bytes with the certificate and unwraps them through custody: a pair that
 * cannot actually decrypt recordings is refused before anyone records with it. The stored key
 * is removed again when the check fails.
 */
async function proveCustodyUnwraps(
  deps: CoreDeps,
  ref: KeyReference,
  keyRef: string,
  publicKey: KeyObject,
): Promise<void> {
  const probe = randomBytes(32);
  const wrapped = publicEncrypt(
    { key: publicKey, padding: constants.RSA_PKCS1_OAEP_PADDING, oaepHash: 'sha256' },
    probe,
  );
  let unwrapped: Buffer;
  try {
    unwrapped = await deps.custody.unwrapKey(ref, keyRef, wrapped);
  } catch (error) {
    await removeKeyQuietly(deps, ref, keyRef);
    // Custody refuses a key that cannot unwrap (NO_MATCHING_KEY); anything else is a failure.
    if (isRefusal(error)) {
      throw new ValidationError(
        'KEY_MISMATCH',
        'The stored key could not unwrap a test session key wrapped with this certificate, so recordings encrypted for it could not be played. Check that the key belongs to the certificate.',
        { details: { field: 'privateKey' }, cause: error },
      );
    }
    throw asUnavailable(error, 'Checking the stored key');
  }
  if (unwrapped.length !== probe.length || !timingSafeEqual(unwrapped, probe)) {
    await removeKeyQuietly(deps, ref, keyRef);
    throw new ValidationError(
      'KEY_MISMATCH',
      'The stored key unwrapped a test session key to the wrong value.',
      {
        details: { field: 'privateKey' },
      },
    );
  }
}

/** The certificate id: derived from the fingerprint, so the same certificate is one record per tenant. */
export function certificateIdOf(fingerprintSha256: string): string {
  return fingerprintSha256.slice(0, 32);
}

/** A name safe for key vaults (letters, digits, '-'; at most 127 chars), unique per tenant and certificate. */
export function aliasOf(tenantId: string, certificateId: string): string {
  let slug = tenantId.replace(/[^A-Za-z0-9-]/g, '-').slice(0, 48);
  if (slug !== tenantId) slug = `${slug}-${createHash('sha256').update(tenantId).digest('hex').slice(0, 6)}`;
  return `reccert-${slug}-${certificateId.slice(0, 16)}`;
}

export interface PreviewResult extends CertificateDetails {
  warnings: Warning[];
}

/** Validates without storing anything (the key is optional here). */
export async function previewCertificate(deps: CoreDeps, input: UploadInput): Promise<PreviewResult> {
  const result = await validateUploadAsync(input, {
    flow: deps.config.flow,
    now: deps.clock.now(),
    requirePrivateKey: false,
  });
  return { ...result.details, warnings: result.warnings };
}

function event(
  deps: CoreDeps,
  type: DomainEvent['type'],
  tenantId: string,
  data: Record<string, unknown>,
): DomainEvent {
  return { id: deps.ids.newId(), type, tenantId, occurredAt: deps.clock.now().toISOString(), data };
}

/**
 * Validates, seals the key in custody, stores the metadata, audits and publishes. Any step that
 * fails undoes the earlier ones, so there is never a key without metadata or the reverse.
 */
export async function uploadCertificate(
  deps: CoreDeps,
  actor: Actor,
  tenantId: string,
  input: UploadInput,
): Promise<CertificateView> {
  const now = deps.clock.now();
  const validated = await validateUploadAsync(input, {
    flow: deps.config.flow,
    now,
    requirePrivateKey: true,
  });
  const { details } = validated;
  const id = certificateIdOf(details.fingerprintSha256);
  const conflict = () =>
    new ConflictError(
      'CERTIFICATE_EXISTS',
      `This certificate is already uploaded for tenant '${tenantId}' (id ${id}).`,
      {
        details: { certificateId: id },
      },
    );

  // Everything the answer needs is read before anything is written, so once the upload is
  // committed no failing read can turn it into an error.
  const [existing, assignments] = await Promise.all([
    deps.repo.getCertificate(tenantId, id),
    deps.repo.getAssignments(tenantId),
  ]).catch((e) => Promise.reject(asUnavailable(e, 'Reading the store')));
  if (existing) throw conflict();
  const ref: KeyReference = { tenantId, certificateId: id, alias: aliasOf(tenantId, id) };
  const pkcs8 = validated.privateKey!.key.export({ format: 'der', type: 'pkcs8' });
  let stored: { keyRef: string; keyId?: string };
  try {
    stored = await deps.custody.store(ref, pkcs8, validated.certificatePem);
  } catch (error) {
    throw asUnavailable(error, 'Storing the private key');
  } finally {
    pkcs8.fill(0);
  }

  await proveCustodyUnwraps(deps, ref, stored.keyRef, validated.certificate.publicKey!);

  const thresholds = normalizeThresholds(deps.config.expiryThresholdsDays);
  const record: CertificateRecord = {
    ...details,
    tenantId,
    id,
    alias: ref.alias,
    certificatePem: validated.certificatePem,
    uploadedAt: now.toISOString(),
    uploadedBy: actor.subject,
    warnings: validated.warnings,
    keyRef: stored.keyRef,
    ...(stored.keyId ? { keyId: stored.keyId } : {}),
    nextNotifyAt: nextNotifyAt(details.notAfter, null, thresholds),
    notifiedThresholdDays: null,
  };
  const undoKey = () => removeKeyQuietly(deps, ref, stored.keyRef);
  // The azure flow's automatic assignment is marked pending before the record exists, so the
  // new certificate is never deletable before that assignment is applied (DESIGN rule 12).
  const requestId = deps.ids.newId();
  const automatic = deps.config.flow === 'azure';
  if (automatic) {
    try {
      await markAssignmentPending(deps, tenantId, {
        requestId,
        profileId: deps.config.defaultIvrProfile,
        certificateId: id,
      });
    } catch (error) {
      await undoKey();
      throw asUnavailable(error, 'Storing the certificate');
    }
  }
  const undoPending = () =>
    automatic ? releasePendingAssignment(deps, tenantId, requestId) : Promise.resolve();
  try {
    await deps.repo.createCertificate(record);
  } catch (error) {
    await undoPending();
    await undoKey();
    if (error instanceof AlreadyExists) throw conflict();
    throw asUnavailable(error, 'Storing the certificate');
  }

  const events = [
    event(deps, 'CertificateUploaded', tenantId, {
      certificateId: id,
      alias: ref.alias,
      notAfter: details.notAfter,
    }),
  ];
  if (automatic) {
    events.push(
      event(deps, 'IvrAssignmentRequested', tenantId, {
        requestId,
        profileId: deps.config.defaultIvrProfile,
        certificateId: id,
        requestedBy: actor.subject,
      }),
    );
  }
  try {
    await deps.repo.appendAudit({
      id: deps.ids.newId(),
      tenantId,
      at: now.toISOString(),
      actor: actor.subject,
      action: 'certificate.upload',
      certificateId: id,
      details: {
        fingerprintSha256: details.fingerprintSha256,
        serialNumber: details.serialNumber,
        flow: deps.config.flow,
      },
    });
    await deps.events.publish(events);
  } catch (error) {
    const recordRemoved = await deps.repo.removeCertificate(tenantId, id).then(
      () => true,
      () => false,
    );
    if (!recordRemoved) {
      // Keep the key with its record: a record without its key could never decrypt. The upload
      // then stands, and the caller is told so rather than "nothing was changed". No event
      // went out, so no assignment will come to clear the pending mark: clear it here.
      await undoPending();
      deps.logger.error('upload: a later step failed and the record could not be removed', {
        tenantId,
        certificateId: id,
        error: String(error),
      });
      throw new UnavailableError(
        `The certificate was stored (id ${id}) but recording the upload failed. Check the list: keep it, or delete it and upload again.`,
        { cause: error, retryAfterSeconds: 5 },
      );
    }
    await undoPending();
    await undoKey();
    await deps.repo
      .appendAudit({
        id: deps.ids.newId(),
        tenantId,
        at: deps.clock.now().toISOString(),
        actor: actor.subject,
        action: 'certificate.delete',
        certificateId: id,
        details: { reason: 'upload rolled back: a later step failed' },
      })
      .catch(() => undefined);
    throw asUnavailable(error, 'Recording the upload');
  }
  return certificateView(record, assignments.state, now, deps.config);
}

export interface ListOptions {
  status?: CertificateStatus | undefined;
  limit: number;
  cursor?: string | undefined;
}

function encodeCursor(record: CertificateRecord): string {
  return Buffer.from(JSON.stringify([record.uploadedAt, record.id])).toString('base64url');
}

function decodeCursor(cursor: string): [string, string] {
  try {
    const value = JSON.parse(Buffer.from(cursor, 'base64url').toString('utf8')) as unknown;
    if (Array.isArray(value) && value.length === 2 && value.every((v) => typeof v === 'string')) {
      return value as [string, string];
    }
  } catch {
    // fall through
  }
  throw new ValidationError(
    'VALIDATION_ERROR',
    'The cursor is not one this API returned; start again without it.',
    {
      details: { field: 'cursor' },
    },
  );
}

export async function listCertificates(
  deps: CoreDeps,
  tenantId: string,
  options: ListOptions,
): Promise<{ items: CertificateView[]; nextCursor?: string }> {
  const now = deps.clock.now();
  const [records, state] = await Promise.all([
    deps.repo.listCertificates(tenantId),
    deps.repo.getAssignments(tenantId),
  ]);
  let after: [string, string] | undefined;
  if (options.cursor) after = decodeCursor(options.cursor);
  const views: { record: CertificateRecord; view: CertificateView }[] = [];
  for (const record of records) {
    if (after && (record.uploadedAt < after[0] || (record.uploadedAt === after[0] && record.id <= after[1])))
      continue;
    const view = certificateView(record, state.state, now, deps.config);
    if (options.status && view.status !== options.status) continue;
    views.push({ record, view });
    if (views.length > options.limit) break;
  }
  const page = views.slice(0, options.limit);
  const last = page[page.length - 1];
  return {
    items: page.map((v) => v.view),
    ...(views.length > options.limit && last ? { nextCursor: encodeCursor(last.record) } : {}),
  };
}

export async function getCertificateRecord(
  deps: CoreDeps,
  tenantId: string,
  id: string,
): Promise<CertificateRecord> {
  const record = await deps.repo.getCertificate(tenantId, id);
  if (!record) throw new NotFoundError('certificate', id);
  return record;
}

export async function getCertificate(deps: CoreDeps, tenantId: string, id: string): Promise<CertificateView> {
  const [record, state] = await Promise.all([
    getCertificateRecord(deps, tenantId, id),
    deps.repo.getAssignments(tenantId),
  ]);
  return certificateView(record, state.state, deps.clock.now(), deps.config);
}

/**
 * Deletes a certificate unless it is in use (never) or was ever assigned (only with `force`).
 * The guard and the delete are one conditional write against the tenant's assignment state.
 */
export async function deleteCertificate(
  deps: CoreDeps,
  actor: Actor,
  tenantId: string,
  id: string,
  force: boolean,
): Promise<void> {
  const record = await retryOnConflict(async () => {
    const current = await getCertificateRecord(deps, tenantId, id);
    const { state, version } = await deps.repo.getAssignments(tenantId);
    // A requested assignment not yet applied counts as in use (rule 12). This check and the
    // delete are one conditional write on the state, and the requests mark themselves pending
    // in that same state, so a request and a delete can never both succeed.
    const pending = [...new Set(pendingFor(state, id, deps.clock.now()).map((p) => p.profileId))].sort();
    if (isInUse(state, id) || pending.length > 0) {
      const profiles = activeProfiles(state, id);
      const screen = state.screen.certificateIds.includes(id);
      const where = [
        ...(profiles.length ? [`IVR profile${profiles.length > 1 ? 's' : ''} ${profiles.join(', ')}`] : []),
        ...(screen ? ['screen recording'] : []),
        ...(pending.length
          ? [`a pending assignment to IVR profile${pending.length > 1 ? 's' : ''} ${pending.join(', ')}`]
          : []),
      ].join(' and ');
      throw new ConflictError(
        'CERTIFICATE_IN_USE',
        `The certificate is in use by ${where}. Assign another certificate there first (a pending assignment is applied within moments); an assigned certificate cannot be deleted, even with force.`,
        {
          details: {
            certificateId: id,
            ivrProfiles: profiles,
            screenRecording: screen,
            pendingIvrProfiles: pending,
          },
        },
      );
    }
    if (wasEverAssigned(state, id) && !force) {
      throw new ConflictError(
        'CERTIFICATE_RETAINED',
        'The certificate was assigned before, so recordings may be encrypted for it and need its key for playback. It is kept; delete with ?force=true only if no recording needs it.',
        { details: { certificateId: id, force: false } },
      );
    }
    await deps.repo.saveAssignments(tenantId, state, version, { deleteCertificateId: id });
    return current;
  });
  const ref: KeyReference = { tenantId, certificateId: id, alias: record.alias };
  await deps.custody.remove(ref, record.keyRef).catch((error) => {
    deps.logger.error('delete: the key could not be removed; the orphan sweep will', {
      tenantId,
      certificateId: id,
      error: String(error),
    });
  });
  await recordCommittedChange(
    deps,
    {
      id: deps.ids.newId(),
      tenantId,
      at: deps.clock.now().toISOString(),
      actor: actor.subject,
      action: 'certificate.delete',
      certificateId: id,
      details: { forced: force, fingerprintSha256: record.fingerprintSha256 },
    },
    [event(deps, 'CertificateDeleted', tenantId, { certificateId: id, forced: force })],
  );
}

/** Does this key (not stored) belong to the stored certificate? Bad keys get the upload's 400s. */
export async function verifyKey(
  deps: CoreDeps,
  tenantId: string,
  id: string,
  input: { privateKey?: string | undefined; privateKeyPassword?: string | undefined },
): Promise<{ matches: boolean }> {
  const record = await getCertificateRecord(deps, tenantId, id);
  // Nothing is stored, so the azure flow's PKCS#8 rule does not apply.
  const key = await parsePrivateKeyInputAsync(input.privateKey, input.privateKeyPassword, ANY_KEY_FORMAT);
  const certificate = parseCertificatePem(record.certificatePem);
  try {
    checkKeyMatches(certificate, key.key);
    return { matches: true };
  } catch (error) {
    if (hasCode(error, 'KEY_MISMATCH', 'KEY_TOO_SMALL')) return { matches: false };
    throw error;
  }
}
