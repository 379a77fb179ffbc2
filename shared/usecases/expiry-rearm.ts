/**
 * Re-arming the expiry cursor of a certificate that has just become active (DESIGN rule 14). Kept
 * apart from the scan: the assignment use cases call it, and they are part of the read path's
 * bundle, which carries no scan code.
 */
import type { CoreDeps } from './deps';

/** How often a cursor write that lost to another writer is retried against a fresh read. */
export const CURSOR_ATTEMPTS = 5;

/**
 * Re-arms the expiry cursor of certificates that have just become active (an IVR assignment
 * applied, a screen-recording add), after that change committed: the next scan reads them and
 * notifies the most urgent threshold they have crossed if it was passed while they were not in
 * use. Thresholds passed before that one are not sent late; later ones follow as usual.
 *
 * The cursor is set to a due time no scan can have read (just before the one it holds, or now),
 * so a scan that read the record before the activation and the assignments after it loses its
 * conditional advance instead of moving the cursor past the threshold. Best effort: the change
 * already committed, so a failure is logged, never thrown (that certificate then gets its next
 * threshold, not the one already crossed).
 */
export async function rearmExpiryNotices(
  deps: CoreDeps,
  tenantId: string,
  certificateIds: readonly string[],
): Promise<void> {
  for (const certificateId of certificateIds) {
    try {
      for (let attempt = 0; attempt < CURSOR_ATTEMPTS; attempt++) {
        const record = await deps.repo.getCertificate(tenantId, certificateId);
        if (record === undefined) break;
        const now = deps.clock.now().getTime();
        const held = record.nextNotifyAt === null ? Number.NaN : Date.parse(record.nextNotifyAt);
        const dueAt = Number.isFinite(held) && held <= now ? held - 1 : now;
        const moved = await deps.repo.advanceExpiryCursor(tenantId, certificateId, record.nextNotifyAt, {
          nextNotifyAt: new Date(dueAt).toISOString(),
          notifiedThresholdDays: record.notifiedThresholdDays,
        });
        if (moved) break;
      }
    } catch (error) {
      deps.logger.error('could not re-arm the expiry notices of a certificate that became active', {
        tenantId,
        certificateId,
        error: String(error),
      });
    }
  }
}
