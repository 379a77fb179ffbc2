import { PENDING_ASSIGNMENT_TTL_MS } from '../../shared/domain/assignments';
import { withNoticeMessage } from '../../shared/domain/expiry-notice';
import type { DomainEvent } from '../../shared/domain/types';
import { AppError } from '../../shared/errors';
import {
  abandonIvrAssignment,
  applyIvrAssignment,
  changeScreenRecording,
  getIvrProfile,
  getScreenRecording,
  requestIvrAssignment,
} from '../../shared/usecases/assignments';
import { uploadCertificate } from '../../shared/usecases/certificate-upload';
import { deleteCertificate, getCertificate, listCertificates } from '../../shared/usecases/certificates';
import { rearmExpiryNotices } from '../../shared/usecases/expiry-rearm';
import { runExpiryScan } from '../../shared/usecases/expiry-scan';
import { type TestCore, testCore } from '../helpers/core';
import { capturingLogger } from '../helpers/logging';
import { daysFrom, FIXED_NOW, makePair, rsaKey } from '../helpers/pki';
import { makeRecord } from '../ports/fixtures';

const admin = { subject: 'alice' };

async function expectCode(promise: Promise<unknown>, code: string): Promise<void> {
  await expect(promise).rejects.toMatchObject({ code });
}

function pairValidFor(days: number, name = `k${days}`) {
  return makePair({
    key: rsaKey(name),
    notBefore: daysFrom(FIXED_NOW, -1),
    notAfter: daysFrom(FIXED_NOW, days),
  });
}

async function uploadPair(core: TestCore, tenant: string, pair = pairValidFor(365)) {
  return uploadCertificate(core.deps, admin, tenant, { certificate: pair.certPem, privateKey: pair.keyPem });
}

/** Cores made by a test, closed after it whatever its outcome. */
const openCores: TestCore[] = [];
function freshCore(options?: Parameters<typeof testCore>[0]): TestCore {
  const core = testCore(options);
  openCores.push(core);
  return core;
}
afterEach(() => {
  for (const core of openCores.splice(0)) core.close();
});

