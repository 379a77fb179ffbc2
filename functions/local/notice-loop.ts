/**
 * The local runtime's webhook delivery: an in-process loop that drains the SQLite outbox. The
 * outbox is the state, so a restart simply resumes with what is still pending.
 */
import type { Clock, Logger, NoticeOutbox } from '../../shared/ports';
import { drainNoticeOutbox } from '../../shared/usecases/notice-delivery';
import type { WebhookSettings } from '../../shared/webhook';

/** Polls the outbox and delivers what is due, one pass at a time. */
export class NoticeDeliveryLoop {
  private timer: NodeJS.Timeout | undefined;
  private running: Promise<void> | undefined;
  private stopped = false;
  /** Often enough that a retry is sent close to its time, never busier than once a second. */
  private readonly pollMs: number;

  constructor(
    private readonly outbox: NoticeOutbox,
    private readonly settings: WebhookSettings,
    private readonly clock: Clock,
    private readonly logger: Logger,
  ) {
    this.pollMs = Math.min(1000, settings.backoffBaseMs);
  }

  /** Starts polling; the first pass runs at once (deliveries left pending by a previous run). */
  start(): void {
    this.schedule(0);
  }

  /** Runs a pass soon (notices were just enqueued). */
  kick(): void {
    if (this.stopped || this.running) return;
    if (this.timer) clearTimeout(this.timer);
    this.schedule(0);
  }

  /** Stops polling and waits for the pass in flight; what it did not finish stays pending. */
  async stop(): Promise<void> {
    this.stopped = true;
    if (this.timer) clearTimeout(this.timer);
    await this.running;
  }

  private schedule(delayMs: number): void {
    if (this.stopped) return;
    this.timer = setTimeout(() => {
      this.timer = undefined;
      this.running = this.pass().finally(() => {
        this.running = undefined;
        this.schedule(this.pollMs);
      });
    }, delayMs);
    this.timer.unref();
  }

  private async pass(): Promise<void> {
    try {
      await drainNoticeOutbox(this.outbox, this.settings, this.clock, this.logger);
    } catch (error) {
      // The outbox itself failed (disk, lock): the deliveries stay pending for the next pass.
      this.logger.error('webhook outbox pass failed', { error: String(error) });
    }
  }
}
