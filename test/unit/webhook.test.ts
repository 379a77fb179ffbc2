import { createHmac } from 'node:crypto';
import { readWebhookSettings } from '../../functions/common/webhook-settings';
import { SqliteCertificateRepository } from '../../functions/local/sqlite-repository';
import type { ExpiryNotification } from '../../shared/domain/types';
import type { Logger } from '../../shared/ports';
import { drainNoticeOutbox, noticeDelivery, noticeDeliveryId } from '../../shared/usecases/notice-delivery';
import {
  type AttemptOutcome,
  MAX_BACKOFF_MS,
  signWebhookBody,
  verifyWebhookSignature,
  type WebhookSettings,
  webhookBackoffMs,
  webhookUrlProblem,
} from '../../shared/webhook';

const quiet: Logger = { info: () => undefined, warn: () => undefined, error: () => undefined };

function notice(certificateId: string, thresholdDays = 30): ExpiryNotification {
  return {
    tenantId: 't1',
    certificateId,
    kind: thresholdDays === 0 ? 'expired' : 'expiring',
    thresholdDays,
    notAfter: '2027-01-01T00:00:00.000Z',
    createdAt: '2026-12-01T02:00:00.000Z',
    activeIn: { ivrProfiles: ['record'], screenRecording: false },
    replacementAvailable: false,
  };
}

describe('webhook signature', () => {
  it('is sha256=<hex> of the HMAC-SHA256 of the raw body under the secret', () => {
    const body = '{"a":1}';
    const expected = createHmac('sha256', 'secret-secret-secret').update(body).digest('hex');
    expect(signWebhookBody('secret-secret-secret', body)).toBe(`sha256=${expected}`);
  });

  it('verifies the body it signed and refuses a changed body or another secret', () => {
    const signature = signWebhookBody('k'.repeat(20), '{"a":1}');
    expect(verifyWebhookSignature('k'.repeat(20), '{"a":1}', signature)).toBe(true);
    expect(verifyWebhookSignature('k'.repeat(20), '{"a":2}', signature)).toBe(false);
    expect(verifyWebhookSignature('j'.repeat(20), '{"a":1}', signature)).toBe(false);
    expect(verifyWebhookSignature('k'.repeat(20), '{"a":1}', 'sha256=00')).toBe(false);
  });
});

describe('webhook back-off', () => {
  it('doubles from the base with each failed attempt', () => {
    expect([1, 2, 3, 4].map((n) => webhookBackoffMs(n, 1000))).toEqual([1000, 2000, 4000, 8000]);
  });

  it('never waits more than 60 s, however long the outage', () => {
    expect(webhookBackoffMs(7, 1000)).toBe(MAX_BACKOFF_MS);
    expect(webhookBackoffMs(10_000, 1000)).toBe(60_000);
  });
});

describe('webhook URL check', () => {
  it('accepts https anywhere and http only to a loopback host', () => {
    expect(webhookUrlProblem('https://hooks.example.com/reccert')).toBeUndefined();
    expect(webhookUrlProblem('http://127.0.0.1:9000/hook')).toBeUndefined();
    expect(webhookUrlProblem('http://localhost/hook')).toBeUndefined();
    expect(webhookUrlProblem('http://[::1]:80/hook')).toBeUndefined();
  });

  it('refuses cleartext to another host, other schemes and credentials in the URL', () => {
    expect(webhookUrlProblem('http://hooks.example.com/reccert')).toMatch(/https/);
    expect(webhookUrlProblem('http://127.0.0.1.example.com/')).toMatch(/https/);
    expect(webhookUrlProblem('ftp://localhost/')).toMatch(/https/);
    expect(webhookUrlProblem('https://user:pw@hooks.example.com/')).toMatch(/credentials/);
    expect(webhookUrlProblem('not a url')).toMatch(/not a URL/);
  });

  it('stops the start-up with the reason when the URL or the secret will not do', () => {
    expect(() => readWebhookSettings({ RECCERT_WEBHOOK_URL: 'http://hooks.example.com/' })).toThrow(/https/);
    expect(() => readWebhookSettings({ RECCERT_WEBHOOK_URL: 'https://hooks.example.com/' })).toThrow(
      /RECCERT_WEBHOOK_SECRET/,
    );
    expect(readWebhookSettings({})).toBeUndefined();
    expect(
      readWebhookSettings({
        RECCERT_WEBHOOK_URL: 'https://hooks.example.com/',
        RECCERT_WEBHOOK_SECRET: 's'.repeat(16),
      }),
    ).toEqual({
      url: 'https://hooks.example.com/',
      secret: 's'.repeat(16),
      backoffBaseMs: 1000,
      attemptTimeoutMs: 10_000,
    });
  });
});