describe('expiry scan', () => {
  let core: TestCore;
  beforeEach(() => {
    core = testCore();
  });
  afterEach(() => core.close());

  /** Makes the certificate the active one of `profileId`, as the consumer does. */
  async function assign(tenant: string, certificateId: string, profileId = 'record', on = core) {
    await requestIvrAssignment(on.deps, admin, tenant, profileId, certificateId);
    const event = on.published.filter((e) => e.type === 'IvrAssignmentRequested').at(-1)!;
    expect(await applyIvrAssignment(on.deps, event)).toBe('applied');
  }

  async function activePair(tenant: string, pair = pairValidFor(365), profileId = 'record') {
    const cert = await uploadPair(core, tenant, pair);
    await assign(tenant, cert.id, profileId);
    return cert;
  }

  it('sends only the most urgent threshold when a first scan finds several crossed', async () => {
    const cert = await activePair('acme', pairValidFor(200));
    const result = await runExpiryScan(core.deps, daysFrom(new Date(cert.notAfter), -10));
    expect(result.notifications).toEqual([
      expect.objectContaining({ certificateId: cert.id, kind: 'expiring', thresholdDays: 14 }),
    ]);
    const again = await runExpiryScan(core.deps, daysFrom(new Date(cert.notAfter), -9));
    expect(again.notifications).toEqual([]);
  });

  it('notifies each (certificate, threshold) exactly once under concurrent scans', async () => {
    const certs = [];
    for (let i = 0; i < 5; i++) certs.push(await activePair(`t${i}`, pairValidFor(300, `c${i}`)));
    const at = daysFrom(new Date(certs[0]!.notAfter), -45);
    const runs = await Promise.all(Array.from({ length: 8 }, () => runExpiryScan(core.deps, at)));
    const all = runs.flatMap((r) => r.notifications);
    expect(all.map((n) => `${n.tenantId}/${n.thresholdDays}`).sort()).toEqual(
      ['t0/60', 't1/60', 't2/60', 't3/60', 't4/60'].sort(),
    );
    expect(core.published.filter((e) => e.type === 'CertificateExpiring')).toHaveLength(5);
  });

  it('walks down the thresholds and ends with the expired notice', async () => {
    const cert = await activePair('acme', pairValidFor(200));
    const notAfter = new Date(cert.notAfter);
    const seen: number[] = [];
    for (const daysLeft of [95, 89, 59, 29.5, 13, 6.5, 0.5, -1, -30]) {
      const { notifications } = await runExpiryScan(core.deps, daysFrom(notAfter, -daysLeft));
      seen.push(...notifications.map((n) => n.thresholdDays));
    }
    expect(seen).toEqual([90, 60, 30, 14, 7, 1, 0]);
    const list = await core.repo.listNotifications('acme');
    expect(list[0]).toMatchObject({ kind: 'expired', thresholdDays: 0 });
  });

  it('uses configured thresholds', async () => {
    core.close();
    core = testCore({ thresholds: [45, 5] });
    const cert = await activePair('acme', pairValidFor(200));
    const { notifications } = await runExpiryScan(core.deps, daysFrom(new Date(cert.notAfter), -20));
    expect(notifications.map((n) => n.thresholdDays)).toEqual([45]);
  });

  it('reads only the certificates that are due', async () => {
    for (let i = 0; i < 6; i++) await activePair('acme', pairValidFor(3000, `far${i}`), `far${i}`);
    const due = await activePair('acme', pairValidFor(20, 'soon'));
    const result = await runExpiryScan(core.deps, FIXED_NOW);
    // The six far ones were re-armed by their activation: read once, then never again.
    const next = await runExpiryScan(core.deps, daysFrom(FIXED_NOW, 1));
    expect(result.notifications.map((n) => n.certificateId)).toEqual([due.id]);
    expect(next.scanned).toBe(0);
  });

  it('says where the certificate is active, that recordings keep being encrypted with it, and publishes the same', async () => {
    const cert = await activePair('acme', pairValidFor(200), 'support');
    await assign('acme', cert.id, 'record');
    await changeScreenRecording(core.deps, admin, 'acme', { add: [cert.id] });

    const { notifications } = await runExpiryScan(core.deps, daysFrom(new Date(cert.notAfter), -10));

    expect(notifications).toEqual([
      expect.objectContaining({
        certificateId: cert.id,
        activeIn: { ivrProfiles: ['record', 'support'], screenRecording: true },
        replacementAvailable: false,
      }),
    ]);
    expect(await core.repo.listNotifications('acme')).toEqual(notifications);
    const event = core.published.find((e) => e.type === 'CertificateExpiring');
    expect(event?.data).toMatchObject({
      certificateId: cert.id,
      thresholdDays: 14,
      activeIn: { ivrProfiles: ['record', 'support'], screenRecording: true },
      replacementAvailable: false,
    });
    const text = withNoticeMessage(notifications[0]!).message;
    expect(text).toContain('IVR profiles record, support and the screen-recording set');
    expect(text).toContain('recordings keep being encrypted with the expired certificate');
    expect(text).toContain('Upload a new certificate');
  });

  it('notifies a certificate that is only in the screen-recording set', async () => {
    const cert = await uploadPair(core, 'acme', pairValidFor(200));
    await changeScreenRecording(core.deps, admin, 'acme', { add: [cert.id] });

    const { notifications } = await runExpiryScan(core.deps, daysFrom(new Date(cert.notAfter), -10));

    expect(notifications).toEqual([
      expect.objectContaining({ activeIn: { ivrProfiles: [], screenRecording: true }, thresholdDays: 14 }),
    ]);
  });

  it('makes no notice for a never-assigned certificate and moves its cursor on, so it is not read again', async () => {
    const cert = await uploadPair(core, 'acme', pairValidFor(200));
    const notAfter = new Date(cert.notAfter);

    const first = await runExpiryScan(core.deps, daysFrom(notAfter, -10));
    const again = await runExpiryScan(core.deps, daysFrom(notAfter, -9));
    const expired = await runExpiryScan(core.deps, daysFrom(notAfter, 1));
    const after = await runExpiryScan(core.deps, daysFrom(notAfter, 30));

    expect(first).toEqual({ scanned: 1, notifications: [] });
    expect(again).toEqual({ scanned: 0, notifications: [] });
    expect(expired.notifications).toEqual([]);
    expect(after.scanned).toBe(0);
    expect(await core.repo.listNotifications('acme')).toEqual([]);
    expect(core.published.filter((e) => e.type.startsWith('CertificateExpir'))).toEqual([]);
  });

  it('makes no notice for a retired certificate and tells the one that replaced it', async () => {
    const old = await activePair('acme', pairValidFor(200, 'old'));
    const current = await activePair('acme', pairValidFor(210, 'new'));

    const { notifications } = await runExpiryScan(core.deps, daysFrom(new Date(current.notAfter), -10));

    expect(notifications.map((n) => n.certificateId)).toEqual([current.id]);
    expect(notifications.map((n) => n.certificateId)).not.toContain(old.id);
  });

  it('says a replacement is available only while a newer usable certificate is not assigned anywhere', async () => {
    const cert = await activePair('acme', pairValidFor(100, 'current'));
    await uploadPair(core, 'acme', pairValidFor(90, 'older'));
    const newer = await uploadPair(core, 'acme', pairValidFor(400, 'newer'));
    const notAfter = new Date(cert.notAfter);

    const ready = await runExpiryScan(core.deps, daysFrom(notAfter, -59));
    await assign('acme', newer.id, 'other');
    const assigned = await runExpiryScan(core.deps, daysFrom(notAfter, -29));

    expect(ready.notifications).toEqual([
      expect.objectContaining({ certificateId: cert.id, thresholdDays: 60, replacementAvailable: true }),
    ]);
    expect(withNoticeMessage(ready.notifications[0]!).message).toContain(
      'A newer certificate is already uploaded',
    );
    expect(assigned.notifications).toEqual([
      expect.objectContaining({ certificateId: cert.id, thresholdDays: 30, replacementAvailable: false }),
    ]);
  });

  it('picks up a reactivated certificate at the most urgent threshold crossed, never an earlier one, then the rest', async () => {
    const cert = await uploadPair(core, 'acme', pairValidFor(200));
    const notAfter = new Date(cert.notAfter);
    const seen: number[] = [];
    const scan = async (daysLeft: number) => {
      const { notifications } = await runExpiryScan(core.deps, daysFrom(notAfter, -daysLeft));
      seen.push(...notifications.map((n) => n.thresholdDays));
    };
    await scan(89);
    await scan(59);
    core.clock.set(daysFrom(notAfter, -40));
    await changeScreenRecording(core.deps, admin, 'acme', { add: [cert.id] });
    await scan(39);
    await scan(38);
    await changeScreenRecording(core.deps, admin, 'acme', {
      remove: [cert.id],
      confirmDisableEncryption: true,
    });
    await scan(29);
    core.clock.set(daysFrom(notAfter, -20));
    await changeScreenRecording(core.deps, admin, 'acme', { add: [cert.id] });
    await scan(19);
    for (const daysLeft of [13, 6, 0.5, -1]) await scan(daysLeft);

    expect(seen).toEqual([60, 30, 14, 7, 1, 0]);
  });

  it('loses no notice when an assignment commits between the scan reading a certificate and its assignments', async () => {
    const cert = await uploadPair(core, 'acme', pairValidFor(200));
    const notAfter = new Date(cert.notAfter);
    const at = daysFrom(notAfter, -10);
    core.clock.set(at);
    const repo = core.deps.repo;
    let raced = false;
    const racing = {
      ...core.deps,
      repo: Object.assign(Object.create(repo) as typeof repo, {
        getAssignments: async (tenantId: string) => {
          const stale = await repo.getAssignments(tenantId);
          if (!raced) {
            raced = true;
            await assign('acme', cert.id);
          }
          return stale;
        },
      }),
    };

    const first = await runExpiryScan(racing, at);
    const second = await runExpiryScan(core.deps, at);
    const third = await runExpiryScan(core.deps, at);

    expect(raced).toBe(true);
    expect(first.notifications).toEqual([]);
    expect(second.notifications).toEqual([
      expect.objectContaining({ certificateId: cert.id, thresholdDays: 14 }),
    ]);
    expect(third.notifications).toEqual([]);
  });

  it("regression: a re-arm that beat the scan's cursor write let a scan as of the day before send a less urgent threshold after the urgent one", async () => {
    const cert = await activePair('acme', pairValidFor(200));
    const at = daysFrom(new Date(cert.notAfter), -0.5);
    core.clock.set(at);
    const repo = core.deps.repo;
    const racing = {
      ...core.deps,
      repo: Object.assign(Object.create(repo) as typeof repo, {
        addNotificationOnce: async (n: Parameters<typeof repo.addNotificationOnce>[0]) => {
          const created = await repo.addNotificationOnce(n);
          // The assignment consumer's re-arm lands between the notice and the cursor write.
          await rearmExpiryNotices(core.deps, 'acme', [cert.id]);
          return created;
        },
      }),
    };

    const urgent = await runExpiryScan(racing, at);
    const dayBefore = await runExpiryScan(core.deps, daysFrom(at, -1));
    const again = await runExpiryScan(core.deps, at);

    expect(urgent.notifications.map((n) => n.thresholdDays)).toEqual([1]);
    expect(dayBefore.notifications).toEqual([]);
    expect(again.notifications).toEqual([]);
    expect((await core.repo.listNotifications('acme')).map((n) => n.thresholdDays)).toEqual([1]);
  });

  it('sends an activation racing 8 concurrent scans exactly once', async () => {
    const certs = [];
    for (let i = 0; i < 6; i++) certs.push(await uploadPair(core, 'acme', pairValidFor(100, `race${i}`)));
    const at = daysFrom(new Date(certs[0]!.notAfter), -10);
    core.clock.set(at);

    const runs = await Promise.all([
      ...Array.from({ length: 8 }, () => runExpiryScan(core.deps, at)),
      ...certs.map((c, i) => assign('acme', c.id, `p${i}`).then(() => undefined)),
    ]);
    const later = await runExpiryScan(core.deps, at);

    const sent = [...runs.flatMap((r) => r?.notifications ?? []), ...later.notifications];
    expect(sent.map((n) => n.certificateId).sort()).toEqual(certs.map((c) => c.id).sort());
    expect(await core.repo.listNotifications('acme')).toHaveLength(6);
  });
});

