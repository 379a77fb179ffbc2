/**
 * The local runtime's event queue: events are handed to their consumers asynchronously, after
 * the request that published them has returned, as a cloud queue would. Failed deliveries are
 * retried with back-off, then dropped to a dead-letter list (logged).
 */
import type { DomainEvent, DomainEventType } from '../../shared/domain/types';
import type { EventPublisher, Logger } from '../../shared/ports';

export type EventConsumer = (event: DomainEvent) => Promise<unknown>;

const MAX_ATTEMPTS = 5;

export class InProcessEventQueue implements EventPublisher {
  private readonly consumers = new Map<DomainEventType, EventConsumer[]>();
  private readonly pending: { event: DomainEvent; consumer: EventConsumer; attempt: number }[] = [];
  private inFlight = 0;
  private draining = false;
  private waiters: (() => void)[] = [];
  readonly deadLetters: DomainEvent[] = [];
  /** Observers see every published event (webhooks, tests). */
  private readonly observers: ((event: DomainEvent) => void)[] = [];

  constructor(private readonly logger: Logger) {}

  subscribe(type: DomainEventType, consumer: EventConsumer): void {
    this.consumers.set(type, [...(this.consumers.get(type) ?? []), consumer]);
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
      item
        .consumer(item.event)
        .catch((error) => {
          if (item.attempt >= MAX_ATTEMPTS) {
            this.deadLetters.push(item.event);
            this.logger.error('event dead-lettered', {
              type: item.event.type,
              id: item.event.id,
              error: String(error),
            });
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
