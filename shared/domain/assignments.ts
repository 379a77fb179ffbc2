/**
 * Reading and changing a tenant's assignment state safely.
 *
 * Profile ids come from the caller (`/ivr-profiles/{profileId}`), so the profile map must never
 * answer for a name it does not hold: on a plain object `profiles['constructor']` is Object's
 * constructor and `profiles['__proto__']` its prototype (DESIGN section 9). The map is therefore
 * always prototype-free and read only through own-property checks, and every repository hands its
 * stored state through {@link assignmentsFromStored}.
 */
import type { IvrProfile, PendingAssignment, TenantAssignments } from './types';

/**
 * How long a requested assignment protects its certificate from deletion (DESIGN rule 12) when
 * its consumer never reports back. The consumer normally clears it within seconds; it outlives
 * every redelivery the queues make (SQS: 5 receives x 180 s visibility; Storage queue: 5
 * dequeues x 30 s) with a wide margin, and bounds how long a dead-lettered request can block a
 * delete. Once it has passed, a late delivery is still safe: the consumer re-reads the
 * certificate under the state's version and rejects an assignment to one that is gone.
 */
export const PENDING_ASSIGNMENT_TTL_MS = 60 * 60_000;

/** An empty prototype-free profile map. */
export function emptyProfiles(): Record<string, IvrProfile> {
  return Object.create(null) as Record<string, IvrProfile>;
}

/** The profile named `profileId`, only if the state really holds one by that name. */
export function profileOf(state: TenantAssignments, profileId: string): IvrProfile | undefined {
  return Object.hasOwn(state.profiles, profileId) ? state.profiles[profileId] : undefined;
}

/** A prototype-free copy of `profiles` with `profile` set under its id. */
export function withProfile(
  profiles: Record<string, IvrProfile>,
  profile: IvrProfile,
): Record<string, IvrProfile> {
  const next = emptyProfiles();
  for (const [id, value] of Object.entries(profiles)) next[id] = value;
  next[profile.id] = profile;
  return next;
}

/** Every profile of the state (own entries only). */
export function profilesOf(state: TenantAssignments): IvrProfile[] {
  return Object.values(state.profiles);
}

/** Whether a pending request still counts at `now` (see {@link PENDING_ASSIGNMENT_TTL_MS}). */
export function isLive(pending: PendingAssignment, now: Date): boolean {
  const requested = Date.parse(pending.requestedAt);
  return Number.isFinite(requested) && now.getTime() - requested < PENDING_ASSIGNMENT_TTL_MS;
}

/** Requests for `certificateId` not yet applied or rejected, and not abandoned. */
export function pendingFor(state: TenantAssignments, certificateId: string, now: Date): PendingAssignment[] {
  return state.pending.filter((p) => p.certificateId === certificateId && isLive(p, now));
}

/** The state with `pending` added, and abandoned requests dropped. */
export function withPending(
  state: TenantAssignments,
  pending: PendingAssignment,
  now: Date,
): TenantAssignments {
  return {
    ...state,
    pending: [...state.pending.filter((p) => isLive(p, now) && p.requestId !== pending.requestId), pending],
  };
}

/** The state without the request `requestId` (and without abandoned requests). */
export function withoutPending(state: TenantAssignments, requestId: string, now: Date): TenantAssignments {
  return { ...state, pending: state.pending.filter((p) => p.requestId !== requestId && isLive(p, now)) };
}

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function strings(value: unknown): string[] {
  return Array.isArray(value) ? value.filter((v): v is string => typeof v === 'string') : [];
}

/**
 * The state as the core works with it, from what a repository stored (parsed JSON or an
 * unmarshalled map): a prototype-free profile map holding only the stored object's own entries,
 * and the fields later versions added (`pending`) filled in for records written before them.
 */
export function assignmentsFromStored(stored: unknown): TenantAssignments {
  const raw = isObject(stored) ? stored : {};
  const profiles = emptyProfiles();
  if (isObject(raw.profiles)) {
    for (const [id, value] of Object.entries(raw.profiles)) {
      if (isObject(value)) profiles[id] = value as unknown as IvrProfile;
    }
  }
  const screen = isObject(raw.screen) ? raw.screen : {};
  const pending = Array.isArray(raw.pending)
    ? raw.pending.filter(
        (p): p is PendingAssignment =>
          isObject(p) &&
          typeof p.requestId === 'string' &&
          typeof p.profileId === 'string' &&
          typeof p.certificateId === 'string' &&
          typeof p.requestedAt === 'string',
      )
    : [];
  return {
    profiles,
    screen: {
      certificateIds: strings(screen.certificateIds),
      everIncluded: strings(screen.everIncluded),
      updatedAt: typeof screen.updatedAt === 'string' ? screen.updatedAt : null,
    },
    appliedRequestIds: strings(raw.appliedRequestIds),
    pending,
  };
}
