/**
 * Webhook delivery of expiry notices from the durable outbox (DESIGN section 5): at least once,
 * each notice under one stable delivery id, retried with back-off until a 2xx.
 */
import { createHash } from 'node:crypto';
import { type ExpiryNoticeView, withNoticeMessage } from '../domain/expiry-notice';
import type { ExpiryNotification } from '../domain/types';
import type { Clock, Logger, NoticeOutbox } from '../ports';
import { type AttemptOutcome, postWebhook, type WebhookSettings, webhookBackoffMs } from '../webhook';

/** The JSON body a receiver gets: the notification with its text (`message`). */
export interface NoticePayload {
  deliveryId: string;
  type: 'CertificateExpiring' | 'CertificateExpired';
  notification: ExpiryNoticeView;
}

/** The delivery id of a notice: the same for the same (tenant, certificate, threshold), on every run. */
export function noticeDeliveryId(notification: ExpiryNotification): string {
  const key = `${notification.tenantId}\u0000${notification.certificateId}\u0000${notification.thresholdDays}`;
  return `dlv_${createHash('sha256').update(key).digest('hex').slice(0, 32)}`;
}

/** The delivery of `notification`: its id and the exact body every attempt posts. */
export function noticeDelivery(notification: ExpiryNotification): { id: string; body: string } {
  const id = noticeDeliveryId(notification);
  const payload: NoticePayload = {
    deliveryId: id,
    type: notification.kind === 'expired' ? 'CertificateExpired' : 'CertificateExpiring',
    notification: withNoticeMessage(notification),
  };
  return { id, body: JSON.stringify(payload) };
}

/** What one pass over the outbox did. */
export interface DrainResult {
  delivered: number;
  failed: number;
}

/**
 * Deliveries are claimed one at a time, so a lease covers one attempt: a drainer that dies
 * mid-attempt leaves its delivery due again within the 60 s back-off cap.
 */
const CLAIM_BATCH = 1;

/**
 * Attempts every delivery due now, once each. A 2xx marks it delivered; anything else (an error
 * status, a timeout, a refused connection) schedules the next attempt after the back-off. A
 * claimed delivery is leased for longer than one attempt can take, so a drainer that dies
 * mid-attempt leaves it to the next pass instead of losing it.
 */
export async function drainNoticeOutbox(
  outbox: NoticeOutbox,
  settings: WebhookSettings,
  clock: Clock,
  logger: Logger,
  post: (deliveryId: string, body: string) => Promise<AttemptOutcome> = (id, body) =>
    postWebhook(settings, id, body),
): Promise<DrainResult> {
  const result: DrainResult = { delivered: 0, failed: 0 };
  const leaseMs = settings.attemptTimeoutMs * 2 + 1000;
  for (;;) {
    const now = clock.now();
    const batch = await outbox.claimDueDeliveries(
      now.toISOString(),
      new Date(now.getTime() + leaseMs).toISOString(),
      CLAIM_BATCH,
    );
    for (const delivery of batch) {
      const outcome = await post(delivery.id, delivery.body);
      const at = clock.now();
      if (outcome.delivered) {
        await outbox.markDelivered(delivery.id, at.toISOString());
        result.delivered++;
        logger.info('webhook notice delivered', { deliveryId: delivery.id, status: outcome.status });
      } else {
        const attempts = delivery.attempts + 1;
        const waitMs = webhookBackoffMs(attempts, settings.backoffBaseMs);
        await outbox.scheduleRetry(
          delivery.id,
          attempts,
          new Date(at.getTime() + waitMs).toISOString(),
          outcome.reason,
        );
        result.failed++;
        logger.warn('webhook notice not delivered; will retry', {
          deliveryId: delivery.id,
          attempts,
          retryInMs: waitMs,
          reason: outcome.reason,
        });
      }
    }
    if (batch.length < CLAIM_BATCH) return result;
  }
}
