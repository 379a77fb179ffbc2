/**
 * The orphan-key sweep. An upload seals the key before it writes the metadata, and a delete
 * removes the metadata before the key, so a failure (or a crash) between the two can leave a key
 * no certificate refers to. Each runtime lists what its custody holds; this removes what no
 * record claims.
 */
import type { CoreDeps } from './deps';

/** A key found in custody. `storedAt` lets a sweep spare keys whose upload may still finish. */
export interface StoredKey {
  tenantId: string;
  certificateId: string;
  keyRef: string;
  storedAt?: Date;
}

/**
 * Removes every stored key that no certificate record holds (the record of that tenant and id
 * with exactly that keyRef; a re-upload gets a new keyRef, so the old key is an orphan). Keys
 * younger than `minAgeMs` are left alone: an upload may be between sealing its key and writing
 * its record. Logs counts only.
 */
export async function sweepOrphanKeys(
  deps: Pick<CoreDeps, 'repo' | 'custody' | 'clock' | 'logger'>,
  stored: AsyncIterable<StoredKey> | Iterable<StoredKey>,
  options: { minAgeMs: number },
): Promise<{ checked: number; removed: number }> {
  const cutoff = deps.clock.now().getTime() - options.minAgeMs;
  let checked = 0;
  let removed = 0;
  for await (const key of stored) {
    checked++;
    if (key.storedAt && key.storedAt.getTime() > cutoff) continue;
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
