/** IVR profile assignment (request + idempotent consumer) and screen-recording change sets. */
import { profileOf, withoutPending, withPending, withProfile } from '../domain/assignments';
import { certificateStatus, isInUse } from '../domain/expiry';
import type { DomainEvent, IvrAssignmentRequestedData, IvrProfile, TenantAssignments } from '../domain/types';
import { ConflictError, hasKind, NotFoundError, ValidationError } from '../errors';
import { getCertificateRecord } from './certificates';
import { type Actor, asUnavailable, type CoreDeps, recordCommittedChange, retryOnConflict } from './deps';
import { rearmExpiryNotices } from './expiry-rearm';
import { auditAndPublish, auditEntry, domainEvent } from './trail';

/** How many applied request ids a tenant remembers for deduplication. */
const REMEMBERED_REQUESTS = 500;
/** How many earlier certificates an IVR profile remembers. */
const REMEMBERED_PREVIOUS = 100;

export interface IvrProfileView {
  id: string;
  activeCertificateId: string;
  previousCertificateIds: string[];
  updatedAt: string;
}

function profileView(profile: IvrProfile): IvrProfileView {
  return {
    id: profile.id,
    activeCertificateId: profile.activeCertificateId,
    previousCertificateIds: profile.previousCertificateIds,
    updatedAt: profile.updatedAt,
  };
}

export async function getIvrProfile(
  deps: CoreDeps,
  tenantId: string,
  profileId: string,
): Promise<IvrProfileView> {
  const { state } = await deps.repo.getAssignments(tenantId);
  const profile = profileOf(state, profileId);
  if (!profile) throw new NotFoundError('ivrProfile', profileId);
  return profileView(profile);
}

async function usableCertificate(
  deps: CoreDeps,
  tenantId: string,
  certificateId: string,
  state: TenantAssignments,
) {
  const record = await getCertificateRecord(deps, tenantId, certificateId);
  const status = certificateStatus(record, state, deps.clock.now());
  if (status === 'expired' || status === 'retired') {
    throw new ConflictError(
      'CERTIFICATE_NOT_USABLE',
      status === 'expired'
        ? `Certificate ${certificateId} expired on ${record.notAfter}; upload a new one.`
        : `Certificate ${certificateId} was replaced (retired) and is kept only to play old recordings; assign a current certificate.`,
      { details: { certificateId, status } },
    );
  }
  return record;
}

/**
 * Accepts an assignment request: checks the certificate and marks the request pending in the
 * same conditional write, then hands the change to the event consumer (202). The consumer
 * applies it; `GET ivr-profiles/{id}` shows when it has. Until then the certificate counts as in
 * use (DESIGN rule 12): a delete racing this write either lands first (and the re-read here
 * answers 404) or finds the pending mark.
 */
export async function requestIvrAssignment(
  deps: CoreDeps,
  actor: Actor,
  tenantId: string,
  profileId: string,
  certificateId: string,
): Promise<{ requestId: string; status: 'pending' }> {
  const requestId = deps.ids.newId();
  const now = deps.clock.now();
  await retryOnConflict(async () => {
    const { state, version } = await deps.repo.getAssignments(tenantId);
    await usableCertificate(deps, tenantId, certificateId, state);
    const pending = { requestId, profileId, certificateId, requestedAt: now.toISOString() };
    await deps.repo.saveAssignments(tenantId, withPending(state, pending, now), version);
  });
  const data: IvrAssignmentRequestedData = {
    requestId,
    profileId,
    certificateId,
    requestedBy: actor.subject,
  };
  try {
    await auditAndPublish(
      deps,
      {
        tenantId,
        at: now.toISOString(),
        actor: actor.subject,
        action: 'ivr.assign.requested',
        certificateId,
        details: { profileId, requestId },
      },
      [domainEvent(deps, 'IvrAssignmentRequested', tenantId, { ...data }, now.toISOString())],
    );
  } catch (error) {
    // No event will come to clear the mark; clear it now (or it lapses after its TTL).
    await releasePendingAssignment(deps, tenantId, requestId);
    throw asUnavailable(error, 'Requesting the assignment');
  }
  return { requestId, status: 'pending' };
}

/**
 * Removes the pending mark of a request that will never reach the consumer (its event was not
 * published, or the upload that made it was rolled back). Best effort: a mark left behind lapses
 * after `PENDING_ASSIGNMENT_TTL_MS`.
 */
export async function releasePendingAssignment(
  deps: CoreDeps,
  tenantId: string,
  requestId: string,
): Promise<void> {
  try {
    await retryOnConflict(async () => {
      const { state, version } = await deps.repo.getAssignments(tenantId);
      if (!state.pending.some((p) => p.requestId === requestId)) return;
      await deps.repo.saveAssignments(tenantId, withoutPending(state, requestId, deps.clock.now()), version);
    });
  } catch (error) {
    deps.logger.error('could not clear a pending assignment; it lapses on its own', {
      tenantId,
      requestId,
      error: String(error),
    });
  }
}

