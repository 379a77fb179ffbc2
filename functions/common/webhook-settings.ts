/** The webhook settings every runtime reads once at start-up (DESIGN section 5). */
import { type WebhookSettings, webhookUrlProblem } from '../../shared/webhook';
import { ConfigError, intSetting } from './http-server';

/**
 * `RECCERT_WEBHOOK_URL` and its secret, or undefined when no webhook is configured. A URL that
 * may not receive notices (not https, not loopback) or a missing secret stops the start-up with
 * the reason: an unsigned or cleartext notice is never sent.
 */
export function readWebhookSettings(env: NodeJS.ProcessEnv): WebhookSettings | undefined {
  const url = env.RECCERT_WEBHOOK_URL?.trim();
  if (!url) return undefined;
  const problem = webhookUrlProblem(url);
  if (problem) throw new ConfigError(`${problem} Notices would not be delivered; refusing to start.`);
  const secret = env.RECCERT_WEBHOOK_SECRET ?? '';
  if (secret.length < 16) {
    throw new ConfigError(
      'RECCERT_WEBHOOK_SECRET must be set (at least 16 characters) with RECCERT_WEBHOOK_URL: the receiver checks the signature with it.',
    );
  }
  return {
    url,
    secret,
    backoffBaseMs: intSetting('RECCERT_WEBHOOK_BACKOFF_MS', env.RECCERT_WEBHOOK_BACKOFF_MS, 1000, 10, 60_000),
    attemptTimeoutMs: intSetting(
      'RECCERT_WEBHOOK_TIMEOUT_MS',
      env.RECCERT_WEBHOOK_TIMEOUT_MS,
      10_000,
      100,
      60_000,
    ),
  };
}
