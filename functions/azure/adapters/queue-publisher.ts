/**
 * Domain events onto Azure Storage queues, one queue per consumer (DESIGN section 5). Messages are
 * base64-encoded JSON, the encoding the Functions queue trigger expects by default.
 */
import type { QueueClient } from '@azure/storage-queue';
import type { DomainEvent, DomainEventType } from '../../../shared/domain/types';
import type { EventPublisher } from '../../../shared/ports';
import { callAzure } from './azure-errors';

/** Queue names (Bicep creates the same ones). */
export const QUEUE_NAMES = {
  ivrAssignments: 'ivr-assignments',
  expiryNotifications: 'expiry-notifications',
} as const;

/** Which queues receive each event type; types without a consumer are not sent anywhere. */
export type QueueRoutes = Partial<Record<DomainEventType, readonly string[]>>;

/** The Azure runtime's consumers: the IVR assignment function reads `ivr-assignments`. */
export const DEFAULT_QUEUE_ROUTES: QueueRoutes = {
  IvrAssignmentRequested: [QUEUE_NAMES.ivrAssignments],
};

/** Storage queues give a message at most 64 KiB; base64 makes 48 KiB of JSON into 64. */
const MAX_JSON_BYTES = 48 * 1024;

/** Encodes a payload as a queue message (base64 of its JSON). */
export function encodeQueueMessage(payload: unknown): string {
  const json = Buffer.from(JSON.stringify(payload), 'utf8');
  if (json.length > MAX_JSON_BYTES)
    throw new Error(`A queue message is limited to ${MAX_JSON_BYTES} bytes of JSON.`);
  return json.toString('base64');
}

/** Decodes a queue message written by {@link encodeQueueMessage}. */
export function decodeQueueMessage<T>(text: string): T {
  return JSON.parse(Buffer.from(text, 'base64').toString('utf8')) as T;
}

/**
 * `EventPublisher` on Storage queues. Events are sent in order, one message each; if a send fails
 * the error is thrown (as `UnavailableError` when a retry may help) and a retry may send some
 * events again, which is harmless because consumers deduplicate on the event id.
 */
export class StorageQueuePublisher implements EventPublisher {
  private readonly clients = new Map<string, QueueClient>();

  /**
   * @param queueFor returns the client for a queue name (created once per name and kept).
   * @param routes which queues each event type goes to.
   */
  constructor(
    private readonly queueFor: (queueName: string) => QueueClient,
    private readonly routes: QueueRoutes = DEFAULT_QUEUE_ROUTES,
  ) {}

  async publish(events: DomainEvent[]): Promise<void> {
    for (const event of events) {
      const message = encodeQueueMessage(event);
      for (const queueName of this.routes[event.type] ?? []) {
        await callAzure('Storage queue', () => this.client(queueName).sendMessage(message));
      }
    }
  }

  private client(queueName: string): QueueClient {
    let client = this.clients.get(queueName);
    if (client === undefined) {
      client = this.queueFor(queueName);
      this.clients.set(queueName, client);
    }
    return client;
  }
}

/** Creates the queues if missing (deployments create them in Bicep; tests and local runs here). */
export async function ensureQueues(queueFor: (queueName: string) => QueueClient, names: readonly string[]) {
  for (const name of names) await callAzure('Storage queue', () => queueFor(name).createIfNotExists());
}
