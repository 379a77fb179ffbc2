/**
 * The daily expiry scan: a timer trigger (02:00 UTC) running the same code as the operator's
 * `POST /v1/expiry-scan`. New notifications go to the `expiry-notifications` Storage queue
 * through the notification sink. A failure is thrown, so the host logs the run as failed; the
 * next run picks up whatever is still due (each notification is created once, ever). After the
 * scan, the orphan-key sweep removes keys no certificate holds (its failure is logged, not thrown).
 */
import type { InvocationContext, Timer } from '@azure/functions';
import { runExpiryScan } from '../../../shared/usecases/expiry-scan';
import { sweepOrphanKeysAfterScan } from '../../../shared/usecases/orphan-keys';
import { type AzureRuntime, defaultRuntime } from '../runtime';

/** The NCRONTAB schedule (seconds first): every day at 02:00 UTC. */
export const EXPIRY_SCAN_SCHEDULE = '0 0 2 * * *';

/** What a scheduled run reports: counts, not the notifications themselves. */
export interface ScheduledScanSummary {
  scanned: number;
  notifications: number;
  /** Keys the orphan sweep removed; undefined when the sweep failed (it is logged). */
  orphanKeysRemoved: number | undefined;
}

/** The timer function over a runtime. */
export function expiryTimerFunction(
  getRuntime: () => Promise<Pick<AzureRuntime, 'deps'>>,
): (timer: Timer, context: InvocationContext) => Promise<ScheduledScanSummary> {
  return async (timer, context) => {
    const runtime = await getRuntime();
    const result = await runExpiryScan(runtime.deps);
    const summary = {
      scanned: result.scanned,
      notifications: result.notifications.length,
      orphanKeysRemoved: await sweepOrphanKeysAfterScan(runtime.deps),
    };
    runtime.deps.logger.info('scheduled expiry scan', {
      ...summary,
      invocationId: context.invocationId,
      pastDue: timer.isPastDue,
    });
    return summary;
  };
}

/** The timer trigger's handler: the default runtime's scan. */
export const handleExpiryTimer: (timer: Timer, context: InvocationContext) => Promise<ScheduledScanSummary> =
  expiryTimerFunction(defaultRuntime);
