/**
 * The IVR assignment consumer: an SQS event source whose messages are EventBridge envelopes of
 * `IvrAssignmentRequested` events (the bus rule targets the queue). Each record is applied on
 * its own; only the failed ones are reported back (ReportBatchItemFailures), so SQS redelivers
 * just those, and after five receives the DLQ (with its alarm) keeps them. Applying is
 * idempotent, so a redelivered message changes nothing twice.
 */
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { EventBridgeClient } from '@aws-sdk/client-eventbridge';
import type { SQSBatchResponse, SQSEvent } from 'aws-lambda';
import type { DomainEvent } from '../../../shared/domain/types';
import { abandonIvrAssignment, applyIvrAssignment } from '../../../shared/usecases/assignments';
import type { CoreDeps } from '../../../shared/usecases/deps';
import { once } from '../../common/once';
import { DynamoDbCertificateRepository } from '../adapters/dynamodb-repository';
import { EventBridgePublisher } from '../adapters/eventbridge-publisher';
import { coreDeps, requireEnv } from '../runtime';

/** The queue's redrive policy (`maxReceiveCount` in infra/aws): the last receive before the DLQ. */
export const MAX_RECEIVE_COUNT = 5;

/** The SDK clients the consumer uses. */
export interface ConsumerClients {
  dynamodb: DynamoDBClient;
  events: EventBridgeClient;
}

/** The consumer's deps from its clients and environment. */
export function consumerDeps(clients: ConsumerClients, env: NodeJS.ProcessEnv = process.env): CoreDeps {
  return coreDeps(
    'assignment-consumer',
    {
      repo: new DynamoDbCertificateRepository(clients.dynamodb, { tableName: requireEnv('TABLE_NAME', env) }),
      events: new EventBridgePublisher(clients.events, { eventBusName: requireEnv('EVENT_BUS_NAME', env) }),
    },
    env,
  );
}

/** The domain event inside an SQS message body (an EventBridge envelope: `detail`). */
export function eventOfMessage(body: string): DomainEvent {
  const envelope = JSON.parse(body) as { detail?: unknown };
  const detail = envelope.detail;
  if (typeof detail !== 'object' || detail === null)
    throw new Error('The message is not an EventBridge event.');
  return detail as DomainEvent;
}

/** A consumer over the given deps (built on first use). */
export function assignmentConsumer(makeDeps: () => CoreDeps): (event: SQSEvent) => Promise<SQSBatchResponse> {
  const deps = once(makeDeps);
  return async (event) => {
    const failures: SQSBatchResponse['batchItemFailures'] = [];
    // One at a time: records of one tenant contend for the same assignment item anyway.
    for (const record of event.Records) {
      let domainEvent: DomainEvent | undefined;
      try {
        domainEvent = eventOfMessage(record.body);
        const outcome = await applyIvrAssignment(deps(), domainEvent);
        deps().logger.info('assignment message', { messageId: record.messageId, outcome });
      } catch (error) {
        const receiveCount = Number(record.attributes?.ApproximateReceiveCount);
        // Ids and the error's name only: never the message body.
        deps().logger.error('assignment message failed', {
          messageId: record.messageId,
          receiveCount: record.attributes?.ApproximateReceiveCount,
          error: error instanceof Error ? `${error.name}: ${error.message}` : String(error),
        });
        if (domainEvent !== undefined && receiveCount >= MAX_RECEIVE_COUNT) {
          // SQS moves the message to the DLQ next: nothing will apply it, so its certificate
          // must not stay "in use" by it (the mark would lapse anyway, later).
          await abandonIvrAssignment(deps(), domainEvent, `not applied after ${receiveCount} attempts`);
        }
        failures.push({ itemIdentifier: record.messageId });
      }
    }
    return { batchItemFailures: failures };
  };
}

/** Lambda entry point (SQS event source with ReportBatchItemFailures). */
export const handler = assignmentConsumer(() =>
  consumerDeps({ dynamodb: new DynamoDBClient({}), events: new EventBridgeClient({}) }),
);
