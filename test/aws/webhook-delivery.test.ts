import crypto from 'node:crypto';
import { scanDeps } from '../../functions/aws/handlers/expiry-scan';
import { deliveryParts, webhookDeliveryFunction } from '../../functions/aws/handlers/webhook-delivery';
import { type AwsResources, provisionAwsResources } from '../../scripts/emulators/moto-resources';
import { emptyAssignments } from '../../shared/ports';
import { runExpiryScan } from '../../shared/usecases/expiry-scan';
import { deliveryReport, startWebhookReceiver, type WebhookReceiver } from '../helpers/webhook-receiver';
import { makeRecord, uniqueTenantId } from '../ports/fixtures';
import { motoClients } from './clients';
import { motoEndpoint } from './moto';

const SECRET = 'aws-webhook-secret-0123';
const clients = motoClients();
let resources: AwsResources;
let receiver: WebhookReceiver;
let env: NodeJS.ProcessEnv;

beforeAll(async () => {
  resources = await provisionAwsResources(motoEndpoint(), {
    prefix: `webhook-${crypto.randomBytes(4).toString('hex')}`,
  });
  receiver = await startWebhookReceiver(SECRET);
  env = {
    ...resources.env,
    LOG_LEVEL: 'silent',
    RECCERT_WEBHOOK_URL: receiver.url,
    RECCERT_WEBHOOK_SECRET: SECRET,
    RECCERT_WEBHOOK_BACKOFF_MS: '100',
    RECCERT_WEBHOOK_TIMEOUT_MS: '500',
  };
});
afterAll(async () => {
  await receiver.close();
});

/** A cold start of the delivery function (a new instance: nothing carried over but the table). */
const coldStart = () => webhookDeliveryFunction(() => deliveryParts(clients.dynamodb, env));

/** Invokes the function as its schedule would, until `done` holds. */
async function invokeUntil(
  fn: ReturnType<typeof coldStart>,
  done: () => boolean,
  what: string,
): Promise<void> {
  const deadline = Date.now() + 60_000;
  while (!done()) {
    if (Date.now() > deadline) throw new Error(`${what} did not happen within 60 s`);
    await fn();
    await new Promise((r) => setTimeout(r, 50));
  }
}

describe('the AWS webhook delivery function over moto', () => {
  it('delivers every notice the scan left in the DynamoDB outbox, signed, through an outage, a timeout and a new instance', async () => {
    const tenantId = uniqueTenantId('hook');
    const deps = scanDeps(
      {
        dynamodb: clients.dynamodb,
        events: clients.events,
        sns: clients.sns,
        s3: clients.s3,
        kms: clients.kms,
      },
      env,
    );
    const active = emptyAssignments();
    for (const i of [1, 2, 3]) {
      const record = makeRecord({
        tenantId,
        notAfter: `2027-01-0${i}T00:00:00.000Z`,
        nextNotifyAt: '2026-10-03T00:00:00.000Z',
      });
      await deps.repo.createCertificate(record);
      // Notices are about certificates in use (rule 14).
      active.screen.certificateIds.push(record.id);
    }
    await deps.repo.saveAssignments(tenantId, active, undefined);
    const notices = (await runExpiryScan(deps, new Date('2026-10-05T00:00:00.000Z'))).notifications.filter(
      (n) => n.tenantId === tenantId,
    );
    expect(notices).toHaveLength(3);
    const keys = notices.map((n) => `${n.tenantId}/${n.certificateId}/${n.thresholdDays}`).sort();
    const mine = () => receiver.received.filter((r) => JSON.parse(r.body).notification.tenantId === tenantId);
    const attempts = (key: string) =>
      mine().filter((r) => {
        const n = JSON.parse(r.body).notification;
        return `${n.tenantId}/${n.certificateId}/${n.thresholdDays}` === key;
      }).length;

    await invokeUntil(
      coldStart(),
      () => keys.every((k) => attempts(k) >= 2),
      'two refused attempts per notice',
    );
    // A new instance (the old one gone mid-outage), then one timed-out attempt, then acceptance.
    receiver.setMode('hang-once');
    const fresh = coldStart();
    await invokeUntil(
      fresh,
      () => deliveryReport(mine()).acceptedKeys.length === keys.length,
      'every notice accepted',
    );
    for (let i = 0; i < 5; i++) {
      await new Promise((r) => setTimeout(r, 200));
      expect(await fresh()).toEqual({ delivered: 0, failed: 0 });
    }

    const report = deliveryReport(mine());
    expect(mine().some((r) => r.answer === 'timed-out')).toBe(true);
    expect(report.acceptedKeys).toEqual(keys);
    expect(report.badSignatures).toBe(0);
    expect(report.idMismatches).toBe(0);
    expect(report.afterAcceptance).toEqual([]);
    for (const key of keys) expect(report.idsPerKey[key]).toHaveLength(1);
  });
});