describe('IVR assignment consumer', () => {
  let core: TestCore;
  beforeEach(() => {
    core = testCore();
  });
  afterEach(() => core.close());

  async function requested(tenant: string, profileId: string, certificateId: string): Promise<DomainEvent> {
    await requestIvrAssignment(core.deps, admin, tenant, profileId, certificateId);
    const event = core.published.filter((e) => e.type === 'IvrAssignmentRequested').at(-1)!;
    return event;
  }

  it('applies a request once; a redelivered event changes nothing', async () => {
    const a = await uploadPair(core, 'acme', pairValidFor(365, 'a'));
    const b = await uploadPair(core, 'acme', pairValidFor(365, 'b'));
    const first = await requested('acme', 'record', a.id);
    expect(await applyIvrAssignment(core.deps, first)).toBe('applied');
    const second = await requested('acme', 'record', b.id);
    expect(await applyIvrAssignment(core.deps, second)).toBe('applied');
    expect(await applyIvrAssignment(core.deps, first)).toBe('duplicate');
    expect(await getIvrProfile(core.deps, 'acme', 'record')).toMatchObject({
      activeCertificateId: b.id,
      previousCertificateIds: [a.id],
    });
  });

  it('lets a newer request win over an older one delivered late', async () => {
    const a = await uploadPair(core, 'acme', pairValidFor(365, 'a'));
    const b = await uploadPair(core, 'acme', pairValidFor(365, 'b'));
    const older = await requested('acme', 'record', a.id);
    core.clock.set(new Date(FIXED_NOW.getTime() + 1000));
    const newer = await requested('acme', 'record', b.id);
    expect(await applyIvrAssignment(core.deps, newer)).toBe('applied');
    expect(await applyIvrAssignment(core.deps, older)).toBe('superseded');
    expect((await getIvrProfile(core.deps, 'acme', 'record')).activeCertificateId).toBe(b.id);
  });

  it('rejects (and audits) a request delivered after its mark lapsed and its certificate was deleted', async () => {
    const a = await uploadPair(core, 'acme', pairValidFor(365, 'a'));
    const event = await requested('acme', 'record', a.id);
    core.clock.set(new Date(FIXED_NOW.getTime() + PENDING_ASSIGNMENT_TTL_MS + 1000));
    await deleteCertificate(core.deps, admin, 'acme', a.id, false);
    expect(await applyIvrAssignment(core.deps, event)).toBe('rejected');
    await expectCode(getIvrProfile(core.deps, 'acme', 'record'), 'NOT_FOUND');
    const audit = await core.repo.listAudit('acme', 10);
    expect(audit[0]?.action).toBe('ivr.assign.rejected');
  });

  it('loses no update when many assignments race on one tenant', async () => {
    const certs = [];
    for (let i = 0; i < 4; i++) certs.push(await uploadPair(core, 'acme', pairValidFor(365, `r${i}`)));
    const events: DomainEvent[] = [];
    for (let i = 0; i < 20; i++) events.push(await requested('acme', `p${i}`, certs[i % 4]!.id));
    const outcomes = await Promise.all(events.map((e) => applyIvrAssignment(core.deps, e)));
    expect(outcomes.every((o) => o === 'applied')).toBe(true);
    for (let i = 0; i < 20; i++) {
      expect((await getIvrProfile(core.deps, 'acme', `p${i}`)).activeCertificateId).toBe(certs[i % 4]!.id);
    }
  });
});

