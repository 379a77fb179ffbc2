/**
 * The one place that turns a rewrap's `to` values into certificates (API, CLI-free cloud batch
 * engines alike): the tenant's own current certificates by id, or `escrow`, the tenant's escrow
 * certificate (DESIGN section 4, `recordings/rewrap`).
 */
import { certificateStatus } from '../domain/expiry';
import { ConflictError, NotFoundError, ValidationError } from '../errors';
import type { CoreDeps } from './deps';

/** Most targets one rewrap names: each is an RSA public-key operation (DESIGN section 9). */
export const MAX_REWRAP_TARGETS = 4;

/** The `to` value naming the tenant's escrow certificate. */
export const ESCROW_TARGET = 'escrow';

/** A certificate a recording is rewrapped for. */
export interface RewrapTarget {
  /** The certificate id, or `escrow`. */
  id: string;
  certificatePem: string;
}

/**
 * Resolves `to` values. Throws VALIDATION_ERROR for none or more than
 * {@link MAX_REWRAP_TARGETS}, NOT_FOUND (404) for an unknown id, CERTIFICATE_NOT_USABLE (409) for
 * an expired or retired certificate, and NO_ESCROW_CERTIFICATE (409) for `escrow` without one.
 */
export async function resolveRewrapTargets(
  deps: Pick<CoreDeps, 'repo' | 'clock' | 'escrow'>,
  tenantId: string,
  ids: readonly string[],
): Promise<RewrapTarget[]> {
  const unique = [...new Set(ids)];
  if (unique.length === 0 || unique.length > MAX_REWRAP_TARGETS) {
    throw new ValidationError(
      'VALIDATION_ERROR',
      `Name 1 to ${MAX_REWRAP_TARGETS} target certificates with ?to=<certificateId> or ?to=escrow (repeat it for several); got ${unique.length}.`,
      { details: { maxTargets: MAX_REWRAP_TARGETS } },
    );
  }
  const { state } = await deps.repo.getAssignments(tenantId);
  const now = deps.clock.now();
  const targets: RewrapTarget[] = [];
  for (const id of unique) {
    if (id === ESCROW_TARGET) {
      const escrow = await deps.escrow?.getEscrowCertificate(tenantId);
      if (!escrow) {
        throw new ConflictError(
          'NO_ESCROW_CERTIFICATE',
          `No escrow certificate is registered for tenant '${tenantId}', so nothing can be rewrapped for it. Register one first (PUT /v1/tenants/{tenantId}/escrow-certificate, or reccert escrow set).`,
          { details: { tenantId } },
        );
      }
      targets.push({ id, certificatePem: escrow.certificatePem });
      continue;
    }
    const record = await deps.repo.getCertificate(tenantId, id);
    if (!record) throw new NotFoundError('certificate', id);
    const status = certificateStatus(record, state, now);
    if (status === 'expired' || status === 'retired') {
      throw new ConflictError(
        'CERTIFICATE_NOT_USABLE',
        status === 'expired'
          ? `Certificate ${id} expired on ${record.notAfter}; recordings cannot be rewrapped for it. Name a current certificate.`
          : `Certificate ${id} was replaced (retired); rewrap recordings for a current certificate instead.`,
        { details: { certificateId: id, status } },
      );
    }
    targets.push({ id, certificatePem: record.certificatePem });
  }
  return targets;
}