/**
 * Marks a request pending before anything else of it exists (the azure flow's automatic
 * assignment, written before the certificate record so that there is no moment in which the new
 * certificate exists unprotected).
 */
export async function markAssignmentPending(
  deps: CoreDeps,
  tenantId: string,
  pending: { requestId: string; profileId: string; certificateId: string },
): Promise<void> {
  const now = deps.clock.now();
  await retryOnConflict(async () => {
    const { state, version } = await deps.repo.getAssignments(tenantId);
    await deps.repo.saveAssignments(
      tenantId,
      withPending(state, { ...pending, requestedAt: now.toISOString() }, now),
      version,
    );
  });
}

function isAssignmentData(
  data: Record<string, unknown>,
): data is Record<string, unknown> & IvrAssignmentRequestedData {
  return (
    typeof data.requestId === 'string' &&
    typeof data.profileId === 'string' &&
    typeof data.certificateId === 'string' &&
    typeof data.requestedBy === 'string'
  );
}

export type AssignmentOutcome = 'applied' | 'duplicate' | 'superseded' | 'rejected';

/**
 * The assignment consumer. Idempotent: a redelivered event (same requestId) changes nothing;
 * an event older than the one already applied to the profile is superseded.
 */
export async function applyIvrAssignment(deps: CoreDeps, event: DomainEvent): Promise<AssignmentOutcome> {
  if (event.type !== 'IvrAssignmentRequested' || !isAssignmentData(event.data)) {
    throw new ValidationError('VALIDATION_ERROR', `Not an IvrAssignmentRequested event: ${event.type}`);
  }
  const { requestId, profileId, certificateId, requestedBy } = event.data;
  const tenantId = event.tenantId;
  let rejection: string | undefined;
  let becameActive = false;
  const outcome = await retryOnConflict(async (): Promise<AssignmentOutcome> => {
    rejection = undefined;
    const { state, version } = await deps.repo.getAssignments(tenantId);
    if (state.appliedRequestIds.includes(requestId)) return 'duplicate';
    // Whatever the outcome, the request is no longer pending, in the same conditional write.
    const remember = (s: TenantAssignments) => ({
      ...withoutPending(s, requestId, deps.clock.now()),
      appliedRequestIds: [...s.appliedRequestIds, requestId].slice(-REMEMBERED_REQUESTS),
    });
    const existing = profileOf(state, profileId);
    if (existing?.requestedAt && existing.requestedAt > event.occurredAt) {
      await deps.repo.saveAssignments(tenantId, remember(state), version);
      return 'superseded';
    }
    try {
      await usableCertificate(deps, tenantId, certificateId, state);
    } catch (error) {
      if (!hasKind(error, 'not-found', 'conflict')) throw error;
      rejection = (error as Error).message;
      await deps.repo.saveAssignments(tenantId, remember(state), version);
      return 'rejected';
    }
    const now = deps.clock.now().toISOString();
    const previous = existing
      ? existing.activeCertificateId === certificateId
        ? existing.previousCertificateIds
        : [
            existing.activeCertificateId,
            ...existing.previousCertificateIds.filter((id) => id !== certificateId),
          ]
      : [];
    const profile: IvrProfile = {
      id: profileId,
      activeCertificateId: certificateId,
      previousCertificateIds: [...new Set(previous)]
        .filter((id) => id !== certificateId)
        .slice(0, REMEMBERED_PREVIOUS),
      updatedAt: now,
      requestedAt: event.occurredAt,
    };
    await deps.repo.saveAssignments(
      tenantId,
      remember({ ...state, profiles: withProfile(state.profiles, profile) }),
      version,
    );
    becameActive = !isInUse(state, certificateId);
    return 'applied';
  });
  if (outcome === 'applied' && becameActive) await rearmExpiryNotices(deps, tenantId, [certificateId]);
  if (outcome === 'applied' || outcome === 'rejected') {
    const at = deps.clock.now().toISOString();
    await recordCommittedChange(
      deps,
      auditEntry(deps, {
        tenantId,
        at,
        actor: requestedBy,
        action: outcome === 'applied' ? 'ivr.assign.applied' : 'ivr.assign.rejected',
        certificateId,
        details: { profileId, requestId, ...(rejection ? { reason: rejection } : {}) },
      }),
      outcome === 'applied'
        ? [domainEvent(deps, 'IvrAssignmentApplied', tenantId, { requestId, profileId, certificateId }, at)]
        : [],
    );
  }
  return outcome;
}