describe('screen-recording change sets', () => {
  it('changes nothing when any part of the change is refused', async () => {
    const core = freshCore();
    const a = await uploadPair(core, 'acme', pairValidFor(365, 'a'));
    await changeScreenRecording(core.deps, admin, 'acme', { add: [a.id] });
    await expectCode(
      changeScreenRecording(core.deps, admin, 'acme', { remove: [a.id], add: ['0'.repeat(32)] }),
      'NOT_FOUND',
    );
    const { state } = await core.repo.getAssignments('acme');
    expect(state.screen.certificateIds).toEqual([a.id]);
  });
});

describe('upload rollback', () => {
  it('removes the stored key when the metadata write fails, and answers 503', async () => {
    const core = freshCore();
    const pair = pairValidFor(365, 'rb');
    const original = core.repo.createCertificate.bind(core.repo);
    core.repo.createCertificate = async () => {
      throw new Error('SQLITE_IOERR: disk I/O error');
    };
    await expectCode(uploadPair(core, 'acme', pair), 'SERVICE_UNAVAILABLE');
    expect(await core.keystore.listKeyRefs('acme')).toEqual([]);
    core.repo.createCertificate = original;
    const retried = await uploadPair(core, 'acme', pair);
    expect(retried.id).toMatch(/^[0-9a-f]{32}$/);
  });

  it('removes key and metadata when publishing the event fails', async () => {
    const core = freshCore();
    core.deps.events = {
      publish: async () => {
        throw new Error('queue unavailable');
      },
    };
    const error = await uploadPair(core, 'acme').catch((e: unknown) => e);
    expect(error).toBeInstanceOf(AppError);
    expect((error as AppError).code).toBe('SERVICE_UNAVAILABLE');
    expect(await core.repo.listCertificates('acme')).toEqual([]);
    expect(await core.keystore.listKeyRefs('acme')).toEqual([]);
  });

  it('regression: upload answered 503 "nothing was changed" after it had committed: reads what the answer needs before writing, so a failing read leaves nothing stored', async () => {
    const core = freshCore();
    const pair = pairValidFor(365, 'read-first');
    const original = core.repo.getAssignments.bind(core.repo);
    core.repo.getAssignments = async () => {
      throw new Error('read timeout');
    };

    await expectCode(uploadPair(core, 'acme', pair), 'SERVICE_UNAVAILABLE');

    expect(await core.repo.listCertificates('acme')).toEqual([]);
    expect(await core.keystore.listKeyRefs('acme')).toEqual([]);
    core.repo.getAssignments = original;
    await expect(uploadPair(core, 'acme', pair)).resolves.toMatchObject({ status: 'active' });
  });

  it('regression: upload rollback removed the key when it could not remove the record: keeps record and key together and says the certificate was stored', async () => {
    const core = freshCore();
    core.deps.events = {
      publish: async () => {
        throw new Error('queue unavailable');
      },
    };
    core.repo.removeCertificate = async () => {
      throw new Error('table unavailable');
    };

    const error = await uploadPair(core, 'acme').catch((e: unknown) => e);

    expect(error).toMatchObject({ code: 'SERVICE_UNAVAILABLE', retryAfterSeconds: 5 });
    expect((error as Error).message).toMatch(/was stored/);
    const [record] = await core.repo.listCertificates('acme');
    expect(record).toBeDefined();
    expect((await core.keystore.listKeyRefs('acme')).map((k) => k.keyRef)).toEqual([record!.keyRef]);
  });
});

