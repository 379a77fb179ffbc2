/**
 * The expiry scan (DESIGN section 5 and rule 14): one notification per certificate and threshold,
 * ever, and only about certificates that recordings are being encrypted with.
 */
import {
  activeIn,
  crossedThreshold,
  isActiveSomewhere,
  nextNotifyAt,
  normalizeThresholds,
  replacementAvailable,
} from '../domain/expiry';
import type { CertificateRecord, DomainEvent, ExpiryNotification, TenantAssignments } from '../domain/types';
import type { CoreDeps } from './deps';
import { CURSOR_ATTEMPTS } from './expiry-rearm';
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
 * What the scan reads about a page's tenants, each at most once per page and only when a due
 * certificate needs it. Read after the page itself: an activation committed before this read is
 * seen here, and one committed after it has moved the certificate's cursor (expiry-rearm.ts),
 * so the scan's conditional advance of that cursor fails and the certificate stays due.
 */
class PageTenants {
  private readonly states = new Map<string, Promise<TenantAssignments>>();
  private readonly certificates = new Map<string, Promise<CertificateRecord[]>>();

  constructor(private readonly deps: CoreDeps) {}

  assignments(tenantId: string): Promise<TenantAssignments> {
    let state = this.states.get(tenantId);
    if (state === undefined) {
      state = this.deps.repo.getAssignments(tenantId).then((v) => v.state);
      this.states.set(tenantId, state);
    }
    return state;
  }

  /** The tenant's certificates: read only for a notice, to tell whether a replacement is ready. */
  held(tenantId: string): Promise<CertificateRecord[]> {
    let list = this.certificates.get(tenantId);
    if (list === undefined) {
      list = this.deps.repo.listCertificates(tenantId);
      this.certificates.set(tenantId, list);
    }
    return list;
  }
}

/**
 * Reads the certificates whose expiry cursor is due and handles the most urgent threshold each
 * has crossed (never a less urgent one after a more urgent one): a certificate active in an IVR
 * profile or the screen-recording set gets a notice saying where and whether a replacement is
 * ready; one that is not (never assigned, retired, removed) gets none, and its cursor moves on
 * all the same, so the scan does not read it again. Safe to run concurrently:
 * `addNotificationOnce` lets exactly one run create each notification.
 */
export async function runExpiryScan(deps: CoreDeps, now: Date = deps.clock.now()): Promise<ScanResult> {
  const thresholds = normalizeThresholds(deps.config.expiryThresholdsDays);
  const nowIso = now.toISOString();
  let scanned = 0;
  const created: ExpiryNotification[] = [];
  for await (const page of deps.repo.findDueForNotification(nowIso, PAGE_SIZE)) {
    const tenants = new PageTenants(deps);
    const events: DomainEvent[] = [];
    const fresh: ExpiryNotification[] = [];
    for (const record of page) {
      scanned++;
      const crossed = crossedThreshold(record.notAfter, now, thresholds);
      const handled = record.notifiedThresholdDays;
      // Equal to the one handled only when an activation re-armed the cursor: that threshold may
      // have passed while the certificate was not in use; addNotificationOnce keeps it to once.
      const due = crossed !== undefined && (handled === null || crossed <= handled);
      if (due) {
        const state = await tenants.assignments(record.tenantId);
        const where = activeIn(state, record.id);
        if (isActiveSomewhere(where)) {
          const notification: ExpiryNotification = {
            tenantId: record.tenantId,
            certificateId: record.id,
            kind: crossed === 0 ? 'expired' : 'expiring',
            thresholdDays: crossed,
            notAfter: record.notAfter,
            createdAt: nowIso,
            activeIn: where,
            replacementAvailable: replacementAvailable(
              record,
              await tenants.held(record.tenantId),
              state,
              now,
            ),
          };
          if (await notifyOnce(deps, notification)) {
            fresh.push(notification);
            events.push(expiryEvent(deps, notification, record.alias));
          }
        }
      }
      const notified = due ? crossed : handled;
      const cursor = nextNotifyAt(record.notAfter, notified, thresholds);
      if (cursor !== record.nextNotifyAt || notified !== handled) {
        const moved = await deps.repo.advanceExpiryCursor(record.tenantId, record.id, record.nextNotifyAt, {
          nextNotifyAt: cursor,
          notifiedThresholdDays: notified,
        });
        if (!moved && due) await keepHandled(deps, record, crossed);
      }
    }
    if (events.length > 0) await deps.events.publish(events);
    if (fresh.length > 0 && deps.notificationSink) await deps.notificationSink.notify(fresh);
    created.push(...fresh);
  }
  deps.logger.info('expiry scan finished', { now: nowIso, scanned, notifications: created.length });
  return { scanned, notifications: created };
}

/**
 * After this scan lost its cursor write (an activation re-armed the cursor, or another scan moved
 * it), records the threshold it handled while leaving the cursor where the winner put it: the
 * record stays as due as it is, but a later scan as of an earlier time (an operator re-running a
 * missed day) can no longer send a less urgent threshold after this one.
 */
async function keepHandled(deps: CoreDeps, read: CertificateRecord, threshold: number): Promise<void> {
  for (let attempt = 0; attempt < CURSOR_ATTEMPTS; attempt++) {
    const record = await deps.repo.getCertificate(read.tenantId, read.id);
    if (record === undefined) return;
    if (record.notifiedThresholdDays !== null && record.notifiedThresholdDays <= threshold) return;
    // A millisecond earlier, not the same: a re-arm that read the old value must lose its write,
    // or it would put back the threshold it read.
    const next =
      record.nextNotifyAt === null ? null : new Date(Date.parse(record.nextNotifyAt) - 1).toISOString();
    const moved = await deps.repo.advanceExpiryCursor(record.tenantId, record.id, record.nextNotifyAt, {
      nextNotifyAt: next,
      notifiedThresholdDays: threshold,
    });
    if (moved) return;
  }
}

/** Records the notification unless it exists; true when this call created it. */
async function notifyOnce(deps: CoreDeps, notification: ExpiryNotification): Promise<boolean> {
  // Into the outbox first: a crash before the notification is recorded leaves the cursor
  // unmoved, so the next scan records it again under the same delivery id (kept once).
  // Due by the wall clock, not the scan's as-of time (an operator may scan as of another).
  if (deps.noticeOutbox)
    await deps.noticeOutbox.enqueueDelivery(noticeDelivery(notification), deps.clock.now().toISOString());
  return deps.repo.addNotificationOnce(notification);
}

function expiryEvent(deps: CoreDeps, n: ExpiryNotification, alias: string): DomainEvent {
  return domainEvent(
    deps,
    n.kind === 'expired' ? 'CertificateExpired' : 'CertificateExpiring',
    n.tenantId,
    {
      certificateId: n.certificateId,
      thresholdDays: n.thresholdDays,
      notAfter: n.notAfter,
      alias,
      activeIn: n.activeIn,
      replacementAvailable: n.replacementAvailable,
    },
    n.createdAt,
  );
}