describe('notice delivery id', () => {
  it('is the same for the same notice on every run and differs between notices', () => {
    const a = notice('c1');
    expect(noticeDeliveryId({ ...a, createdAt: '2030-01-01T00:00:00.000Z' })).toBe(noticeDeliveryId(a));
    expect(noticeDeliveryId(notice('c1', 14))).not.toBe(noticeDeliveryId(a));
    expect(noticeDeliveryId(notice('c2'))).not.toBe(noticeDeliveryId(a));
    expect(JSON.parse(noticeDelivery(a).body)).toEqual({
      deliveryId: noticeDeliveryId(a),
      type: 'CertificateExpiring',
      notification: {
        ...a,
        message: expect.stringContaining('keep being encrypted with the expired certificate'),
      },
    });
  });
});

describe('drainNoticeOutbox over the SQLite outbox', () => {
  const settings: WebhookSettings = {
    url: 'http://127.0.0.1:1/',
    secret: 's'.repeat(16),
    backoffBaseMs: 1000,
    attemptTimeoutMs: 500,
  };

  it('retries a refused delivery after the back-off and never again once acknowledged', async () => {
    const repo = new SqliteCertificateRepository(':memory:');
    let now = new Date('2026-12-01T02:00:00.000Z');
    const clock = { now: () => new Date(now) };
    const delivery = noticeDelivery(notice('c1'));
    await repo.enqueueDelivery(delivery, now.toISOString());
    const outcomes: AttemptOutcome[] = [
      { delivered: false, reason: 'HTTP 500' },
      { delivered: false, reason: 'no answer' },
      { delivered: true, status: 204 },
    ];
    const posted: string[] = [];
    const post = async (id: string) => {
      posted.push(id);
      return outcomes.shift() ?? { delivered: true as const, status: 200 };
    };

    expect(await drainNoticeOutbox(repo, settings, clock, quiet, post)).toEqual({ delivered: 0, failed: 1 });
    now = new Date(now.getTime() + 999);
    expect(await drainNoticeOutbox(repo, settings, clock, quiet, post)).toEqual({ delivered: 0, failed: 0 });
    now = new Date(now.getTime() + 1);
    expect(await drainNoticeOutbox(repo, settings, clock, quiet, post)).toEqual({ delivered: 0, failed: 1 });
    now = new Date(now.getTime() + 2000);
    expect(await drainNoticeOutbox(repo, settings, clock, quiet, post)).toEqual({ delivered: 1, failed: 0 });
    // Enqueued again (a scan re-run): already delivered, so never posted again.
    await repo.enqueueDelivery(delivery, now.toISOString());
    now = new Date(now.getTime() + 120_000);
    expect(await drainNoticeOutbox(repo, settings, clock, quiet, post)).toEqual({ delivered: 0, failed: 0 });
    expect(posted).toEqual([delivery.id, delivery.id, delivery.id]);
    repo.close();
  });

  it('leaves a claimed delivery due again after its lease when the drainer died mid-attempt', async () => {
    const repo = new SqliteCertificateRepository(':memory:');
    const now = '2026-12-01T02:00:00.000Z';
    await repo.enqueueDelivery(noticeDelivery(notice('c1')), now);
    expect(await repo.claimDueDeliveries(now, '2026-12-01T02:01:00.000Z', 10)).toHaveLength(1);
    expect(await repo.claimDueDeliveries(now, '2026-12-01T02:01:00.000Z', 10)).toHaveLength(0);
    expect(await repo.claimDueDeliveries('2026-12-01T02:01:00.000Z', '2026-12-01T02:02:00.000Z', 10)).toEqual(
      [expect.objectContaining({ id: noticeDeliveryId(notice('c1')), attempts: 0 })],
    );
    repo.close();
  });
});
