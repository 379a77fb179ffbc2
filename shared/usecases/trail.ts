/**
 * The audit entries and domain events of the use cases, built in one place: each gets a new id
 * and the service clock's time (or the time of the change it records).
 */
import type { AuditEntry, DomainEvent, DomainEventType } from '../domain/types';
import type { CoreDeps } from './deps';

/** What an audit entry says; the id is new, `at` defaults to now. */
export type AuditFields = Omit<AuditEntry, 'id' | 'at'> & { at?: string };

/** An audit entry with a new id. */
export function auditEntry(deps: Pick<CoreDeps, 'ids' | 'clock'>, fields: AuditFields): AuditEntry {
  const { tenantId, at, ...rest } = fields;
  return { id: deps.ids.newId(), tenantId, at: at ?? deps.clock.now().toISOString(), ...rest };
}

/** A domain event with a new id; `occurredAt` defaults to now. */
export function domainEvent<T extends DomainEventType>(
  deps: Pick<CoreDeps, 'ids' | 'clock'>,
  type: T,
  tenantId: string,
  data: Record<string, unknown>,
  occurredAt: string = deps.clock.now().toISOString(),
): DomainEvent<T> {
  return { id: deps.ids.newId(), type, tenantId, occurredAt, data };
}

/**
 * Stores `entry`, then publishes `events`; throws at the first failure, for a caller that undoes
 * its change then. (A change that stands whatever happens uses `recordCommittedChange`.)
 */
export async function auditAndPublish(
  deps: Pick<CoreDeps, 'ids' | 'clock' | 'repo' | 'events'>,
  fields: AuditFields,
  events: DomainEvent[],
): Promise<void> {
  await deps.repo.appendAudit(auditEntry(deps, fields));
  await deps.events.publish(events);
}
