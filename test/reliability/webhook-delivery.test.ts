import { readLocalConfig } from '../../functions/local/config';
import { type LocalRuntime, startLocalRuntime } from '../../functions/local/server';
import type { ExpiryNotification } from '../../shared/domain/types';
import { changeScreenRecording } from '../../shared/usecases/assignments';
import { uploadCertificate } from '../../shared/usecases/certificate-upload';
import { runExpiryScan } from '../../shared/usecases/expiry-scan';
import { capturingLogger } from '../helpers/logging';
import { daysFrom, FIXED_NOW, makePair, rsaKey, tempDir } from '../helpers/pki';
import { deliveryReport, startWebhookReceiver, type WebhookReceiver } from '../helpers/webhook-receiver';

const SECRET = 'reliability-webhook-secret';
const TENANT = 'hooks';

function keyOf(n: ExpiryNotification): string {
  return `${n.tenantId}/${n.certificateId}/${n.thresholdDays}`;
}

describe('webhook notices from the local runtime', () => {
  let receiver: WebhookReceiver;
  let runtime: LocalRuntime | undefined;
  const dataDir = tempDir('reccert-rel-webhook-');
  const { logger, records } = capturingLogger();

  beforeAll(async () => {
    receiver = await startWebhookReceiver(SECRET);
  });
  afterAll(async () => {
    await runtime?.close();
    await receiver.close();
  });

  const start = () =>
    startLocalRuntime(
      readLocalConfig({
        DATA_DIR: dataDir,
        PORT: '0',
        HOST: '127.0.0.1',
        LOG_LEVEL: 'debug',
        RECCERT_WEBHOOK_URL: receiver.url,
        RECCERT_WEBHOOK_SECRET: SECRET,
        RECCERT_WEBHOOK_BACKOFF_MS: '100',
        RECCERT_WEBHOOK_TIMEOUT_MS: '500',
      }),
      logger,
    );

  it('delivers every notice, signed, once acknowledged, through an outage, a timeout and a restart', async () => {
    runtime = await start();
    const ids: string[] = [];
    for (const i of [1, 2, 3]) {
      const { id } = await uploadCertificate(runtime.deps, { subject: 'hook-admin' }, TENANT, {
        ...(({ certPem, keyPem }) => ({ certificate: certPem, privateKey: keyPem }))(
          makePair({ key: rsaKey(`webhook-${i}`), notAfter: daysFrom(FIXED_NOW, 300 + i) }),
        ),
      });
      ids.push(id);
    }
    // Notices are about certificates in use (rule 14).
    await changeScreenRecording(runtime.deps, { subject: 'hook-admin' }, TENANT, { add: ids });
    // Two scans: each certificate crosses 90 days, then 30 days (six notices).
    const notices = [
      ...(await runExpiryScan(runtime.deps, daysFrom(FIXED_NOW, 230))).notifications,
      ...(await runExpiryScan(runtime.deps, daysFrom(FIXED_NOW, 280))).notifications,
    ];
    expect(notices).toHaveLength(6);
    const keys = notices.map(keyOf).sort();

    // Down: every notice is attempted and refused at least twice.
    const attemptsOf = (key: string) =>
      receiver.received.filter((r) => keyOf(JSON.parse(r.body).notification) === key).length;
    await receiver.waitFor(
      () => keys.every((k) => attemptsOf(k) >= 2),
      30_000,
      'two refused attempts per notice',
    );

    // A restart in the middle of the outage keeps what is pending.
    await runtime.close();
    const beforeRestart = receiver.received.length;
    runtime = await start();
    await receiver.waitFor(
      (r) => new Set(r.slice(beforeRestart).map((x) => x.deliveryId)).size === keys.length,
      30_000,
      'every pending notice attempted again after the restart',
    );

    // Then one attempt times out, and the receiver accepts from then on.
    receiver.setMode('hang-once');
    await receiver.waitFor(
      () => deliveryReport(receiver.received).acceptedKeys.length === keys.length,
      60_000,
      'every notice accepted',
    );
    // Well past several back-off periods: nothing more is sent for an acknowledged id.
    await new Promise((r) => setTimeout(r, 1500));
    await runtime.close();
    runtime = undefined;

    const report = deliveryReport(receiver.received);
    expect(receiver.received.some((r) => r.answer === 'timed-out')).toBe(true);
    expect(report.acceptedKeys).toEqual(keys);
    expect(report.badSignatures).toBe(0);
    expect(report.idMismatches).toBe(0);
    expect(report.afterAcceptance).toEqual([]);
    // One stable delivery id per notice, across attempts and the restart.
    for (const key of keys) expect(report.idsPerKey[key]).toHaveLength(1);
    expect(records().some((r) => r.message === 'webhook notice not delivered; will retry')).toBe(true);
  });
});