describe('a committed change whose audit or events cannot be stored', () => {
  it('regression: a change committed before its audit write failed was answered 503 and left unaudited: retries a failed audit write and publish, so a passing fault leaves the delete audited', async () => {
    const core = freshCore();
    const cert = await uploadPair(core, 'acme');
    const appendAudit = core.repo.appendAudit.bind(core.repo);
    let failures = 1;
    core.repo.appendAudit = async (entry) => {
      if (entry.action === 'certificate.delete' && failures-- > 0) throw new Error('throttled');
      return appendAudit(entry);
    };

    await deleteCertificate(core.deps, admin, 'acme', cert.id, false);

    const actions = (await core.repo.listAudit('acme', 10)).map((e) => e.action);
    expect(actions).toContain('certificate.delete');
    expect(core.published.map((e) => e.type)).toContain('CertificateDeleted');
  });

  it('answers success for a delete whose audit store stays down, and logs the entry in full for replay', async () => {
    const core = freshCore();
    const cert = await uploadPair(core, 'acme');
    const { records, logger } = capturingLogger();
    core.deps.logger = logger;
    core.repo.appendAudit = async () => {
      throw new Error('audit table unavailable');
    };

    await deleteCertificate(core.deps, admin, 'acme', cert.id, false);

    expect(await core.repo.getCertificate('acme', cert.id)).toBeUndefined();
    const logged = records().find((l) => l.message.startsWith('audit entry not stored'));
    expect(logged?.level).toBe('error');
    expect(logged?.auditEntry).toMatchObject({
      action: 'certificate.delete',
      certificateId: cert.id,
    });
  });

  it('applies an IVR assignment and logs its event for replay when publishing keeps failing', async () => {
    const core = freshCore();
    const cert = await uploadPair(core, 'acme');
    await requestIvrAssignment(core.deps, admin, 'acme', 'record', cert.id);
    const requested = core.published.find((e) => e.type === 'IvrAssignmentRequested')!;
    const { records, logger } = capturingLogger();
    core.deps.logger = logger;
    core.deps.events = {
      publish: async () => {
        throw new Error('bus unavailable');
      },
    };

    const outcome = await applyIvrAssignment(core.deps, requested);

    expect(outcome).toBe('applied');
    expect((await getIvrProfile(core.deps, 'acme', 'record')).activeCertificateId).toBe(cert.id);
    const actions = (await core.repo.listAudit('acme', 10)).map((e) => e.action);
    expect(actions).toContain('ivr.assign.applied');
    const logged = records().find((l) => l.message.startsWith('events not published'));
    expect(logged?.events).toEqual([expect.objectContaining({ type: 'IvrAssignmentApplied' })]);
  });
});

