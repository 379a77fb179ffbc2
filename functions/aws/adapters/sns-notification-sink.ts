/**
 * `NotificationSink` on an SNS topic: one message per expiry notification (JSON body: the
 * notification and its text, `message`), with message attributes `tenantId` and `kind` so
 * subscribers can filter.
 */
import { PublishBatchCommand, type PublishBatchRequestEntry, type SNSClient } from '@aws-sdk/client-sns';
import { withNoticeMessage } from '../../../shared/domain/expiry-notice';
import type { ExpiryNotification } from '../../../shared/domain/types';
import { UnavailableError } from '../../../shared/errors';
import type { NotificationSink } from '../../../shared/ports';
import { callAws } from './aws-errors';

/** PublishBatch takes at most 10 entries per call. */
const MAX_ENTRIES = 10;

/** Configuration of {@link SnsNotificationSink}, read once at cold start. */
export interface SnsNotificationSinkConfig {
  topicArn: string;
}

/** Sends expiry notifications to SNS; any entry that fails fails the whole call. */
export class SnsNotificationSink implements NotificationSink {
  private readonly topicArn: string;

  constructor(
    private readonly client: SNSClient,
    config: SnsNotificationSinkConfig,
  ) {
    this.topicArn = config.topicArn;
  }

  async notify(notifications: ExpiryNotification[]): Promise<void> {
    for (let i = 0; i < notifications.length; i += MAX_ENTRIES) {
      const entries: PublishBatchRequestEntry[] = notifications.slice(i, i + MAX_ENTRIES).map((n, index) => ({
        Id: `n${index}`,
        Subject: subject(n),
        Message: JSON.stringify(withNoticeMessage(n)),
        MessageAttributes: {
          tenantId: { DataType: 'String', StringValue: n.tenantId },
          kind: { DataType: 'String', StringValue: n.kind },
        },
      }));
      const out = await callAws('The notification topic', () =>
        this.client.send(
          new PublishBatchCommand({ TopicArn: this.topicArn, PublishBatchRequestEntries: entries }),
        ),
      );
      const failed = out.Failed ?? [];
      if (failed.length > 0) {
        const codes = [...new Set(failed.map((f) => f.Code).filter(Boolean))].join(', ');
        throw new UnavailableError(
          `The notification topic rejected ${failed.length} of ${entries.length} messages (${codes || 'no code'}); retry shortly.`,
        );
      }
    }
  }
}

function subject(n: ExpiryNotification): string {
  // SNS subjects: at most 100 printable ASCII characters.
  const text =
    n.kind === 'expired'
      ? `reccert: certificate ${n.certificateId} has expired`
      : `reccert: certificate ${n.certificateId} expires in ${n.thresholdDays} days`;
  return text.replace(/[^\x20-\x7e]/g, '?').slice(0, 100);
}
