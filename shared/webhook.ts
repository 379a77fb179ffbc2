/**
 * Webhook notices (DESIGN section 5): the signature, the back-off and one delivery attempt.
 * No runtime code here: each runtime reads its settings and drives delivery from its outbox.
 */
import { createHmac, timingSafeEqual } from 'node:crypto';

/** Header carrying `sha256=<hex>`: HMAC-SHA256 of the raw body under the shared secret. */
export const SIGNATURE_HEADER = 'X-Reccert-Signature';
/** Header carrying the delivery id; stable per notice, so the receiver de-duplicates by it. */
export const DELIVERY_HEADER = 'X-Reccert-Delivery';

/** The longest wait between two attempts at one delivery. */
export const MAX_BACKOFF_MS = 60_000;

/** Where and how to deliver; read once at start-up by each runtime. */
export interface WebhookSettings {
  url: string;
  secret: string;
  /** The first retry's wait; each further one doubles, up to {@link MAX_BACKOFF_MS}. */
  backoffBaseMs: number;
  /** One attempt is abandoned (and retried later) after this long. */
  attemptTimeoutMs: number;
}

/** `sha256=<hex>` of the raw body under `secret`. */
export function signWebhookBody(secret: string, rawBody: string | Buffer): string {
  return `sha256=${createHmac('sha256', secret).update(rawBody).digest('hex')}`;
}

/** Whether `signature` is the body's, compared in constant time (what a receiver does). */
export function verifyWebhookSignature(secret: string, rawBody: string | Buffer, signature: string): boolean {
  const expected = Buffer.from(signWebhookBody(secret, rawBody));
  const given = Buffer.from(signature);
  return given.length === expected.length && timingSafeEqual(given, expected);
}

/**
 * The wait before the next attempt once `failedAttempts` attempts have failed: base, 2 base,
 * 4 base, … capped at 60 s, so a long outage is retried every minute, never given up.
 */
export function webhookBackoffMs(failedAttempts: number, baseMs: number): number {
  const exponent = Math.min(Math.max(0, failedAttempts - 1), 30);
  return Math.min(MAX_BACKOFF_MS, baseMs * 2 ** exponent);
}

/**
 * Why `url` may not receive notices, or undefined if it may: https only, except to a loopback
 * host (a receiver on the same machine), so notices never cross a network in the clear.
 */
export function webhookUrlProblem(url: string): string | undefined {
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    return 'RECCERT_WEBHOOK_URL is not a URL.';
  }
  if (parsed.username || parsed.password) return 'RECCERT_WEBHOOK_URL must not carry credentials.';
  if (parsed.protocol === 'https:') return undefined;
  const host = parsed.hostname.replace(/^\[|\]$/g, '');
  const loopback = host === 'localhost' || host === '::1' || /^127\.\d+\.\d+\.\d+$/.test(host);
  if (parsed.protocol === 'http:' && loopback) return undefined;
  return 'RECCERT_WEBHOOK_URL must be https (plain http is allowed only to localhost).';
}

/** What one attempt came to: delivered (a 2xx), or why not. */
export type AttemptOutcome = { delivered: true; status: number } | { delivered: false; reason: string };

/**
 * POSTs `rawBody` once, signed, with the delivery id. A redirect is not followed (it is not an
 * acknowledgement); the receiver's body is never read, only released. TLS is verified as always.
 */
export async function postWebhook(
  settings: WebhookSettings,
  deliveryId: string,
  rawBody: string,
): Promise<AttemptOutcome> {
  try {
    const response = await fetch(settings.url, {
      method: 'POST',
      redirect: 'manual',
      headers: {
        'content-type': 'application/json',
        'user-agent': 'reccert-webhook',
        [SIGNATURE_HEADER]: signWebhookBody(settings.secret, rawBody),
        [DELIVERY_HEADER]: deliveryId,
      },
      body: rawBody,
      signal: AbortSignal.timeout(settings.attemptTimeoutMs),
    });
    await response.body?.cancel().catch(() => undefined);
    if (response.status >= 200 && response.status < 300) return { delivered: true, status: response.status };
    return { delivered: false, reason: `HTTP ${response.status}` };
  } catch (error) {
    const name = (error as { name?: unknown }).name;
    if (name === 'TimeoutError')
      return { delivered: false, reason: `no answer within ${settings.attemptTimeoutMs} ms` };
    const cause = (error as { cause?: { code?: unknown } }).cause;
    return { delivered: false, reason: String(cause?.code ?? (error as Error).message ?? error) };
  }
}
