/**
 * Concurrency (issue 9): parallel uploads, IVR assignments and screen-recording change sets on one
 * tenant, through the local runtime's HTTP API and through the core on one SQLite file opened by
 * two connections (as two processes would). The final state must equal some serial order of the
 * changes that succeeded, nothing may be lost, and the counts must add up. Concurrent expiry scans
 * notify each (certificate, threshold) exactly once; duplicate event deliveries change nothing twice.
 */
import { randomUUID } from 'node:crypto';
import { join } from 'node:path';
import { InProcessEventQueue } from '../../functions/local/event-queue';
import { FileKeystore } from '../../functions/local/file-keystore';
import { SqliteCertificateRepository } from '../../functions/local/sqlite-repository';
import type { AuditEntry, DomainEvent, ExpiryNotification, IvrProfile } from '../../shared/domain/types';
import { AppError } from '../../shared/errors';
import {
  applyIvrAssignment,
  changeScreenRecording,
  requestIvrAssignment,
} from '../../shared/usecases/assignments';
import { uploadCertificate } from '../../shared/usecases/certificate-upload';
import type { CoreDeps } from '../../shared/usecases/deps';
import { runExpiryScan } from '../../shared/usecases/expiry-scan';
import { capturingLogger } from '../helpers/logging';
import { daysFrom, tempDir } from '../helpers/pki';
import {
  type Exchange,
  freshKeys,
  LeakScanner,
  type LocalHarness,
  localConsistency,
  pairFor,
  startLocalHarness,
  type UploadPair,
  writeArtifact,
} from './helpers';

const figures = {
  racesRun: 0,
  parallelRequests: 0,
  expiryScansRun: 0,
  duplicateDeliveries: 0,
  conflictsAnswered: {} as Record<string, number>,
};
const scanner = new LeakScanner();
const keys = freshKeys(8);
keys.forEach((k, i) => {
  scanner.addKey(`concurrency-${i}`, k);
});
let nextKey = 0;
const newPair = (options: { now?: Date; days?: number } = {}): UploadPair =>
  pairFor(keys[nextKey++ % keys.length]!, options);

function countConflict(code: string): void {
  figures.conflictsAnswered[code] = (figures.conflictsAnswered[code] ?? 0) + 1;
}

/** Oldest first (the repository lists newest first; ties keep insertion order). */
async function auditOldestFirst(deps: CoreDeps, tenant: string): Promise<AuditEntry[]> {
  return (await deps.repo.listAudit(tenant, 100_000)).reverse();
}

/** The consumer's profile update, replayed serially: what a serial order would leave behind. */
function replayProfile(
  previous: IvrProfile | undefined,
  certificateId: string,
): Pick<IvrProfile, 'activeCertificateId' | 'previousCertificateIds'> {
  if (!previous) return { activeCertificateId: certificateId, previousCertificateIds: [] };
  const earlier =
    previous.activeCertificateId === certificateId
      ? previous.previousCertificateIds
      : [
          previous.activeCertificateId,
          ...previous.previousCertificateIds.filter((id) => id !== certificateId),
        ];
  return {
    activeCertificateId: certificateId,
    previousCertificateIds: [...new Set(earlier)].filter((id) => id !== certificateId),
  };
}

afterAll(() => {
  writeArtifact('concurrency', { ...figures, leakScan: scanner.stats() });
});

