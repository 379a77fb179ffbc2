/**
 * The upload saga (DESIGN section 3): validate, seal the key to the tenant's escrow certificate
 * when it has one (DESIGN rule 15), seal the key in custody, prove custody can
 * unwrap with it, store the record, audit and publish. Each step that fails undoes the earlier
 * ones, so there is never a key without its record or the reverse. Also the preview, which runs
 * the same validation and stores nothing.
 */
import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import { nextNotifyAt, normalizeThresholds } from '../domain/expiry';
import type { CertificateDetails, CertificateRecord, DomainEvent } from '../domain/types';
import {
  AlreadyExists,
  ConflictError,
  isRefusal,
  UnavailableError,
  ValidationError,
  type Warning,
} from '../errors';
import { type UploadInput, validateUploadAsync } from '../pki/validate';
import type { KeyReference } from '../ports';
import { type RecipientKey, wrapSessionKey } from '../recording/recipients';
import { markAssignmentPending, releasePendingAssignment } from './assignments';
import { type Actor, asUnavailable, type CoreDeps } from './deps';
import { escrowUploadedKey } from './escrow';
import { auditAndPublish, auditEntry, domainEvent } from './trail';
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
  recipient: RecipientKey,
): Promise<void> {
  const probe = randomBytes(32);
  const wrapped = wrapSessionKey(recipient, probe);
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
  let escrowed = false;
  // A copy without its record is never listed or backed up, and a retry replaces it.
  const undoEscrow = async () => {
    if (!escrowed) return;
    await deps.escrow?.removeEscrowCopy(tenantId, id).catch((error) => {
      deps.logger.error('upload rollback: could not remove the escrow copy', {
        tenantId,
        certificateId: id,
        error: String(error),
      });
    });
  };
  try {
    // Escrow first: on the azure flow the key never leaves the vault once it is in.
    try {
      escrowed = await escrowUploadedKey(deps, tenantId, id, pkcs8);
    } catch (error) {
      throw asUnavailable(error, 'Sealing the private key to the escrow certificate');
    }
    try {
      stored = await deps.custody.store(ref, pkcs8, validated.certificatePem);
    } catch (error) {
      await undoEscrow();
      throw asUnavailable(error, 'Storing the private key');
    }
  } finally {
    pkcs8.fill(0);
  }

  try {
    await proveCustodyUnwraps(deps, ref, stored.keyRef, { publicKey: validated.certificate.publicKey! });
  } catch (error) {
    await undoEscrow();
    throw error;
  }

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
      await undoEscrow();
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
    // The winner of a concurrent upload of this certificate holds the same key's copy: keep it.
    if (error instanceof AlreadyExists) throw conflict();
    await undoEscrow();
    throw asUnavailable(error, 'Storing the certificate');
  }

  const events: DomainEvent[] = [
    domainEvent(deps, 'CertificateUploaded', tenantId, {
      certificateId: id,
      alias: ref.alias,
      notAfter: details.notAfter,
    }),
  ];
  if (automatic) {
    events.push(
      domainEvent(deps, 'IvrAssignmentRequested', tenantId, {
        requestId,
        profileId: deps.config.defaultIvrProfile,
        certificateId: id,
        requestedBy: actor.subject,
      }),
    );
  }
  try {
    await auditAndPublish(
      deps,
      {
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
      },
      events,
    );
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
    await undoEscrow();
    await deps.repo
      .appendAudit(
        auditEntry(deps, {
          tenantId,
          actor: actor.subject,
          action: 'certificate.delete',
          certificateId: id,
          details: { reason: 'upload rolled back: a later step failed' },
        }),
      )
      .catch(() => undefined);
    throw asUnavailable(error, 'Recording the upload');
  }
  return certificateView(record, assignments.state, now, deps.config);
}
