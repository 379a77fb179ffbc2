/**
 * The orphan-key sweep. An upload seals the key before it writes the metadata, and a delete
 * removes the metadata before the key, so a failure (or a crash) between the two can leave a key
 * no certificate refers to. The custody lists what it holds (`KeyCustody.listKeys`); this removes
 * what no record claims. Every runtime runs it: local at start-up, AWS and Azure after their daily
 * expiry scan.
 */
import type { CoreDeps } from './deps';

/**
 * How old a key must be before a scheduled sweep may remove it: younger ones may belong to an
 * upload between sealing its key and writing its record. An hour is far beyond any function's
 * timeout (Lambda 15 minutes; Azure Functions 10 on Consumption, 30 by default elsewhere).
 */
export const ORPHAN_MIN_AGE_MS = 60 * 60 * 1000;

/**
 * Removes every stored key that no certificate record holds (the record of that tenant and id
 * with exactly that keyRef; a re-upload gets a new keyRef, so the old key is an orphan). Keys
 * younger than `minAgeMs` are left alone; `minAgeMs: 0` makes every key a candidate, for a caller
 * that knows no upload is under way (the local runtime before it serves). Logs counts only.
 */
export async function sweepOrphanKeys(
  deps: Pick<CoreDeps, 'repo' | 'custody' | 'clock' | 'logger'>,
  options: { minAgeMs: number },
): Promise<{ checked: number; removed: number }> {
  const cutoff = deps.clock.now().getTime() - options.minAgeMs;
  let checked = 0;
  let removed = 0;
  for await (const key of deps.custody.listKeys()) {
    checked++;
    if (options.minAgeMs > 0 && key.storedAt && key.storedAt.getTime() > cutoff) continue;
    const record = await deps.repo.getCertificate(key.tenantId, key.certificateId);
    if (record?.keyRef === key.keyRef) continue;
    await deps.custody.remove(
      { tenantId: key.tenantId, certificateId: key.certificateId, alias: '' },
      key.keyRef,
    );
    removed++;
  }
  if (removed > 0) deps.logger.warn('removed orphaned keys', { checked, removed });
  return { checked, removed };
}

/**
 * The sweep after a scheduled expiry scan, sparing keys younger than {@link ORPHAN_MIN_AGE_MS}.
 * A failure is logged and does not fail the scan (the next day's run retries). Returns how many
 * keys it removed, or undefined when it failed.
 */
export async function sweepOrphanKeysAfterScan(
  deps: Pick<CoreDeps, 'repo' | 'custody' | 'clock' | 'logger'>,
): Promise<number | undefined> {
  try {
    return (await sweepOrphanKeys(deps, { minAgeMs: ORPHAN_MIN_AGE_MS })).removed;
  } catch (error) {
    deps.logger.error('orphan-key sweep failed', { error: error instanceof Error ? error.name : 'unknown' });
    return undefined;
  }
}
