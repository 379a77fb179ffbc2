import type { DomainEvent } from '../../shared/domain/types';
import { AppError } from '../../shared/errors';
import {
  applyIvrAssignment,
  changeScreenRecording,
  getIvrProfile,
  requestIvrAssignment,
} from '../../shared/usecases/assignments';
import { deleteCertificate, uploadCertificate } from '../../shared/usecases/certificates';
import { runExpiryScan } from '../../shared/usecases/expiry-scan';
import { type TestCore, testCore } from '../helpers/core';
import { daysFrom, FIXED_NOW, makePair, rsaKey } from '../helpers/pki';

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

describe('expiry scan', () => {
  let core: TestCore;
  beforeEach(() => {
    core = testCore();
  });
  afterEach(() => core.close());

  it('sends only the most urgent threshold when a first scan finds several crossed', async () => {
    const cert = await uploadPair(core, 'acme', pairValidFor(200));
    const result = await runExpiryScan(core.deps, daysFrom(new Date(cert.notAfter), -10));
    expect(result.notifications).toEqual([
      expect.objectContaining({ certificateId: cert.id, kind: 'expiring', thresholdDays: 14 }),
    ]);
    const again = await runExpiryScan(core.deps, daysFrom(new Date(cert.notAfter), -9));
    expect(again.notifications).toEqual([]);
  });

  it('notifies each (certificate, threshold) exactly once under concurrent scans', async () => {
    const certs = [];
    for (let i = 0; i < 5; i++) certs.push(await uploadPair(core, `t${i}`, pairValidFor(300, `c${i}`)));
    const at = daysFrom(new Date(certs[0]!.notAfter), -45);
    const runs = await Promise.all(Array.from({ length: 8 }, () => runExpiryScan(core.deps, at)));
    const all = runs.flatMap((r) => r.notifications);
    expect(all.map((n) => `${n.tenantId}/${n.thresholdDays}`).sort()).toEqual(
      ['t0/60', 't1/60', 't2/60', 't3/60', 't4/60'].sort(),
    );
    expect(core.published.filter((e) => e.type === 'CertificateExpiring')).toHaveLength(5);
  });

  it('walks down the thresholds and ends with the expired notice', async () => {
    const cert = await uploadPair(core, 'acme', pairValidFor(200));
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
    const cert = await uploadPair(core, 'acme', pairValidFor(200));
    const { notifications } = await runExpiryScan(core.deps, daysFrom(new Date(cert.notAfter), -20));
    expect(notifications.map((n) => n.thresholdDays)).toEqual([45]);
  });

  it('reads only the certificates that are due', async () => {
    for (let i = 0; i < 6; i++) await uploadPair(core, 'acme', pairValidFor(3000, `far${i}`));
    const due = await uploadPair(core, 'acme', pairValidFor(20, 'soon'));
    const result = await runExpiryScan(core.deps, FIXED_NOW);
    expect(result.scanned).toBe(1);
    expect(result.notifications.map((n) => n.certificateId)).toEqual([due.id]);
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

  it('rejects (and audits) a request whose certificate was deleted meanwhile', async () => {
    const a = await uploadPair(core, 'acme', pairValidFor(365, 'a'));
    const event = await requested('acme', 'record', a.id);
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
    const core = testCore();
    const a = await uploadPair(core, 'acme', pairValidFor(365, 'a'));
    await changeScreenRecording(core.deps, admin, 'acme', { add: [a.id] });
    await expectCode(
      changeScreenRecording(core.deps, admin, 'acme', { remove: [a.id], add: ['0'.repeat(32)] }),
      'NOT_FOUND',
    );
    const { state } = await core.repo.getAssignments('acme');
    expect(state.screen.certificateIds).toEqual([a.id]);
    core.close();
  });
});

describe('upload rollback', () => {
  it('removes the stored key when the metadata write fails, and answers 503', async () => {
    const core = testCore();
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
    core.close();
  });

  it('removes key and metadata when publishing the event fails', async () => {
    const core = testCore();
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
    core.close();
  });
});

/** A logger that keeps what it was given, to check what reached the log. */
function capturingLogger() {
  const lines: { level: string; message: string; fields?: Record<string, unknown> }[] = [];
  const at = (level: string) => (message: string, fields?: Record<string, unknown>) =>
    void lines.push({ level, message, ...(fields ? { fields } : {}) });
  return { lines, logger: { info: at('info'), warn: at('warn'), error: at('error') } };
}

describe('regression: upload answered 503 "nothing was changed" after it had committed', () => {
  it('reads what the answer needs before writing, so a failing read leaves nothing stored', async () => {
    const core = testCore();
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
    core.close();
  });
});

describe('regression: upload rollback removed the key when it could not remove the record', () => {
  it('keeps record and key together and says the certificate was stored', async () => {
    const core = testCore();
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
    core.close();
  });
});

describe('regression: a change committed before its audit write failed was answered 503 and left unaudited', () => {
  it('retries a failed audit write and publish, so a passing fault leaves the delete audited', async () => {
    const core = testCore();
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
    core.close();
  });

  it('answers success for a delete whose audit store stays down, and logs the entry in full for replay', async () => {
    const core = testCore();
    const cert = await uploadPair(core, 'acme');
    const { lines, logger } = capturingLogger();
    core.deps.logger = logger;
    core.repo.appendAudit = async () => {
      throw new Error('audit table unavailable');
    };

    await deleteCertificate(core.deps, admin, 'acme', cert.id, false);

    expect(await core.repo.getCertificate('acme', cert.id)).toBeUndefined();
    const logged = lines.find((l) => l.message.startsWith('audit entry not stored'));
    expect(logged?.level).toBe('error');
    expect(logged?.fields?.auditEntry).toMatchObject({
      action: 'certificate.delete',
      certificateId: cert.id,
    });
    core.close();
  });

  it('applies an IVR assignment and logs its event for replay when publishing keeps failing', async () => {
    const core = testCore();
    const cert = await uploadPair(core, 'acme');
    await requestIvrAssignment(core.deps, admin, 'acme', 'record', cert.id);
    const requested = core.published.find((e) => e.type === 'IvrAssignmentRequested')!;
    const { lines, logger } = capturingLogger();
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
    const logged = lines.find((l) => l.message.startsWith('events not published'));
    expect(logged?.fields?.events).toEqual([expect.objectContaining({ type: 'IvrAssignmentApplied' })]);
    core.close();
  });
});