/**
 * Gives up on an assignment event the consumer failed on for the last time, before the queue
 * dead-letters it: its pending mark is cleared (so the certificate is not held in use by a
 * request nobody will apply) and the rejection is audited. Best effort: when the store itself is
 * what fails, the mark lapses after `PENDING_ASSIGNMENT_TTL_MS`. A dead-lettered event that is
 * redriven later is still applied normally.
 */
export async function abandonIvrAssignment(
  deps: CoreDeps,
  event: DomainEvent,
  reason: string,
): Promise<void> {
  if (event.type !== 'IvrAssignmentRequested' || !isAssignmentData(event.data)) return;
  const { requestId, profileId, certificateId, requestedBy } = event.data;
  await releasePendingAssignment(deps, event.tenantId, requestId);
  await recordCommittedChange(
    deps,
    auditEntry(deps, {
      tenantId: event.tenantId,
      actor: requestedBy,
      action: 'ivr.assign.rejected',
      certificateId,
      details: { profileId, requestId, reason },
    }),
    [],
  );
}

export interface ScreenRecordingView {
  certificateIds: string[];
  encryptionEnabled: boolean;
}

export async function getScreenRecording(deps: CoreDeps, tenantId: string): Promise<ScreenRecordingView> {
  const { state } = await deps.repo.getAssignments(tenantId);
  return {
    certificateIds: state.screen.certificateIds,
    encryptionEnabled: state.screen.certificateIds.length > 0,
  };
}

export interface ScreenRecordingChange {
  add?: string[] | undefined;
  remove?: string[] | undefined;
  confirmDisableEncryption?: boolean | undefined;
}

/** Applies a change set all-or-nothing (Save); on any error nothing changes (Cancel). */
export async function changeScreenRecording(
  deps: CoreDeps,
  actor: Actor,
  tenantId: string,
  change: ScreenRecordingChange,
): Promise<ScreenRecordingView> {
  const add = [...new Set(change.add ?? [])];
  const remove = [...new Set(change.remove ?? [])];
  const both = add.filter((id) => remove.includes(id));
  if (both.length > 0) {
    throw new ValidationError(
      'VALIDATION_ERROR',
      `Certificate ${both.join(', ')} is both added and removed; choose one.`,
      {
        details: { certificateIds: both },
      },
    );
  }
  const result = await retryOnConflict(async () => {
    const { state, version } = await deps.repo.getAssignments(tenantId);
    const current = state.screen.certificateIds;
    if (add.length > 0) {
      const held = await deps.repo.listCertificates(tenantId);
      if (held.length === 0) {
        throw new ConflictError(
          'NO_RECORDING_CERTIFICATE',
          'Upload a voice recording certificate first; screen-recording certificates can be set only once the tenant has one.',
        );
      }
      for (const id of add) await usableCertificate(deps, tenantId, id, state);
    }
    const next = [
      ...current.filter((id) => !remove.includes(id)),
      ...add.filter((id) => !current.includes(id)),
    ];
    if (next.length === 0 && current.length > 0 && change.confirmDisableEncryption !== true) {
      throw new ConflictError(
        'ENCRYPTION_WOULD_BE_DISABLED',
        'This removes the last screen-recording certificate: screen recordings would no longer be encrypted. Send confirmDisableEncryption: true to do it anyway.',
        { details: { remove } },
      );
    }
    const changed = next.length !== current.length || next.some((id, i) => current[i] !== id);
    if (!changed)
      return {
        view: { certificateIds: current, encryptionEnabled: current.length > 0 },
        changed,
        activated: [],
      };
    const now = deps.clock.now().toISOString();
    const screen = {
      certificateIds: next,
      everIncluded: [...new Set([...state.screen.everIncluded, ...next])],
      updatedAt: now,
    };
    await deps.repo.saveAssignments(tenantId, { ...state, screen }, version);
    return {
      view: { certificateIds: next, encryptionEnabled: next.length > 0 },
      changed,
      activated: add.filter((id) => !isInUse(state, id)),
    };
  });
  if (result.changed && result.activated.length > 0)
    await rearmExpiryNotices(deps, tenantId, result.activated);
  if (result.changed) {
    const at = deps.clock.now().toISOString();
    await recordCommittedChange(
      deps,
      auditEntry(deps, {
        tenantId,
        at,
        actor: actor.subject,
        action: 'screen.change',
        details: { added: add, removed: remove, certificateIds: result.view.certificateIds },
      }),
      [
        domainEvent(
          deps,
          'ScreenRecordingCertificatesChanged',
          tenantId,
          {
            certificateIds: result.view.certificateIds,
            encryptionEnabled: result.view.encryptionEnabled,
          },
          at,
        ),
      ],
    );
  }
  return result.view;
}
