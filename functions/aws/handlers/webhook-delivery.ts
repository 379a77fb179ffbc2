/**
 * Webhook delivery on AWS: invoked every minute by EventBridge Scheduler, it drains the DynamoDB
 * outbox the scan Lambda fills. The outbox items are the
 * state, so a failed or timed-out invocation loses nothing: the next one retries what is due.
 */
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { jsonLogger, type LogLevel } from '../../../shared/logging';
import type { Logger } from '../../../shared/ports';
import { type DrainResult, drainNoticeOutbox } from '../../../shared/usecases/notice-delivery';
import type { WebhookSettings } from '../../../shared/webhook';
import { once } from '../../common/once';
import { readWebhookSettings } from '../../common/webhook-settings';
import { DynamoDbCertificateRepository } from '../adapters/dynamodb-repository';
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

/** One scheduled run: every delivery due now is attempted once; the rest wait for their time. */
export function webhookDeliveryFunction(makeParts: () => DeliveryParts): () => Promise<DrainResult> {
  const parts = once(makeParts);
  return async () => {
    const { outbox, settings, logger } = parts();
    if (!settings) return { delivered: 0, failed: 0 };
    const result = await drainNoticeOutbox(outbox, settings, { now: () => new Date() }, logger);
    if (result.delivered + result.failed > 0) logger.info('webhook outbox drained', { ...result });
    return result;
  };
}

/** Lambda entry point (EventBridge Scheduler, every minute). */
export const handler = webhookDeliveryFunction(() => deliveryParts(new DynamoDBClient({})));