/** Names an object literal answers for without holding them (DESIGN section 9). */
const PROTOTYPE_NAMES = [
  'constructor',
  '__proto__',
  'toString',
  'hasOwnProperty',
  'valueOf',
  'prototype',
  '__defineGetter__',
  'isPrototypeOf',
];

describe('object-prototype names as ids', () => {
  let core: TestCore;
  beforeEach(() => {
    core = testCore();
  });
  afterEach(() => core.close());

  it('regression #8: a never-assigned profile with a prototype name is NOT_FOUND, and an assignment to it applies and reads back', async () => {
    const cert = await uploadPair(core, 'acme', pairValidFor(365, 'proto'));

    for (const name of PROTOTYPE_NAMES) {
      await expectCode(getIvrProfile(core.deps, 'acme', name), 'NOT_FOUND');
    }
    for (const name of PROTOTYPE_NAMES) {
      await requestIvrAssignment(core.deps, admin, 'acme', name, cert.id);
      const event = core.published.filter((e) => e.type === 'IvrAssignmentRequested').at(-1)!;
      expect(await applyIvrAssignment(core.deps, event)).toBe('applied');
    }

    for (const name of PROTOTYPE_NAMES) {
      expect(await getIvrProfile(core.deps, 'acme', name)).toEqual({
        id: name,
        activeCertificateId: cert.id,
        previousCertificateIds: [],
        updatedAt: expect.any(String),
      });
    }
    const view = await getCertificate(core.deps, 'acme', cert.id);
    expect(view.ivrProfiles).toEqual([...PROTOTYPE_NAMES].sort());
    await expectCode(getIvrProfile(core.deps, 'acme', 'record'), 'NOT_FOUND');
  });

  it('regression #8: tenants and certificate ids with prototype names behave like any other', async () => {
    const cert = await uploadPair(core, 'constructor', pairValidFor(365, 'tenant-proto'));

    expect((await listCertificates(core.deps, 'constructor', { limit: 10 })).items.map((c) => c.id)).toEqual([
      cert.id,
    ]);
    expect((await listCertificates(core.deps, '__proto__', { limit: 10 })).items).toEqual([]);
    expect(await getScreenRecording(core.deps, '__proto__')).toEqual({
      certificateIds: [],
      encryptionEnabled: false,
    });
    for (const name of PROTOTYPE_NAMES) {
      await expectCode(getCertificate(core.deps, 'constructor', name), 'NOT_FOUND');
      await expectCode(deleteCertificate(core.deps, admin, 'constructor', name, true), 'NOT_FOUND');
      await expectCode(requestIvrAssignment(core.deps, admin, 'constructor', 'record', name), 'NOT_FOUND');
      await expectCode(changeScreenRecording(core.deps, admin, 'constructor', { add: [name] }), 'NOT_FOUND');
    }
  });
});

