/**
 * What the cloud batch engines (S3 Batch Operations' function, the Azure recording jobs) need of a
 * tenant for every object: its certificates, to match a recording's recipients, and the rewrap's
 * target certificates. A job names one tenant and one set of targets for millions of objects, so
 * they are read once and reused by the objects that follow, for a short while.
 *
 * Why: read per object, the tenant's certificate list (up to its 100 certificates, PEM included)
 * is 51 of the 53 DynamoDB read units an object costs, which caps a job at the tenant
 * partition's 3,000 read units per second and a fleet at the table's read quota (docs/scale.md).
 *
 * What a stale copy can do, at most `ttlMs` old: a certificate deleted meanwhile is still matched,
 * but its key is gone from custody, so the unwrap fails as it would have; a target retired
 * meanwhile still receives recordings for those seconds, as it would have had the job started a
 * little earlier. A failed read is not kept: the next object reads again.
 */
import type { CertificateRecord } from '../domain/types';
import type { CoreDeps } from './deps';
import { resolveRewrapTargets } from './rewrap-targets';

/** How long a tenant's certificates are reused by the objects of a job (ms). */
export const BATCH_TENANT_TTL_MS = 60_000;

/** Tenants (per job arguments) kept at once; a worker serves one or a few jobs at a time. */
const MAX_ENTRIES = 32;

/** A tenant as one object of a job sees it. */
export interface BatchTenant {
  /** Every certificate of the tenant (recipient matching). */
  records: CertificateRecord[];
  /** The rewrap's target certificates, PEM (none for a verify). */
  targets: string[];
}

/** Reads {@link BatchTenant}s through a short-lived cache. */
export interface BatchTenantCache {
  /** The tenant's certificates and, for a rewrap, its resolved targets (their errors as thrown). */
  get(tenantId: string, rewrapTo: readonly string[] | undefined): Promise<BatchTenant>;
}

/** A cache of {@link BatchTenant}s over `deps` (its repository, escrow store and clock). */
export function batchTenantCache(
  deps: Pick<CoreDeps, 'repo' | 'escrow' | 'clock'>,
  ttlMs = BATCH_TENANT_TTL_MS,
): BatchTenantCache {
  const entries = new Map<string, { readAt: number; tenant: Promise<BatchTenant> }>();

  async function read(tenantId: string, rewrapTo: readonly string[] | undefined): Promise<BatchTenant> {
    const records = await deps.repo.listCertificates(tenantId);
    const targets =
      rewrapTo === undefined
        ? []
        : (await resolveRewrapTargets(deps, tenantId, rewrapTo)).map((t) => t.certificatePem);
    return { records, targets };
  }

  return {
    get(tenantId, rewrapTo) {
      const key = JSON.stringify([tenantId, rewrapTo ?? null]);
      const now = deps.clock.now().getTime();
      const held = entries.get(key);
      if (held && now - held.readAt >= 0 && now - held.readAt < ttlMs) return held.tenant;

      const tenant = read(tenantId, rewrapTo);
      const entry = { readAt: now, tenant };
      entries.delete(key);
      entries.set(key, entry);
      // Oldest first: Map keeps insertion order.
      while (entries.size > MAX_ENTRIES) {
        const oldest = entries.keys().next().value;
        if (oldest === undefined) break;
        entries.delete(oldest);
      }
      tenant.catch(() => {
        if (entries.get(key) === entry) entries.delete(key);
      });
      return tenant;
    },
  };
}
