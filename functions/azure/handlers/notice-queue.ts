/**
 * Webhook delivery on Azure: a Storage queue trigger on `expiry-notifications` (the scan's
 * messages) posts each notice to `RECCERT_WEBHOOK_URL`. The queue is the outbox. An attempt that
 * is not acknowledged puts the notice back on the queue, invisible for the back-off (1, 2, 4, …
 * s, at most 60), with its attempt count, and only then completes: the message is never lost and
 * never dropped into the poison queue for a receiver that is merely down. A failure to re-queue
 * is thrown, so the host redelivers the original (its own retry, then `expiry-notifications-poison`).
 */
import type { InvocationContext } from '@azure/functions';
import type { QueueClient } from '@azure/storage-queue';
import type { Logger } from '../../../shared/ports';
import { noticeDelivery } from '../../../shared/usecases/notice-delivery';
import { postWebhook, type WebhookSettings, webhookBackoffMs } from '../../../shared/webhook';
import { readWebhookSettings } from '../../common/webhook-settings';
import type { ExpiryNotificationMessage } from '../adapters/queue-notification-sink';
import { decodeQueueMessage, encodeQueueMessage, QUEUE_NAMES } from '../adapters/queue-publisher';
import { defaultRuntime } from '../runtime';

/** A notice message as this function re-queues it: the scan's message plus the failed attempts. */
export type NoticeMessage = ExpiryNotificationMessage & { attempts?: number };

/** What the function needs, made once per worker. */
export interface NoticeQueueParts {
  queue: QueueClient;
  settings: WebhookSettings | undefined;
  logger: Logger;
}

function noticeOf(item: unknown): NoticeMessage {
  const value =
    typeof item === 'string'
      ? item.trim().startsWith('{')
        ? JSON.parse(item)
        : decodeQueueMessage(item)
      : item;
  if (
    typeof value !== 'object' ||
    value === null ||
    (value as { type?: unknown }).type !== 'ExpiryNotification'
  ) {
    throw new Error('The queue message is not an expiry notification.');
  }
  return value as NoticeMessage;
}

/** The trigger's handler over its parts. */
export function noticeQueueFunction(
  getParts: () => Promise<NoticeQueueParts>,
): (queueItem: unknown, context: InvocationContext) => Promise<void> {
  return async (queueItem, context) => {
    const { queue, settings, logger } = await getParts();
    const message = noticeOf(queueItem);
    const { id, body } = noticeDelivery(message.notification);
    const meta = { invocationId: context.invocationId, deliveryId: id };
    // Registered only with a webhook (index.ts); without one the message is left to the host.
    if (!settings) throw new Error('RECCERT_WEBHOOK_URL is not set for the notice function.');
    const outcome = await postWebhook(settings, id, body);
    if (outcome.delivered) {
      logger.info('webhook notice delivered', { ...meta, status: outcome.status });
      return;
    }
    const attempts = (message.attempts ?? 0) + 1;
    const waitMs = webhookBackoffMs(attempts, settings.backoffBaseMs);
    await queue.sendMessage(encodeQueueMessage({ ...message, attempts } satisfies NoticeMessage), {
      visibilityTimeout: Math.max(1, Math.ceil(waitMs / 1000)),
    });
    logger.warn('webhook notice not delivered; will retry', {
      ...meta,
      attempts,
      retryInMs: waitMs,
      reason: outcome.reason,
    });
  };
}

let defaultParts: Promise<NoticeQueueParts> | undefined;

/** The queue trigger's handler: the default runtime's queue, settings read once per worker. */
export const handleNoticeMessage: (queueItem: unknown, context: InvocationContext) => Promise<void> =
  noticeQueueFunction(() => {
    defaultParts ??= defaultRuntime().then((runtime) => ({
      queue: runtime.queueClient(QUEUE_NAMES.expiryNotifications),
      settings: readWebhookSettings(process.env),
      logger: runtime.deps.logger,
    }));
    return defaultParts;
  });