describe('listing certificates with a status filter', () => {
  let core: TestCore;
  beforeEach(() => {
    core = testCore();
  });
  afterEach(() => core.close());

  it('fills each page with matches across store pages, and ends only when the store does', async () => {
    // 30 records in id order, every fifth expiring soon: a filtered page needs several store pages.
    const expiring: string[] = [];
    for (let i = 0; i < 30; i++) {
      const id = `c${String(i).padStart(2, '0')}`;
      const days = i % 5 === 0 ? 10 : 400;
      if (days === 10) expiring.push(id);
      await core.repo.createCertificate(
        makeRecord({ tenantId: 'acme', id, notAfter: daysFrom(FIXED_NOW, days).toISOString() }),
      );
    }

    const pages: string[][] = [];
    let cursor: string | undefined;
    do {
      const page = await listCertificates(core.deps, 'acme', { status: 'expiring', limit: 2, cursor });
      pages.push(page.items.map((c) => c.id));
      cursor = page.nextCursor;
    } while (cursor !== undefined && pages.length < 20);

    // The third page is full while records remain unread, so a cursor follows; what it reads holds
    // no match, and only then does the listing end.
    expect(pages).toEqual([expiring.slice(0, 2), expiring.slice(2, 4), expiring.slice(4), []]);
  });

  it('refuses a cursor made for another filter or tenant with VALIDATION_ERROR', async () => {
    for (let i = 0; i < 3; i++)
      await core.repo.createCertificate(makeRecord({ tenantId: 'acme', id: `c${i}` }));
    const { nextCursor } = await listCertificates(core.deps, 'acme', { limit: 1 });

    await expectCode(
      listCertificates(core.deps, 'acme', { status: 'expired', limit: 1, cursor: nextCursor }),
      'VALIDATION_ERROR',
    );
    await expectCode(
      listCertificates(core.deps, 'other', { limit: 1, cursor: nextCursor }),
      'VALIDATION_ERROR',
    );
    await expectCode(
      listCertificates(core.deps, 'acme', { limit: 1, cursor: 'not-a-cursor' }),
      'VALIDATION_ERROR',
    );
  });
});

