/**
 * The SQS event source mapping of the assignment consumer, as `npm run start:aws` plays it:
 * long-polls the queue, invokes the consumer with a real SQS event and deletes only the messages
 * it did not report as failed (ReportBatchItemFailures).
 */
import {
  DeleteMessageBatchCommand,
  type Message,
  ReceiveMessageCommand,
  type SQSClient,
} from '@aws-sdk/client-sqs';
import type { SQSBatchResponse, SQSEvent, SQSRecord } from 'aws-lambda';
import type { Logger } from '../../shared/ports';
import { MOTO_REGION } from '../emulators/moto-resources';

/** The SQS event Lambda's event source mapping builds from received messages. */
export function sqsEvent(messages: Message[], queueArn: string): SQSEvent {
  return {
    Records: messages.map(
      (m): SQSRecord => ({
        messageId: m.MessageId ?? '',
        receiptHandle: m.ReceiptHandle ?? '',
        body: m.Body ?? '',
        attributes: {
          ApproximateReceiveCount: m.Attributes?.ApproximateReceiveCount ?? '1',
          SentTimestamp: m.Attributes?.SentTimestamp ?? String(Date.now()),
          SenderId: m.Attributes?.SenderId ?? 'events.amazonaws.com',
          ApproximateFirstReceiveTimestamp:
            m.Attributes?.ApproximateFirstReceiveTimestamp ?? String(Date.now()),
        },
        messageAttributes: {},
        md5OfBody: m.MD5OfBody ?? '',
        eventSource: 'aws:sqs',
        eventSourceARN: queueArn,
        awsRegion: MOTO_REGION,
      }),
    ),
  };
}

/** Polls `queueUrl` and hands what arrives to `consumer` until stopped. */
export function startSqsEventSource(options: {
  sqs: SQSClient;
  queueUrl: string;
  queueArn: string;
  consumer: (event: SQSEvent) => Promise<unknown>;
  logger: Logger;
}): { stop(): Promise<void> } {
  const { sqs, queueUrl, queueArn, consumer, logger } = options;
  const polling = new AbortController();
  const poller = (async () => {
    while (!polling.signal.aborted) {
      try {
        const out = await sqs.send(
          new ReceiveMessageCommand({
            QueueUrl: queueUrl,
            MaxNumberOfMessages: 10,
            WaitTimeSeconds: 1,
            MessageSystemAttributeNames: ['All'],
          }),
          { abortSignal: polling.signal },
        );
        const messages = out.Messages ?? [];
        if (messages.length === 0) continue;
        const result = (await consumer(sqsEvent(messages, queueArn))) as SQSBatchResponse;
        const failed = new Set(result.batchItemFailures.map((f) => f.itemIdentifier));
        const done = messages.filter((m) => !failed.has(m.MessageId ?? ''));
        if (done.length > 0) {
          await sqs.send(
            new DeleteMessageBatchCommand({
              QueueUrl: queueUrl,
              Entries: done.map((m, i) => ({ Id: String(i), ReceiptHandle: m.ReceiptHandle ?? '' })),
            }),
          );
        }
      } catch (error) {
        if (polling.signal.aborted) break;
        logger.warn('assignment queue poll failed', {
          error: error instanceof Error ? error.message : String(error),
        });
        await new Promise((r) => setTimeout(r, 1_000));
      }
    }
  })();
  return {
    async stop() {
      polling.abort();
      await poller.catch(() => undefined);
    },
  };
}
