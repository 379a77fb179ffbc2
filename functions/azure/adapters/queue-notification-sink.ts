/**
 * Expiry notifications onto the `expiry-notifications` Storage queue, one base64 JSON message per
 * notification, for whatever mails or tickets them (DESIGN section 5: timer trigger -> queue).
 */
import type { QueueClient } from '@azure/storage-queue';
import { withNoticeMessage } from '../../../shared/domain/expiry-notice';
import type { ExpiryNotification } from '../../../shared/domain/types';
import type { NotificationSink } from '../../../shared/ports';
import { callAzure } from './azure-errors';
import { encodeQueueMessage } from './queue-publisher';

/**
 * The message body: the notification with its text (`message`), tagged so a reader can tell it
 * from other messages.
 */
export interface ExpiryNotificationMessage {
  type: 'ExpiryNotification';
  notification: ExpiryNotification & { message?: string };
}

/**
 * `NotificationSink` on a Storage queue. A notification is recorded once in the repository before
 * it reaches the sink, so a retried scan may send a message again only if sending failed before.
 */
export class StorageQueueNotificationSink implements NotificationSink {
  constructor(private readonly queue: QueueClient) {}

  async notify(notifications: ExpiryNotification[]): Promise<void> {
    for (const notification of notifications) {
      const body: ExpiryNotificationMessage = {
        type: 'ExpiryNotification',
        notification: withNoticeMessage(notification),
      };
      await callAzure('Storage queue', () => this.queue.sendMessage(encodeQueueMessage(body)));
    }
  }
}