describe('the local runtime under parallel requests on one tenant', () => {
  let h: LocalHarness;
  const tenant = 'race';
  let admin: string;
  const published: DomainEvent[] = [];

  beforeAll(async () => {
    h = await startLocalHarness();
    h.runtime.events.observe((e) => published.push(e));
    admin = await h.token([tenant], ['admin', 'decrypt']);
  });
  afterAll(async () => {
    for (const [i, body] of h.api.bodies.entries()) scanner.scan(`http:response#${i}`, body);
    for (const [i, line] of h.logs.entries()) scanner.scan(`http:log#${i}`, line);
    await h.close();
    scanner.scanDir(h.dataDir, 'http:data');
    expect(scanner.hits).toEqual([]);
  });

  it('keeps every upload, assignment and screen change of 150 parallel requests consistent', async () => {
    const base = `/v1/tenants/${tenant}`;
    // Seeds: screen changes pick from s0-s3 (never assigned, so never retired), assignments from
    // s4-s7; the screen set starts at [s0].
    const seeds: string[] = [];
    for (let i = 0; i < 8; i++) {
      const r = await h.api.upload(admin, tenant, newPair());
      expect(r.status).toBe(201);
      seeds.push(r.json.id);
    }
    const initial = await h.api.call('PATCH', `${base}/screen-recording-certificates`, {
      token: admin,
      json: { add: [seeds[0]] },
    });
    expect(initial.json.certificateIds).toEqual([seeds[0]]);

    const distinct = Array.from({ length: 45 }, () => newPair());
    const uploads = [...distinct, ...distinct.slice(0, 5)];
    const profiles = ['record', 'p1', 'p2', 'p3', 'p4'];
    const assignments = Array.from({ length: 50 }, (_, i) => ({
      profileId: profiles[i % profiles.length]!,
      certificateId: seeds[4 + ((i * 7) % 4)]!,
    }));
    const screen = Array.from({ length: 50 }, (_, i) => {
      const id = seeds[(i * 5) % 4]!;
      return i % 3 === 0 ? { add: [id] } : { remove: [id] };
    });

    const [upRes, asRes, scRes] = await Promise.all([
      Promise.all(uploads.map((p) => h.api.upload(admin, tenant, p))),
      Promise.all(
        assignments.map((a) =>
          h.api.call('PUT', `${base}/ivr-profiles/${a.profileId}/recording-certificate`, {
            token: admin,
            json: { certificateId: a.certificateId },
          }),
        ),
      ),
      Promise.all(
        screen.map((change) =>
          h.api.call('PATCH', `${base}/screen-recording-certificates`, { token: admin, json: change }),
        ),
      ),
    ]);
    await h.runtime.events.idle();
    figures.racesRun += 3;
    figures.parallelRequests += uploads.length + assignments.length + screen.length;

    // Uploads: one 201 per distinct certificate, 409 CERTIFICATE_EXISTS for each duplicate.
    const created = upRes.filter((r) => r.status === 201);
    const refused = upRes.filter((r) => r.status !== 201);
    expect(created).toHaveLength(45);
    expect(refused.map((r) => [r.status, r.json.error.code])).toEqual(
      Array.from({ length: 5 }, () => [409, 'CERTIFICATE_EXISTS']),
    );
    refused.forEach(() => {
      countConflict('CERTIFICATE_EXISTS');
    });
    const list = await h.api.call('GET', `${base}/certificates?limit=500`, { token: admin });
    const listed = new Set<string>(list.json.items.map((c: { id: string }) => c.id));
    expect(listed.size).toBe(seeds.length + created.length);
    for (const r of created) expect(listed.has(r.json.id)).toBe(true);
    const consistency = await localConsistency(h.dataDir, h.repo, [tenant]);
    expect(consistency).toMatchObject({ keysWithoutRecord: [], recordsWithoutKey: [], keys: listed.size });

    // Assignments: each request is accepted (202) or refused because its certificate was retired
    // meanwhile (409 CERTIFICATE_NOT_USABLE); each accepted one is applied exactly once; the result
    // is the serial replay of the audited applications, and the newest applied request wins.
    for (const r of asRes) {
      if (r.status === 202) continue;
      expect([r.status, r.json.error.code]).toEqual([409, 'CERTIFICATE_NOT_USABLE']);
      countConflict('CERTIFICATE_NOT_USABLE');
    }
    const { state } = await h.repo.getAssignments(tenant);
    const accepted = asRes.flatMap((r, i) =>
      r.status === 202 ? [{ ...assignments[i]!, requestId: r.json.requestId as string }] : [],
    );
    expect(accepted.length).toBeGreaterThan(0);
    for (const a of accepted)
      expect(state.appliedRequestIds.filter((x) => x === a.requestId)).toHaveLength(1);
    const audit = await auditOldestFirst(h.runtime.deps, tenant);
    const appliedEntries = audit.filter((e) => e.action === 'ivr.assign.applied');
    const replayed: Record<string, IvrProfile> = {};
    for (const entry of appliedEntries) {
      const profileId = String(entry.details?.profileId);
      replayed[profileId] = {
        id: profileId,
        updatedAt: '',
        ...replayProfile(replayed[profileId], entry.certificateId!),
      };
    }
    const occurredAt = new Map(
      published
        .filter((e) => e.type === 'IvrAssignmentRequested')
        .map((e) => [String(e.data.requestId), e.occurredAt]),
    );
    const appliedIds = new Set(appliedEntries.map((e) => String(e.details?.requestId)));
    for (const profileId of profiles) {
      const actual = state.profiles[profileId];
      const expected = replayed[profileId];
      expect(actual === undefined).toBe(expected === undefined);
      if (!actual || !expected) continue;
      expect({ active: actual.activeCertificateId, previous: actual.previousCertificateIds }).toEqual({
        active: expected.activeCertificateId,
        previous: expected.previousCertificateIds,
      });
      const mine = accepted
        .filter((a) => a.profileId === profileId && appliedIds.has(a.requestId))
        .map((a) => ({ ...a, at: occurredAt.get(a.requestId)! }));
      const newest = mine
        .map((a) => a.at)
        .sort()
        .at(-1);
      expect(mine.filter((a) => a.at === newest).map((a) => a.certificateId)).toContain(
        actual.activeCertificateId,
      );
    }

    // Screen changes: the audited changes chain from the initial set to the final one; each 200
    // shows a state of that chain; each 409 saw a chain state where its removal emptied the set.
    const chain: string[][] = [[seeds[0]!]];
    for (const entry of audit.filter((e) => e.action === 'screen.change').slice(1)) {
      const prev = chain[chain.length - 1]!;
      const removed = entry.details?.removed as string[];
      const added = entry.details?.added as string[];
      const next = [
        ...prev.filter((id) => !removed.includes(id)),
        ...added.filter((id) => !prev.includes(id)),
      ];
      expect(entry.details?.certificateIds).toEqual(next);
      chain.push(next);
    }
    const key = (ids: string[]) => JSON.stringify(ids);
    const chainKeys = new Set(chain.map(key));
    const ok = scRes.filter((r) => r.status === 200);
    const conflicts = scRes.filter((r) => r.status !== 200);
    expect(ok.length + conflicts.length).toBe(50);
    expect(chain.length - 1).toBeLessThanOrEqual(ok.length);
    for (const r of ok) expect(chainKeys.has(key(r.json.certificateIds))).toBe(true);
    for (const [i, r] of scRes.entries()) {
      if (r.status === 200) continue;
      expect([r.status, r.json.error.code]).toEqual([409, 'ENCRYPTION_WOULD_BE_DISABLED']);
      countConflict('ENCRYPTION_WOULD_BE_DISABLED');
      expect(chainKeys.has(key(screen[i]!.remove!))).toBe(true);
    }
    const finalScreen = await h.api.call('GET', `${base}/screen-recording-certificates`, { token: admin });
    expect(finalScreen.json.certificateIds).toEqual(chain[chain.length - 1]);
    expect(state.screen.certificateIds).toEqual(chain[chain.length - 1]);

    // Nine removals race on a three-member set: serially, two members go and every removal of the
    // last one is refused (removing it would turn screen encryption off without confirmation).
    const three = [seeds[0]!, seeds[1]!, seeds[2]!];
    const reset = await h.api.call('PATCH', `${base}/screen-recording-certificates`, {
      token: admin,
      json: { add: three, remove: [seeds[3]!].filter((id) => !three.includes(id)) },
    });
    expect([...reset.json.certificateIds].sort()).toEqual([...three].sort());
    const removals = [...three, ...three, ...three];
    const removed = await Promise.all(
      removals.map((id) =>
        h.api.call('PATCH', `${base}/screen-recording-certificates`, {
          token: admin,
          json: { remove: [id] },
        }),
      ),
    );
    figures.racesRun++;
    figures.parallelRequests += removals.length;
    const left = (await h.api.call('GET', `${base}/screen-recording-certificates`, { token: admin })).json
      .certificateIds as string[];
    expect(left).toHaveLength(1);
    const refusedRemovals = removed.flatMap((r, i) => (r.status === 409 ? [removals[i]] : []));
    expect(refusedRemovals).toEqual([left[0], left[0], left[0]]);
    for (const r of removed.filter((x) => x.status === 409)) {
      expect(r.json.error.code).toBe('ENCRYPTION_WOULD_BE_DISABLED');
      countConflict('ENCRYPTION_WOULD_BE_DISABLED');
    }
    expect(removed.filter((r) => r.status === 200)).toHaveLength(6);
  });

  it('deletes a certificate once when five deletes race, and never leaves a profile on a deleted one', async () => {
    const base = `/v1/tenants/${tenant}`;
    const victims: string[] = [];
    for (let i = 0; i < 4; i++) victims.push((await h.api.upload(admin, tenant, newPair())).json.id);
    const [v0, v1, v2, v3] = victims as [string, string, string, string];
    const del = (id: string) => h.api.call('DELETE', `${base}/certificates/${id}`, { token: admin });
    const assign = (id: string) =>
      h.api.call('PUT', `${base}/ivr-profiles/victim/recording-certificate`, {
        token: admin,
        json: { certificateId: id },
      });
    const results: Exchange[] = await Promise.all([
      ...Array.from({ length: 5 }, () => del(v0)),
      assign(v1),
      del(v1),
      assign(v2),
      del(v2),
      assign(v3),
    ]);
    await h.runtime.events.idle();
    figures.racesRun += 2;
    figures.parallelRequests += results.length;
    const v0Results = results.slice(0, 5).map((r) => r.status);
    expect(v0Results.filter((s) => s === 204)).toHaveLength(1);
    expect(v0Results.filter((s) => s !== 204)).toEqual([404, 404, 404, 404]);
    for (const r of results.slice(5)) {
      expect([202, 204, 404, 409]).toContain(r.status);
      if (r.status === 409) {
        expect(['CERTIFICATE_IN_USE', 'CERTIFICATE_RETAINED']).toContain(r.json.error.code);
        countConflict(r.json.error.code);
      }
    }
    const { state } = await h.repo.getAssignments(tenant);
    const existing = new Set((await h.repo.listCertificates(tenant)).map((c) => c.id));
    for (const profile of Object.values(state.profiles))
      expect(existing.has(profile.activeCertificateId)).toBe(true);
    for (const id of state.screen.certificateIds) expect(existing.has(id)).toBe(true);
    expect(await localConsistency(h.dataDir, h.repo, [tenant])).toMatchObject({
      keysWithoutRecord: [],
      recordsWithoutKey: [],
    });
  });
});

