/**
 * `EventPublisher` on an EventBridge bus: one entry per domain event, source `reccert`,
 * detail-type = the event type, detail = the event. Rules on the bus route events to their
 * consumers (IvrAssignmentRequested -> the assignment queue).
 */
import {
  type EventBridgeClient,
  PutEventsCommand,
  type PutEventsRequestEntry,
} from '@aws-sdk/client-eventbridge';
import type { DomainEvent } from '../../../shared/domain/types';
import { UnavailableError } from '../../../shared/errors';
import type { EventPublisher } from '../../../shared/ports';
import { callAws } from './aws-errors';

/** The `source` of every reccert event on the bus. */
export const EVENT_SOURCE = 'reccert';
/** PutEvents takes at most 10 entries per call. */
const MAX_ENTRIES = 10;

/** Configuration of {@link EventBridgePublisher}, read once at cold start. */
export interface EventBridgePublisherConfig {
  eventBusName: string;
}

/** Publishes domain events to EventBridge; any entry that fails fails the whole publish. */
export class EventBridgePublisher implements EventPublisher {
  private readonly bus: string;

  constructor(
    private readonly client: EventBridgeClient,
    config: EventBridgePublisherConfig,
  ) {
    this.bus = config.eventBusName;
  }

  async publish(events: DomainEvent[]): Promise<void> {
    for (let i = 0; i < events.length; i += MAX_ENTRIES) {
      const entries: PutEventsRequestEntry[] = events.slice(i, i + MAX_ENTRIES).map((event) => ({
        EventBusName: this.bus,
        Source: EVENT_SOURCE,
        DetailType: event.type,
        Detail: JSON.stringify(event),
        Time: new Date(event.occurredAt),
      }));
      const out = await callAws('The event bus', () =>
        this.client.send(new PutEventsCommand({ Entries: entries })),
      );
      // PutEvents answers 200 even when entries were rejected: partial failure is in the body.
      if ((out.FailedEntryCount ?? 0) > 0) {
        const codes = [...new Set((out.Entries ?? []).map((e) => e.ErrorCode).filter(Boolean))].join(', ');
        throw new UnavailableError(
          `The event bus rejected ${out.FailedEntryCount} of ${entries.length} events (${codes || 'no code'}); retry shortly.`,
        );
      }
    }
  }
}
