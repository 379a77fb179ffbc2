/**
 * Webhook delivery on AWS: invoked every minute by EventBridge Scheduler, it drains the DynamoDB
 * outbox the scan Lambda fills. The outbox items are the
 * state, so a failed or timed-out invocation loses nothing: the next one retries what is due.
 *
 * The signing secret is read at cold start from Secrets Manager (`RECCERT_WEBHOOK_SECRET_ID`,
 * through the Parameters and Secrets extension), never from the environment in the deployment;
 * `RECCERT_WEBHOOK_SECRET` is still read where no secret id is given (tests, `start:aws`).
 */
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { jsonLogger, type LogLevel } from '../../../shared/logging';
import { type Metrics, NO_METRICS } from '../../../shared/metrics';
import type { Logger } from '../../../shared/ports';
import { type DrainResult, drainNoticeOutbox } from '../../../shared/usecases/notice-delivery';
import type { WebhookSettings } from '../../../shared/webhook';
import { onceOrRetry } from '../../common/once';
import { readWebhookSettings } from '../../common/webhook-settings';
import { DynamoDbCertificateRepository } from '../adapters/dynamodb-repository';
import { lambdaMetrics } from '../adapters/emf-metrics';
import { secretFromExtension } from '../adapters/secrets-extension';
import { requireEnv } from '../runtime';

/** What the delivery function needs, built once per cold start. */
export interface DeliveryParts {
  outbox: DynamoDbCertificateRepository;
  settings: WebhookSettings | undefined;
  logger: Logger;
}

/** The parts from a DynamoDB client and the function's environment. */
export function deliveryParts(dynamodb: DynamoDBClient, env: NodeJS.ProcessEnv = process.env): DeliveryParts {
  return {
    outbox: new DynamoDbCertificateRepository(dynamodb, {
      tableName: requireEnv('TABLE_NAME', env),
      dueIndexName: requireEnv('DUE_INDEX_NAME', env),
    }),
    settings: readWebhookSettings(env),
    logger: jsonLogger((env.LOG_LEVEL as LogLevel | undefined) ?? 'info', undefined, {
      fn: 'webhook-delivery',
    }),
  };
}

/**
 * The environment with `RECCERT_WEBHOOK_SECRET` filled in from the secret named by
 * `RECCERT_WEBHOOK_SECRET_ID` (when there is a URL and an id), for {@link deliveryParts}.
 */
export async function withWebhookSecret(
  env: NodeJS.ProcessEnv,
  readSecret: (id: string) => Promise<string> = (id) => secretFromExtension(id, env),
): Promise<NodeJS.ProcessEnv> {
  const secretId = env.RECCERT_WEBHOOK_SECRET_ID?.trim();
  if (!env.RECCERT_WEBHOOK_URL?.trim() || !secretId) return env;
  return { ...env, RECCERT_WEBHOOK_SECRET: await readSecret(secretId) };
}

/** One scheduled run: every delivery due now is attempted once; the rest wait for their time. */
export function webhookDeliveryFunction(
  makeParts: () => DeliveryParts | Promise<DeliveryParts>,
  metrics: Metrics = NO_METRICS,
): () => Promise<DrainResult> {
  // A failed build (the secret unreadable for a moment) is retried by the next run, not cached.
  const parts = onceOrRetry(async () => makeParts());
  return async () => {
    const { outbox, settings, logger } = await parts();
    if (!settings) return { delivered: 0, failed: 0 };
    const result = await drainNoticeOutbox(outbox, settings, { now: () => new Date() }, logger);
    if (result.delivered + result.failed > 0) {
      logger.info('webhook outbox drained', { ...result });
      metrics.count({ NoticesDelivered: result.delivered, NoticesFailed: result.failed });
    }
    return result;
  };
}

/** Lambda entry point (EventBridge Scheduler, every minute). */
export const handler = webhookDeliveryFunction(
  async () => deliveryParts(new DynamoDBClient({}), await withWebhookSecret(process.env)),
  lambdaMetrics('webhook-delivery'),
);
