/** The expiry scan (DESIGN section 5): one notification per certificate and threshold, ever. */
import { crossedThreshold, nextNotifyAt, normalizeThresholds } from '../domain/expiry';
import type { DomainEvent, ExpiryNotification } from '../domain/types';
import type { CoreDeps } from './deps';
import { noticeDelivery } from './notice-delivery';
import { domainEvent } from './trail';

const PAGE_SIZE = 500;

export interface ScanResult {
  /** Certificates read (only the due ones: the scan walks the expiry index). */
  scanned: number;
  /** Notifications this run created. */
  notifications: ExpiryNotification[];
}

/**
 * Reads the certificates whose expiry cursor is due, notifies the most urgent threshold each has
 * crossed (never a less urgent one after a more urgent one), and moves the cursor on. Safe to
 * run concurrently: `addNotificationOnce` lets exactly one run create each notification.
 */
export async function runExpiryScan(deps: CoreDeps, now: Date = deps.clock.now()): Promise<ScanResult> {
  const thresholds = normalizeThresholds(deps.config.expiryThresholdsDays);
  const nowIso = now.toISOString();
  let scanned = 0;
  const created: ExpiryNotification[] = [];
  for await (const page of deps.repo.findDueForNotification(nowIso, PAGE_SIZE)) {
    const events: DomainEvent[] = [];
    const fresh: ExpiryNotification[] = [];
    for (const record of page) {
      scanned++;
      const crossed = crossedThreshold(record.notAfter, now, thresholds);
      const alreadyNotified = record.notifiedThresholdDays;
      const isNew = crossed !== undefined && (alreadyNotified === null || crossed < alreadyNotified);
      const notified = isNew ? crossed : alreadyNotified;
      const cursor = nextNotifyAt(record.notAfter, notified, thresholds);
      if (isNew) {
        const notification: ExpiryNotification = {
          tenantId: record.tenantId,
          certificateId: record.id,
          kind: crossed === 0 ? 'expired' : 'expiring',
          thresholdDays: crossed,
          notAfter: record.notAfter,
          createdAt: nowIso,
        };
        // Into the outbox first: a crash before the notification is recorded leaves the cursor
        // unmoved, so the next scan records it again under the same delivery id (kept once).
        // Due by the wall clock, not the scan's as-of time (an operator may scan as of another).
        if (deps.noticeOutbox)
          await deps.noticeOutbox.enqueueDelivery(
            noticeDelivery(notification),
            deps.clock.now().toISOString(),
          );
        if (await deps.repo.addNotificationOnce(notification)) {
          fresh.push(notification);
          events.push(
            domainEvent(
              deps,
              crossed === 0 ? 'CertificateExpired' : 'CertificateExpiring',
              record.tenantId,
              {
                certificateId: record.id,
                thresholdDays: crossed,
                notAfter: record.notAfter,
                alias: record.alias,
              },
              nowIso,
            ),
          );
        }
      }
      if (cursor !== record.nextNotifyAt || notified !== alreadyNotified) {
        await deps.repo.advanceExpiryCursor(record.tenantId, record.id, record.nextNotifyAt, {
          nextNotifyAt: cursor,
          notifiedThresholdDays: notified,
        });
      }
    }
    if (events.length > 0) await deps.events.publish(events);
    if (fresh.length > 0 && deps.notificationSink) await deps.notificationSink.notify(fresh);
    created.push(...fresh);
  }
  deps.logger.info('expiry scan finished', { now: nowIso, scanned, notifications: created.length });
  return { scanned, notifications: created };
}
