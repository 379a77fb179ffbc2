import crypto from 'node:crypto';
import { CreateEventBusCommand, PutRuleCommand, PutTargetsCommand } from '@aws-sdk/client-eventbridge';
import { CreateTopicCommand, SubscribeCommand } from '@aws-sdk/client-sns';
import {
  CreateQueueCommand,
  GetQueueAttributesCommand,
  type Message,
  ReceiveMessageCommand,
} from '@aws-sdk/client-sqs';
import { EVENT_SOURCE, EventBridgePublisher } from '../../functions/aws/adapters/eventbridge-publisher';
import { SnsNotificationSink } from '../../functions/aws/adapters/sns-notification-sink';
import { withNoticeMessage } from '../../shared/domain/expiry-notice';
import type { DomainEvent, ExpiryNotification } from '../../shared/domain/types';
import { UnavailableError } from '../../shared/errors';
import { makeNotification, uniqueTenantId } from '../ports/fixtures';
import { motoClients } from './clients';
import { failingAt } from './faults';

const clients = motoClients();
const suffix = crypto.randomBytes(4).toString('hex');

async function queue(name: string): Promise<{ url: string; arn: string }> {
  const created = await clients.sqs.send(new CreateQueueCommand({ QueueName: `${name}-${suffix}` }));
  const url = created.QueueUrl ?? '';
  const attrs = await clients.sqs.send(
    new GetQueueAttributesCommand({ QueueUrl: url, AttributeNames: ['QueueArn'] }),
  );
  return { url, arn: attrs.Attributes?.QueueArn ?? '' };
}

/** Receives until `count` messages arrived or a few empty polls passed. */
async function receive(url: string, count: number): Promise<Message[]> {
  const messages: Message[] = [];
  for (let polls = 0; messages.length < count && polls < 20; polls++) {
    const out = await clients.sqs.send(
      new ReceiveMessageCommand({ QueueUrl: url, MaxNumberOfMessages: 10, WaitTimeSeconds: 0 }),
    );
    messages.push(...(out.Messages ?? []));
    if ((out.Messages ?? []).length === 0) await new Promise((resolve) => setTimeout(resolve, 100));
  }
  return messages;
}

function event(type: DomainEvent['type'], tenantId: string): DomainEvent {
  return { id: crypto.randomUUID(), type, tenantId, occurredAt: '2026-11-28T10:00:00.000Z', data: { n: 1 } };
}

describe('EventBridgePublisher', () => {
  const busName = `reccert-bus-${suffix}`;
  let assignments: { url: string; arn: string };

  beforeAll(async () => {
    await clients.events.send(new CreateEventBusCommand({ Name: busName }));
    assignments = await queue('assignments');
    // The stack's routing: IvrAssignmentRequested on the bus -> the assignment queue.
    await clients.events.send(
      new PutRuleCommand({
        Name: `ivr-${suffix}`,
        EventBusName: busName,
        EventPattern: JSON.stringify({ source: [EVENT_SOURCE], 'detail-type': ['IvrAssignmentRequested'] }),
      }),
    );
    await clients.events.send(
      new PutTargetsCommand({
        Rule: `ivr-${suffix}`,
        EventBusName: busName,
        Targets: [{ Id: 'assignments', Arn: assignments.arn }],
      }),
    );
  });

  it('delivers each event with source reccert, its type as detail-type and the event as detail', async () => {
    const publisher = new EventBridgePublisher(clients.events, { eventBusName: busName });
    const tenantId = uniqueTenantId();
    const requested = event('IvrAssignmentRequested', tenantId);

    await publisher.publish([event('CertificateUploaded', tenantId), requested]);

    const messages = await receive(assignments.url, 1);
    expect(messages).toHaveLength(1);
    const envelope = JSON.parse(messages[0]?.Body ?? '{}') as Record<string, unknown>;
    expect(envelope).toMatchObject({
      source: 'reccert',
      'detail-type': 'IvrAssignmentRequested',
      detail: requested,
    });
  });

  it('sends more than 10 events in several calls', async () => {
    const events = failingAt(clients.events, 'none');
    const publisher = new EventBridgePublisher(events, { eventBusName: busName });

    await publisher.publish(Array.from({ length: 23 }, () => event('CertificateUploaded', 't')));

    expect(events.sent).toEqual(['PutEventsCommand', 'PutEventsCommand', 'PutEventsCommand']);
  });

  it('treats entries the bus rejected (FailedEntryCount) as a failure', async () => {
    const rejecting = Object.assign(Object.create(clients.events), {
      send: async () => ({
        FailedEntryCount: 1,
        Entries: [{ EventId: 'e1' }, { ErrorCode: 'InternalFailure', ErrorMessage: 'try again' }],
      }),
    });
    const publisher = new EventBridgePublisher(rejecting, { eventBusName: busName });

    await expect(
      publisher.publish([event('CertificateUploaded', 't'), event('CertificateDeleted', 't')]),
    ).rejects.toThrow(UnavailableError);
  });

  it('reports throttling as UnavailableError', async () => {
    const publisher = new EventBridgePublisher(failingAt(clients.events, 'PutEventsCommand'), {
      eventBusName: busName,
    });

    await expect(publisher.publish([event('CertificateUploaded', 't')])).rejects.toBeInstanceOf(
      UnavailableError,
    );
  });
});

describe('SnsNotificationSink', () => {
  let topicArn: string;
  let subscriber: { url: string; arn: string };

  beforeAll(async () => {
    topicArn =
      (await clients.sns.send(new CreateTopicCommand({ Name: `reccert-expiry-${suffix}` }))).TopicArn ?? '';
    subscriber = await queue('expiry-subscriber');
    await clients.sns.send(
      new SubscribeCommand({
        TopicArn: topicArn,
        Protocol: 'sqs',
        Endpoint: subscriber.arn,
        Attributes: { RawMessageDelivery: 'true' },
      }),
    );
  });

  it('publishes one message per notification with its text, with tenant and kind attributes', async () => {
    const sink = new SnsNotificationSink(clients.sns, { topicArn });
    const tenantId = uniqueTenantId();
    const notifications: ExpiryNotification[] = Array.from({ length: 12 }, (_, i) =>
      makeNotification({ tenantId, thresholdDays: i, kind: i === 0 ? 'expired' : 'expiring' }),
    );

    await sink.notify(notifications);

    const messages = await receive(subscriber.url, 12);
    const bodies = messages.map((m) => JSON.parse(m.Body ?? '{}') as ExpiryNotification);
    expect(bodies.sort((a, b) => a.thresholdDays - b.thresholdDays)).toEqual(
      notifications.map(withNoticeMessage),
    );
  });

  it('treats entries SNS rejected as a failure', async () => {
    const rejecting = Object.assign(Object.create(clients.sns), {
      send: async () => ({
        Successful: [],
        Failed: [{ Id: 'n0', Code: 'InternalError', SenderFault: false }],
      }),
    });
    const sink = new SnsNotificationSink(rejecting, { topicArn });

    await expect(sink.notify([makeNotification()])).rejects.toBeInstanceOf(UnavailableError);
  });

  it('reports throttling as UnavailableError', async () => {
    const sink = new SnsNotificationSink(failingAt(clients.sns, 'PublishBatchCommand'), { topicArn });

    await expect(sink.notify([makeNotification()])).rejects.toBeInstanceOf(UnavailableError);
  });
});
