import type { QueueClient } from '@azure/storage-queue';
import { StorageQueueNotificationSink } from '../../functions/azure/adapters/queue-notification-sink';
import {
  DEFAULT_QUEUE_ROUTES,
  decodeQueueMessage,
  encodeQueueMessage,
  QUEUE_NAMES,
  StorageQueuePublisher,
} from '../../functions/azure/adapters/queue-publisher';
import { withNoticeMessage } from '../../shared/domain/expiry-notice';
import type { DomainEvent } from '../../shared/domain/types';
import { UnavailableError } from '../../shared/errors';
import { makeNotification } from '../ports/fixtures';
import { azuriteQueue, uniqueQueueName } from './clients';
import { injectFault, serviceError } from './faults';

async function drain(queue: QueueClient): Promise<string[]> {
  const texts: string[] = [];
  for (;;) {
    const received = await queue.receiveMessages({ numberOfMessages: 32, visibilityTimeout: 60 });
    if (received.receivedMessageItems.length === 0) return texts;
    for (const item of received.receivedMessageItems) texts.push(item.messageText);
  }
}

function event(type: DomainEvent['type'], id: string): DomainEvent {
  return { id, type, tenantId: 'tenant-q', occurredAt: '2026-01-01T00:00:00.000Z', data: { requestId: id } };
}

describe('StorageQueuePublisher on Azurite', () => {
  const created: QueueClient[] = [];

  afterEach(async () => {
    await Promise.all(created.splice(0).map((q) => q.deleteIfExists()));
  });

  function queueNamed(name: string): QueueClient {
    const queue = azuriteQueue(name);
    created.push(queue);
    return queue;
  }

  it('sends each routed event to its consumer’s queue as base64 JSON, in order', async () => {
    const name = uniqueQueueName('ivr');
    const queue = queueNamed(name);
    await queue.create();
    const publisher = new StorageQueuePublisher(() => queue, { IvrAssignmentRequested: [name] });
    const events = [event('IvrAssignmentRequested', 'e1'), event('IvrAssignmentRequested', 'e2')];

    await publisher.publish(events);

    const texts = await drain(queue);
    expect(texts.map((t) => decodeQueueMessage<DomainEvent>(t))).toEqual(events);
    expect(texts[0]).toBe(Buffer.from(JSON.stringify(events[0])).toString('base64'));
  });

  it('sends events without a consumer nowhere', async () => {
    const name = uniqueQueueName('ivr');
    const queue = queueNamed(name);
    await queue.create();
    const publisher = new StorageQueuePublisher(() => queue, { IvrAssignmentRequested: [name] });

    await publisher.publish([event('CertificateUploaded', 'u1')]);

    expect(await drain(queue)).toEqual([]);
  });

  it('routes assignment requests to ivr-assignments by default', () => {
    expect(DEFAULT_QUEUE_ROUTES.IvrAssignmentRequested).toEqual([QUEUE_NAMES.ivrAssignments]);
  });

  it('reports a throttled send as unavailable with the retry hint, after sending what came before', async () => {
    const name = uniqueQueueName('ivr');
    const queue = queueNamed(name);
    await queue.create();
    const throttled = injectFault(queue, 'sendMessage', serviceError(503, { 'Retry-After': '3' }), {
      onCall: 2,
    });
    const publisher = new StorageQueuePublisher(() => throttled, { IvrAssignmentRequested: [name] });

    const error = await publisher
      .publish([event('IvrAssignmentRequested', 'ok'), event('IvrAssignmentRequested', 'lost')])
      .catch((e: unknown) => e);

    expect(error).toBeInstanceOf(UnavailableError);
    expect((error as UnavailableError).retryAfterSeconds).toBe(3);
    expect((await drain(queue)).map((t) => decodeQueueMessage<DomainEvent>(t).id)).toEqual(['ok']);
  });

  it('refuses a message too large for a queue', () => {
    expect(() => encodeQueueMessage({ blob: 'x'.repeat(50 * 1024) })).toThrow(/limited/);
  });
});

describe('StorageQueueNotificationSink on Azurite', () => {
  it('sends one tagged base64 JSON message per notification', async () => {
    const queue = azuriteQueue(uniqueQueueName('expiry'));
    await queue.create();
    try {
      const notifications = [makeNotification(), makeNotification({ kind: 'expired', thresholdDays: 0 })];

      await new StorageQueueNotificationSink(queue).notify(notifications);

      expect((await drain(queue)).map((t) => decodeQueueMessage(t))).toEqual(
        notifications.map((notification) => ({
          type: 'ExpiryNotification',
          notification: withNoticeMessage(notification),
        })),
      );
    } finally {
      await queue.deleteIfExists();
    }
  });
});
