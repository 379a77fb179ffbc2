import crypto from 'node:crypto';
import type { InvocationContext } from '@azure/functions';
import { StorageQueueNotificationSink } from '../../functions/azure/adapters/queue-notification-sink';
import { noticeQueueFunction } from '../../functions/azure/handlers/notice-queue';
import { readWebhookSettings } from '../../functions/common/webhook-settings';
import type { ExpiryNotification } from '../../shared/domain/types';
import { jsonLogger } from '../../shared/logging';
import { deliveryReport, startWebhookReceiver, type WebhookReceiver } from '../helpers/webhook-receiver';
import { azuriteQueue } from './clients';

const SECRET = 'azure-webhook-secret-0123';
let receiver: WebhookReceiver;
const queue = azuriteQueue(`notices-${crypto.randomBytes(4).toString('hex')}`);

beforeAll(async () => {
  receiver = await startWebhookReceiver(SECRET);
  await queue.createIfNotExists();
});
afterAll(async () => {
  await receiver.close();
  await queue.deleteIfExists();
});

/** A worker's instance of the function (a new one: nothing carried over but the queue). */
const worker = () =>
  noticeQueueFunction(async () => ({
    queue,
    settings: readWebhookSettings({
      RECCERT_WEBHOOK_URL: receiver.url,
      RECCERT_WEBHOOK_SECRET: SECRET,
      RECCERT_WEBHOOK_BACKOFF_MS: '100',
      RECCERT_WEBHOOK_TIMEOUT_MS: '500',
    }),
    logger: jsonLogger('silent'),
  }));

/** What the Functions host does: receive visible messages, run the function, delete on success. */
async function hostUntil(fn: ReturnType<typeof worker>, done: () => boolean, what: string): Promise<void> {
  const deadline = Date.now() + 90_000;
  while (!done()) {
    if (Date.now() > deadline) throw new Error(`${what} did not happen within 90 s`);
    const { receivedMessageItems } = await queue.receiveMessages({
      numberOfMessages: 16,
      visibilityTimeout: 30,
    });
    for (const message of receivedMessageItems) {
      try {
        await fn(message.messageText, { invocationId: crypto.randomUUID() } as InvocationContext);
        await queue.deleteMessage(message.messageId, message.popReceipt);
      } catch {
        // Left on the queue: the host would make it visible again.
      }
    }
    await new Promise((r) => setTimeout(r, 100));
  }
}

function notice(i: number): ExpiryNotification {
  return {
    tenantId: 'azure-hooks',
    certificateId: `cert-${i}`,
    kind: 'expiring',
    thresholdDays: 30,
    notAfter: '2027-01-01T00:00:00.000Z',
    createdAt: '2026-12-02T02:00:00.000Z',
    activeIn: { ivrProfiles: ['record'], screenRecording: false },
    replacementAvailable: false,
  };
}

describe('the Azure notice queue function over Azurite', () => {
  it('delivers every notice on expiry-notifications, signed, through an outage, a timeout and a new worker', async () => {
    const notices = [1, 2, 3].map(notice);
    await new StorageQueueNotificationSink(queue).notify(notices);
    const keys = notices.map((n) => `${n.tenantId}/${n.certificateId}/${n.thresholdDays}`).sort();
    const attempts = (key: string) =>
      receiver.received.filter((r) => {
        const n = JSON.parse(r.body).notification;
        return `${n.tenantId}/${n.certificateId}/${n.thresholdDays}` === key;
      }).length;

    await hostUntil(worker(), () => keys.every((k) => attempts(k) >= 2), 'two refused attempts per notice');
    receiver.setMode('hang-once');
    await hostUntil(
      worker(),
      () => deliveryReport(receiver.received).acceptedKeys.length === keys.length,
      'every notice accepted',
    );
    // Nothing left to deliver: the queue drains empty, and no id is sent again.
    await new Promise((r) => setTimeout(r, 2500));
    const left = await queue.receiveMessages({ numberOfMessages: 16 });
    expect(left.receivedMessageItems).toEqual([]);

    const report = deliveryReport(receiver.received);
    expect(receiver.received.some((r) => r.answer === 'timed-out')).toBe(true);
    expect(report.acceptedKeys).toEqual(keys);
    expect(report.badSignatures).toBe(0);
    expect(report.idMismatches).toBe(0);
    expect(report.afterAcceptance).toEqual([]);
    for (const key of keys) expect(report.idsPerKey[key]).toHaveLength(1);
  });
});
