/**
 * The local runtime's event queue: events are handed to their consumers asynchronously, after
 * the request that published them has returned, as a cloud queue would. Failed deliveries are
 * retried with back-off, then dropped to a dead-letter list (logged).
 */
import type { DomainEvent, DomainEventType } from '../../shared/domain/types';
import type { EventPublisher, Logger } from '../../shared/ports';

export type EventConsumer = (event: DomainEvent) => Promise<unknown>;

/** Called once when a consumer failed on an event for the last time, before it is dead-lettered. */
export type GiveUpHandler = (event: DomainEvent, reason: string) => Promise<unknown>;

interface Subscription {
  consume: EventConsumer;
  giveUp: GiveUpHandler | undefined;
}

const MAX_ATTEMPTS = 5;

export class InProcessEventQueue implements EventPublisher {
  private readonly consumers = new Map<DomainEventType, Subscription[]>();
  private readonly pending: { event: DomainEvent; consumer: Subscription; attempt: number }[] = [];
  private inFlight = 0;
  private draining = false;
  private waiters: (() => void)[] = [];
  readonly deadLetters: DomainEvent[] = [];
  /** Observers see every published event (webhooks, tests). */
  private readonly observers: ((event: DomainEvent) => void)[] = [];

  constructor(private readonly logger: Logger) {}

  /**
   * Delivers events of `type` to `consumer`; `giveUp` runs when the last attempt failed, as the
   * clouds' consumers do on their final delivery (an assignment's pending mark is cleared there).
   */
  subscribe(type: DomainEventType, consumer: EventConsumer, giveUp?: GiveUpHandler): void {
    this.consumers.set(type, [...(this.consumers.get(type) ?? []), { consume: consumer, giveUp }]);
  }

  observe(observer: (event: DomainEvent) => void): void {
    this.observers.push(observer);
  }

  async publish(events: DomainEvent[]): Promise<void> {
    for (const event of events) {
      for (const observer of this.observers) observer(event);
      for (const consumer of this.consumers.get(event.type) ?? [])
        this.pending.push({ event, consumer, attempt: 1 });
    }
    this.schedule();
  }

  /** Resolves when every queued delivery has been handled. */
  idle(): Promise<void> {
    if (this.pending.length === 0 && this.inFlight === 0) return Promise.resolve();
    return new Promise((resolve) => this.waiters.push(resolve));
  }

  private schedule(): void {
    if (this.draining) return;
    this.draining = true;
    setImmediate(() => {
      this.draining = false;
      this.drain();
    });
  }

  private drain(): void {
    while (this.pending.length > 0) {
      const item = this.pending.shift()!;
      this.inFlight++;
      item.consumer
        .consume(item.event)
        .catch(async (error) => {
          if (item.attempt >= MAX_ATTEMPTS) {
            this.deadLetters.push(item.event);
            this.logger.error('event dead-lettered', {
              type: item.event.type,
              id: item.event.id,
              error: String(error),
            });
            try {
              await item.consumer.giveUp?.(item.event, `not applied after ${item.attempt} attempts`);
            } catch (giveUpError) {
              this.logger.error('giving up on a dead-lettered event failed', {
                type: item.event.type,
                id: item.event.id,
                error: String(giveUpError),
              });
            }
            return;
          }
          const delay = 20 * 2 ** item.attempt;
          this.inFlight++;
          setTimeout(() => {
            this.inFlight--;
            this.pending.push({ ...item, attempt: item.attempt + 1 });
            this.schedule();
          }, delay);
        })
        .finally(() => {
          this.inFlight--;
          this.notifyIdle();
        });
    }
  }

  private notifyIdle(): void {
    if (this.pending.length === 0 && this.inFlight === 0) {
      const waiters = this.waiters;
      this.waiters = [];
      for (const w of waiters) w();
    }
  }
}
