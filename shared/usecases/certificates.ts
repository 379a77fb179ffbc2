/**
 * Use cases for stored certificates: list, get, verify-key and the guarded delete. The upload
 * saga and the preview are in `certificate-upload.ts` (re-exported here).
 */
import { pendingFor } from '../domain/assignments';
import { activeProfiles, isInUse, wasEverAssigned } from '../domain/expiry';
import type { CertificateRecord, CertificateStatus } from '../domain/types';
import { ConflictError, hasCode, NotFoundError } from '../errors';
import {
  ANY_KEY_FORMAT,
  checkKeyMatches,
  parseCertificatePem,
  parsePrivateKeyInputAsync,
} from '../pki/validate';
import type { KeyReference } from '../ports';
import { decodeCursor, encodeCursor } from './cursor';
import { type Actor, type CoreDeps, recordCommittedChange, retryOnConflict } from './deps';
import { auditEntry, domainEvent } from './trail';
import { type CertificateView, certificateView } from './views';

export interface ListOptions {
  status?: CertificateStatus | undefined;
  limit: number;
  cursor?: string | undefined;
}

/** Store reads per request while a status filter skips records; then a short page with a cursor. */
const MAX_READS_PER_PAGE = 10;

/**
 * A page of the tenant's certificates in id order, paged by the store. The status is derived
 * (assignments, the clock), so the filter runs here, reading store pages until the page is full:
 * a page comes back short only when the listing ends, or after {@link MAX_READS_PER_PAGE} reads,
 * and then with a `nextCursor` that resumes after the last record read.
 */
export async function listCertificates(
  deps: CoreDeps,
  tenantId: string,
  options: ListOptions,
): Promise<{ items: CertificateView[]; nextCursor?: string }> {
  const scope = { tenantId, list: 'certificates', filter: options.status } as const;
  let after = options.cursor === undefined ? undefined : decodeCursor(options.cursor, scope);
  const now = deps.clock.now();
  const { state } = await deps.repo.getAssignments(tenantId);
  const items: CertificateView[] = [];
  for (let reads = 0; reads < MAX_READS_PER_PAGE; reads++) {
    const page = await deps.repo.pageCertificates(tenantId, { limit: options.limit - items.length, after });
    for (const record of page.items) {
      const view = certificateView(record, state, now, deps.config);
      if (options.status === undefined || view.status === options.status) items.push(view);
    }
    after = page.next;
    if (after === undefined) return { items };
    if (items.length === options.limit) break;
  }
  return after === undefined ? { items } : { items, nextCursor: encodeCursor(scope, after) };
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
  // Its escrow copy goes with it: no backup lists a deleted certificate, so the copy would be unreachable.
  await deps.escrow?.removeEscrowCopy(tenantId, id).catch((error) => {
    deps.logger.error('delete: the escrow copy could not be removed', {
      tenantId,
      certificateId: id,
      error: String(error),
    });
  });
  await recordCommittedChange(
    deps,
    auditEntry(deps, {
      tenantId,
      actor: actor.subject,
      action: 'certificate.delete',
      certificateId: id,
      details: { forced: force, fingerprintSha256: record.fingerprintSha256 },
    }),
    [domainEvent(deps, 'CertificateDeleted', tenantId, { certificateId: id, forced: force })],
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