describe('the core on one SQLite file opened by two connections', () => {
  const dir = tempDir('reccert-rel-core-');
  const file = join(dir, 'reccert.db');
  const repos = [new SqliteCertificateRepository(file), new SqliteCertificateRepository(file)];
  const keystoreKey = Buffer.alloc(32, 7);
  const published: DomainEvent[] = [];
  const sunk: ExpiryNotification[] = [];
  const { logger, lines } = capturingLogger();
  let clockNow = new Date('2030-01-01T00:00:00Z');
  const core: CoreDeps[] = repos.map((repo) => {
    const events = new InProcessEventQueue(logger);
    events.observe((e) => published.push(e));
    return {
      repo,
      custody: new FileKeystore(dir, keystoreKey),
      events,
      clock: { now: () => new Date(clockNow) },
      ids: { newId: randomUUID },
      logger,
      config: { flow: 'aws', expiryThresholdsDays: [90, 60, 30, 14, 7, 1], defaultIvrProfile: 'record' },
      notificationSink: {
        notify: async (n: ExpiryNotification[]) => {
          sunk.push(...n);
        },
      },
    };
  });
  const actor = { subject: 'core-admin' };

  afterAll(() => {
    for (const [i, line] of lines.entries()) scanner.scan(`core:log#${i}`, line);
    for (const r of repos) r.close();
    scanner.scanDir(dir, 'core:data');
    expect(scanner.hits).toEqual([]);
  });

  it('creates each certificate once when 50 uploads race across both connections', async () => {
    const distinct = Array.from({ length: 40 }, (_, i) => newPair({ now: clockNow, days: 20 + i * 9 }));
    const uploads = [...distinct, ...distinct.slice(0, 10)];
    const outcomes = await Promise.all(
      uploads.map((p, i) =>
        uploadCertificate(core[i % 2]!, actor, `core-${(i % 40) % 3}`, {
          certificate: p.certPem,
          privateKey: p.keyPem,
        }).then(
          (v) => ({ ok: true as const, id: v.id, tenant: v.tenantId }),
          (e: unknown) => ({ ok: false as const, code: e instanceof AppError ? e.code : String(e) }),
        ),
      ),
    );
    figures.racesRun++;
    figures.parallelRequests += uploads.length;
    const failures = outcomes.filter((o) => !o.ok);
    expect(failures).toHaveLength(10);
    for (const f of failures) {
      expect(f).toEqual({ ok: false, code: 'CERTIFICATE_EXISTS' });
      countConflict('CERTIFICATE_EXISTS');
    }
    const created = outcomes.filter((o) => o.ok);
    expect(created.length + failures.length).toBe(50);
    const tenants = ['core-0', 'core-1', 'core-2'];
    let listed = 0;
    for (const t of tenants) listed += (await repos[1]!.listCertificates(t)).length;
    expect(listed).toBe(created.length);
    expect(await localConsistency(dir, repos[0]!, tenants)).toMatchObject({
      keysWithoutRecord: [],
      recordsWithoutKey: [],
      records: created.length,
    });
  });

  it('notifies each (certificate, threshold) exactly once when 10 scans run at once, as one serial scan would', async () => {
    const tenants = ['core-0', 'core-1', 'core-2'];
    // Notices are about certificates in use (rule 14): every one goes into its screen-recording set.
    for (const t of tenants) {
      const ids = (await repos[0]!.listCertificates(t)).map((r) => r.id);
      await changeScreenRecording(core[0]!, actor, t, { add: ids });
    }
    const records = (await Promise.all(tenants.map((t) => repos[0]!.listCertificates(t)))).flat();
    // The serial reference: the same expiry cursors and assignments, scanned once per time point, on a copy.
    const reference = new SqliteCertificateRepository(':memory:');
    for (const r of records) await reference.createCertificate(r);
    for (const t of tenants)
      await reference.saveAssignments(t, (await repos[0]!.getAssignments(t)).state, undefined);
    const referenceDeps: CoreDeps = {
      ...core[0]!,
      repo: reference,
      events: new InProcessEventQueue(logger),
      notificationSink: undefined,
    };
    const points = [0, 15, 45, 100, 200, 400].map((d) => daysFrom(clockNow, d));
    const expected: string[] = [];
    const got: string[] = [];
    for (const at of points) {
      expected.push(
        ...(await runExpiryScan(referenceDeps, at)).notifications.map(
          (n) => `${n.tenantId}/${n.certificateId}/${n.thresholdDays}`,
        ),
      );
      const runs = await Promise.all(Array.from({ length: 10 }, (_, i) => runExpiryScan(core[i % 2]!, at)));
      figures.expiryScansRun += runs.length;
      got.push(
        ...runs.flatMap((r) =>
          r.notifications.map((n) => `${n.tenantId}/${n.certificateId}/${n.thresholdDays}`),
        ),
      );
    }
    reference.close();
    figures.racesRun += points.length;
    expect(new Set(got).size).toBe(got.length);
    expect([...got].sort()).toEqual([...expected].sort());
    expect(sunk.map((n) => `${n.tenantId}/${n.certificateId}/${n.thresholdDays}`).sort()).toEqual(
      [...got].sort(),
    );
    const stored = (await Promise.all(tenants.map((t) => repos[1]!.listNotifications(t)))).flat();
    expect(stored).toHaveLength(got.length);
    const expiryEvents = published.filter(
      (e) => e.type === 'CertificateExpiring' || e.type === 'CertificateExpired',
    );
    expect(expiryEvents).toHaveLength(got.length);
    // Every certificate ends expired, notified as such once.
    expect(stored.filter((n) => n.kind === 'expired')).toHaveLength(records.length);
  });

  it('notifies each certificate activated while 10 scans run exactly once, at the threshold crossed by then', async () => {
    clockNow = new Date('2030-01-01T12:00:00Z');
    const tenant = 'core-activate';
    const ids: string[] = [];
    for (let i = 0; i < 12; i++) {
      const p = newPair({ now: clockNow, days: 10 + (i % 4) });
      ids.push(
        (await uploadCertificate(core[0]!, actor, tenant, { certificate: p.certPem, privateKey: p.keyPem }))
          .id,
      );
    }
    const before = published.length;
    for (const [i, id] of ids.entries()) await requestIvrAssignment(core[i % 2]!, actor, tenant, `p${i}`, id);
    const requests = published.slice(before).filter((e) => e.type === 'IvrAssignmentRequested');
    expect(requests).toHaveLength(ids.length);

    // Half the activations go through the IVR consumer, half through the screen set, all while scans run.
    const scans = Array.from({ length: 10 }, (_, i) => runExpiryScan(core[i % 2]!, clockNow));
    const activations = [
      ...requests.slice(0, 6).map((e, i) => applyIvrAssignment(core[i % 2]!, e)),
      ...ids.slice(6).map((id, i) => changeScreenRecording(core[i % 2]!, actor, tenant, { add: [id] })),
    ];
    const runs = await Promise.all(scans);
    await Promise.all(activations);
    const after = await runExpiryScan(core[0]!, clockNow);
    figures.racesRun++;
    figures.expiryScansRun += runs.length + 1;
    figures.parallelRequests += activations.length;

    const sent = [...runs, after]
      .flatMap((r) => r.notifications)
      .filter((n) => n.tenantId === tenant)
      .map((n) => `${n.certificateId}/${n.thresholdDays}`);
    expect(new Set(sent).size).toBe(sent.length);
    expect(sent.sort()).toEqual(ids.map((id) => `${id}/14`).sort());
    expect(await repos[1]!.listNotifications(tenant)).toHaveLength(ids.length);
  });

  it('changes nothing twice when every assignment event is delivered three times at once', async () => {
    clockNow = new Date('2030-01-02T00:00:00Z');
    const tenant = 'core-dup';
    // One fresh certificate per request: a certificate replaced on a profile is retired, and
    // reassigning it would be refused, which would make the outcome depend on delivery order.
    const ids: string[] = [];
    for (let i = 0; i < 30; i++) {
      const p = newPair({ now: clockNow });
      ids.push(
        (await uploadCertificate(core[0]!, actor, tenant, { certificate: p.certPem, privateKey: p.keyPem }))
          .id,
      );
    }
    const before = published.length;
    for (let i = 0; i < 30; i++) {
      clockNow = new Date(clockNow.getTime() + 1000);
      await requestIvrAssignment(core[i % 2]!, actor, tenant, `p${i % 4}`, ids[i]!);
    }
    const requests = published.slice(before).filter((e) => e.type === 'IvrAssignmentRequested');
    expect(requests).toHaveLength(30);
    const deliveries = requests.flatMap((e, i) =>
      [0, 1, 2].map((copy) => ({ e, deps: core[(i + copy) % 2]! })),
    );
    // Shuffled, so copies of a late request can arrive before an early one.
    deliveries.sort(() => Math.random() - 0.5);
    const outcomes = await Promise.all(
      deliveries.map(({ e, deps }) =>
        applyIvrAssignment(deps, e).then((o) => ({ id: String(e.data.requestId), o })),
      ),
    );
    figures.racesRun++;
    figures.duplicateDeliveries += deliveries.length;
    for (const e of requests) {
      const mine = outcomes.filter((x) => x.id === e.data.requestId).map((x) => x.o);
      expect(mine.filter((o) => o !== 'duplicate')).toHaveLength(1);
      expect(mine.filter((o) => o === 'duplicate')).toHaveLength(2);
    }
    const applied = outcomes.filter((x) => x.o === 'applied').length;
    const audit = await auditOldestFirst(core[0]!, tenant);
    expect(audit.filter((a) => a.action === 'ivr.assign.applied')).toHaveLength(applied);
    expect(published.slice(before).filter((e) => e.type === 'IvrAssignmentApplied')).toHaveLength(applied);
    // The newest request of each profile is the active one: late old copies were superseded.
    const { state, version } = await repos[1]!.getAssignments(tenant);
    for (let p = 0; p < 4; p++) {
      const newest = requests.filter((e) => e.data.profileId === `p${p}`).at(-1)!;
      expect(state.profiles[`p${p}`]!.activeCertificateId).toBe(newest.data.certificateId);
    }
    // A fourth delivery of everything changes nothing at all.
    const again = await Promise.all(requests.map((e, i) => applyIvrAssignment(core[i % 2]!, e)));
    figures.duplicateDeliveries += again.length;
    expect(new Set(again)).toEqual(new Set(['duplicate']));
    expect((await repos[0]!.getAssignments(tenant)).version).toBe(version);
  });
});
