/**
 * The Functions host's triggers as `npm run start:azure` plays them for the REAL exported
 * handlers (functions/azure/handlers): the queue trigger of `ivr-assignments` (polls the queue,
 * invokes the consumer, deletes the message on success, and after `maxDequeueCount` (host.json)
 * failed attempts moves it to `ivr-assignments-poison`, as the host does) and the timer trigger
 * of the daily expiry scan.
 */
import { randomUUID } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { InvocationContext, type Timer } from '@azure/functions';
import type { QueueClient } from '@azure/storage-queue';
import { QUEUE_NAMES } from '../../functions/azure/adapters/queue-publisher';
import { handleAssignmentMessage } from '../../functions/azure/handlers/assignment-queue';
import { handleExpiryTimer } from '../../functions/azure/handlers/expiry-timer';
import { msUntilNextScan } from '../../functions/common/schedule';
import type { Logger } from '../../shared/ports';

const ROOT = resolve(__dirname, '../..');

/** The poison queue the host uses for `ivr-assignments`. */
export const POISON_QUEUE = `${QUEUE_NAMES.ivrAssignments}-poison`;

/** The queue trigger settings of host.json (the same file the deployed app uses). */
export function queueSettings(): { maxDequeueCount: number; visibilityTimeoutSeconds: number } {
  const host = JSON.parse(readFileSync(join(ROOT, 'host.json'), 'utf8')) as {
    extensions?: { queues?: { maxDequeueCount?: number; visibilityTimeout?: string } };
  };
  const queues = host.extensions?.queues ?? {};
  const [h = 0, m = 0, s = 0] = (queues.visibilityTimeout ?? '00:00:00').split(':').map(Number);
  return { maxDequeueCount: queues.maxDequeueCount ?? 5, visibilityTimeoutSeconds: h * 3600 + m * 60 + s };
}

/**
 * The queue trigger: receives messages, invokes the consumer with the decoded message (parsed
 * when it is JSON, as the host does), deletes on success, and moves a message that failed
 * `maxDequeueCount` times to the poison queue. Failed messages become visible again after the
 * visibility timeout of host.json.
 */
export function startQueueTrigger(
  queue: QueueClient,
  poison: QueueClient,
  logger: Logger,
  settings = queueSettings(),
): { stop(): Promise<void> } {
  let stopped = false;
  let wake: (() => void) | undefined;
  const sleep = (ms: number) =>
    new Promise<void>((r) => {
      const timer = setTimeout(r, ms);
      wake = () => {
        clearTimeout(timer);
        r();
      };
    });
  const loop = (async () => {
    let idleMs = 50;
    while (!stopped) {
      try {
        const received = await queue.receiveMessages({
          numberOfMessages: 16,
          visibilityTimeout: Math.max(1, settings.visibilityTimeoutSeconds),
        });
        const items = received.receivedMessageItems;
        if (items.length === 0) {
          // Like the host: poll often while busy, back off (to 1 s here) while idle.
          await sleep(idleMs);
          idleMs = Math.min(1_000, idleMs * 2);
          continue;
        }
        idleMs = 50;
        for (const item of items) {
          const text = Buffer.from(item.messageText, 'base64').toString('utf8');
          let queueItem: unknown = text;
          try {
            queueItem = JSON.parse(text);
          } catch {
            // Not JSON: the handler gets the string, as from the host.
          }
          const context = new InvocationContext({
            invocationId: randomUUID(),
            functionName: 'ivrAssignmentConsumer',
            triggerMetadata: {
              id: item.messageId,
              dequeueCount: item.dequeueCount,
              insertionTime: item.insertedOn,
            },
          });
          try {
            await handleAssignmentMessage(queueItem, context);
            await queue.deleteMessage(item.messageId, item.popReceipt);
          } catch (error) {
            if (item.dequeueCount >= settings.maxDequeueCount) {
              await poison.sendMessage(item.messageText);
              await queue.deleteMessage(item.messageId, item.popReceipt);
              logger.warn('assignment message moved to the poison queue', {
                messageId: item.messageId,
                dequeueCount: item.dequeueCount,
              });
            } else {
              logger.warn('assignment message will be retried', {
                messageId: item.messageId,
                dequeueCount: item.dequeueCount,
                error: error instanceof Error ? error.name : 'unknown',
              });
            }
          }
        }
      } catch (error) {
        if (stopped) break;
        logger.warn('assignment queue poll failed', {
          error: error instanceof Error ? error.message : String(error),
        });
        await sleep(1_000);
      }
    }
  })();
  return {
    async stop() {
      stopped = true;
      wake?.();
      await loop;
    },
  };
}

/** The hour (UTC) of EXPIRY_SCAN_SCHEDULE. */
const SCAN_HOUR_UTC = 2;

/** The timer trigger (02:00 UTC daily, as EXPIRY_SCAN_SCHEDULE). */
export function startTimerTrigger(logger: Logger): { stop(): void } {
  let timer: NodeJS.Timeout | undefined;
  const schedule = () => {
    timer = setTimeout(
      () => {
        const now = new Date().toISOString();
        const info: Timer = {
          isPastDue: false,
          schedule: { adjustForDST: false },
          scheduleStatus: {
            last: now,
            next: new Date(Date.now() + msUntilNextScan(new Date(), SCAN_HOUR_UTC)).toISOString(),
            lastUpdated: now,
          },
        };
        handleExpiryTimer(
          info,
          new InvocationContext({ invocationId: randomUUID(), functionName: 'expiryScanDaily' }),
        )
          .catch((error: unknown) => logger.error('scheduled expiry scan failed', { error: String(error) }))
          .finally(schedule);
      },
      msUntilNextScan(new Date(), SCAN_HOUR_UTC),
    );
    timer.unref();
  };
  schedule();
  return { stop: () => clearTimeout(timer) };
}
