/**
 * The IVR assignment consumer: a Storage queue trigger on `ivr-assignments`, whose messages are
 * `IvrAssignmentRequested` events (base64 JSON, written by the queue publisher). Applying is
 * idempotent, so a redelivered message changes nothing twice. A failure is thrown: the host
 * makes the message visible again and, after `maxDequeueCount` (host.json: 5) failed attempts,
 * moves it to `ivr-assignments-poison`.
 */
import type { InvocationContext } from '@azure/functions';
import type { DomainEvent } from '../../../shared/domain/types';
import { abandonIvrAssignment, applyIvrAssignment } from '../../../shared/usecases/assignments';
import { describeError } from '../../common/describe-error';
import { decodeQueueMessage } from '../adapters/queue-publisher';
import { type AzureRuntime, defaultRuntime } from '../runtime';

/** host.json `extensions.queues.maxDequeueCount`: the last attempt before the poison queue. */
export const MAX_DEQUEUE_COUNT = 5;

/**
 * The event in a queue item. The host hands the decoded message text over already parsed when it
 * is JSON; a plain string may still be JSON or base64 JSON (a queue with messageEncoding none).
 */
export function eventOfQueueItem(item: unknown): DomainEvent {
  let value = item;
  if (typeof value === 'string') {
    const text = value.trim();
    value = text.startsWith('{') ? JSON.parse(text) : decodeQueueMessage<unknown>(text);
  }
  if (typeof value !== 'object' || value === null || typeof (value as { type?: unknown }).type !== 'string') {
    throw new Error('The queue message is not a domain event.');
  }
  return value as DomainEvent;
}

/** The consumer over a runtime. */
export function assignmentQueueFunction(
  getRuntime: () => Promise<AzureRuntime>,
): (queueItem: unknown, context: InvocationContext) => Promise<void> {
  return async (queueItem, context) => {
    const runtime = await getRuntime();
    const { logger } = runtime.deps;
    // Ids and counts only: never the message body.
    const meta = { invocationId: context.invocationId, dequeueCount: context.triggerMetadata?.dequeueCount };
    let event: DomainEvent | undefined;
    try {
      event = eventOfQueueItem(queueItem);
      const outcome = await applyIvrAssignment(runtime.deps, event);
      logger.info('assignment message', { ...meta, outcome });
    } catch (error) {
      logger.error('assignment message failed', { ...meta, error: describeError(error) });
      if (event !== undefined && Number(meta.dequeueCount) >= MAX_DEQUEUE_COUNT) {
        // The host moves the message to the poison queue next: nothing will apply it, so its
        // certificate must not stay "in use" by it (the mark would lapse anyway, later).
        await abandonIvrAssignment(runtime.deps, event, `not applied after ${meta.dequeueCount} attempts`);
      }
      throw error;
    }
  };
}

/** The queue trigger's handler: the default runtime's consumer. */
export const handleAssignmentMessage: (queueItem: unknown, context: InvocationContext) => Promise<void> =
  assignmentQueueFunction(defaultRuntime);