describe('a pending assignment protects its certificate', () => {
  it('regression #16: refuses to delete a certificate just uploaded on the azure flow, before its automatic assignment is applied', async () => {
    const core = freshCore({ flow: 'azure' });
    const cert = await uploadPair(core, 'acme', pairValidFor(365, 'azure'));
    const automatic = core.published.find((e) => e.type === 'IvrAssignmentRequested')!;

    for (const force of [false, true]) {
      const error = await deleteCertificate(core.deps, admin, 'acme', cert.id, force).catch(
        (e: unknown) => e,
      );
      expect(error).toMatchObject({
        code: 'CERTIFICATE_IN_USE',
        details: { pendingIvrProfiles: ['record'], ivrProfiles: [] },
      });
    }

    expect(await applyIvrAssignment(core.deps, automatic)).toBe('applied');
    await expectCode(deleteCertificate(core.deps, admin, 'acme', cert.id, true), 'CERTIFICATE_IN_USE');
    expect((await core.repo.getAssignments('acme')).state.pending).toEqual([]);
  });

  it('refuses to delete a certificate with a requested (202) assignment not yet applied', async () => {
    const core = freshCore();
    const cert = await uploadPair(core, 'acme', pairValidFor(365, 'explicit'));

    await requestIvrAssignment(core.deps, admin, 'acme', 'support', cert.id);

    await expectCode(deleteCertificate(core.deps, admin, 'acme', cert.id, true), 'CERTIFICATE_IN_USE');
    expect(await core.repo.getCertificate('acme', cert.id)).toBeDefined();
  });

  it('frees the certificate once the consumer has handled the request another way (superseded)', async () => {
    const core = freshCore();
    const a = await uploadPair(core, 'acme', pairValidFor(365, 'sa'));
    const b = await uploadPair(core, 'acme', pairValidFor(365, 'sb'));
    await requestIvrAssignment(core.deps, admin, 'acme', 'record', a.id);
    const older = core.published.filter((e) => e.type === 'IvrAssignmentRequested').at(-1)!;
    core.clock.set(new Date(FIXED_NOW.getTime() + 1000));
    await requestIvrAssignment(core.deps, admin, 'acme', 'record', b.id);
    const newer = core.published.filter((e) => e.type === 'IvrAssignmentRequested').at(-1)!;

    expect(await applyIvrAssignment(core.deps, newer)).toBe('applied');
    expect(await applyIvrAssignment(core.deps, older)).toBe('superseded');

    await expect(deleteCertificate(core.deps, admin, 'acme', a.id, false)).resolves.toBeUndefined();
  });

  it('never lets a request and a delete of one certificate both succeed when they race', async () => {
    const core = freshCore();
    for (let round = 0; round < 8; round++) {
      const cert = await uploadPair(core, 'acme', pairValidFor(365, `race${round}`));
      const [request, deletion] = await Promise.allSettled([
        requestIvrAssignment(core.deps, admin, 'acme', `p${round}`, cert.id),
        deleteCertificate(core.deps, admin, 'acme', cert.id, false),
      ]);

      expect([request.status, deletion.status].sort()).toEqual(['fulfilled', 'rejected']);
      const event = core.published.filter((e) => e.type === 'IvrAssignmentRequested').at(-1);
      if (request.status === 'fulfilled') {
        expect(deletion).toMatchObject({ reason: { code: 'CERTIFICATE_IN_USE' } });
        expect(await applyIvrAssignment(core.deps, event!)).toBe('applied');
        expect(await core.repo.getCertificate('acme', cert.id)).toBeDefined();
      } else {
        expect(request).toMatchObject({ reason: { code: 'NOT_FOUND' } });
        await expectCode(getIvrProfile(core.deps, 'acme', `p${round}`), 'NOT_FOUND');
      }
    }
  });

  it('never lets a delete succeed while the consumer applies the assignment concurrently', async () => {
    const core = freshCore();
    for (let round = 0; round < 8; round++) {
      const cert = await uploadPair(core, 'acme', pairValidFor(365, `apply${round}`));
      await requestIvrAssignment(core.deps, admin, 'acme', `q${round}`, cert.id);
      const event = core.published.filter((e) => e.type === 'IvrAssignmentRequested').at(-1)!;

      const [applied, deletion] = await Promise.allSettled([
        applyIvrAssignment(core.deps, event),
        deleteCertificate(core.deps, admin, 'acme', cert.id, true),
      ]);

      expect(applied).toMatchObject({ status: 'fulfilled', value: 'applied' });
      expect(deletion).toMatchObject({ status: 'rejected', reason: { code: 'CERTIFICATE_IN_USE' } });
      expect(await core.repo.getCertificate('acme', cert.id)).toBeDefined();
    }
  });

  it('clears the mark when the request cannot be handed to the consumer', async () => {
    const core = freshCore();
    const cert = await uploadPair(core, 'acme', pairValidFor(365, 'unpublished'));
    core.deps.events = {
      publish: async () => {
        throw new Error('bus unavailable');
      },
    };

    await expectCode(
      requestIvrAssignment(core.deps, admin, 'acme', 'record', cert.id),
      'SERVICE_UNAVAILABLE',
    );

    expect((await core.repo.getAssignments('acme')).state.pending).toEqual([]);
    await expect(deleteCertificate(core.deps, admin, 'acme', cert.id, false)).resolves.toBeUndefined();
  });

  it('clears the automatic mark when an azure-flow upload is rolled back', async () => {
    const core = freshCore({ flow: 'azure' });
    core.deps.events = {
      publish: async () => {
        throw new Error('queue unavailable');
      },
    };

    await expectCode(uploadPair(core, 'acme', pairValidFor(365, 'rolled-back')), 'SERVICE_UNAVAILABLE');

    expect((await core.repo.getAssignments('acme')).state.pending).toEqual([]);
    expect(await core.repo.listCertificates('acme')).toEqual([]);
  });

  it('clears the mark and audits when the consumer gives up on a request (dead letter)', async () => {
    const core = freshCore();
    const cert = await uploadPair(core, 'acme', pairValidFor(365, 'dead'));
    await requestIvrAssignment(core.deps, admin, 'acme', 'record', cert.id);
    const event = core.published.filter((e) => e.type === 'IvrAssignmentRequested').at(-1)!;

    await abandonIvrAssignment(core.deps, event, 'delivery failed 5 times');

    expect((await core.repo.getAssignments('acme')).state.pending).toEqual([]);
    const [latest] = await core.repo.listAudit('acme', 1);
    expect(latest).toMatchObject({ action: 'ivr.assign.rejected', certificateId: cert.id });
    await expect(deleteCertificate(core.deps, admin, 'acme', cert.id, false)).resolves.toBeUndefined();
  });

  it('lets a mark lapse after its TTL, so a request nobody applies cannot block a delete for good', async () => {
    const core = freshCore();
    const cert = await uploadPair(core, 'acme', pairValidFor(365, 'lapse'));
    await requestIvrAssignment(core.deps, admin, 'acme', 'record', cert.id);
    core.clock.set(new Date(FIXED_NOW.getTime() + PENDING_ASSIGNMENT_TTL_MS - 1000));
    await expectCode(deleteCertificate(core.deps, admin, 'acme', cert.id, false), 'CERTIFICATE_IN_USE');

    core.clock.set(new Date(FIXED_NOW.getTime() + PENDING_ASSIGNMENT_TTL_MS + 1000));

    await expect(deleteCertificate(core.deps, admin, 'acme', cert.id, false)).resolves.toBeUndefined();
  });
});
