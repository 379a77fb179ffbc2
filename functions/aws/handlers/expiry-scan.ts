/**
 * The expiry scan: invoked daily by EventBridge Scheduler, and by API Gateway for the operator's
 * `POST /v1/expiry-scan` (the same function and role, so both runs execute the same code). It
 * reads the due index, records each notification once, and sends the new ones to SNS and as
 * EventBridge events.
 */
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { EventBridgeClient } from '@aws-sdk/client-eventbridge';
import { KMSClient } from '@aws-sdk/client-kms';
import { S3Client } from '@aws-sdk/client-s3';
import { SNSClient } from '@aws-sdk/client-sns';
import { operatorRoutes } from '../../../shared/http/route-groups/operator';
import { type Metrics, NO_METRICS } from '../../../shared/metrics';
import type { CoreDeps } from '../../../shared/usecases/deps';
import { runExpiryScan } from '../../../shared/usecases/expiry-scan';
import { sweepOrphanKeysAfterScan } from '../../../shared/usecases/orphan-keys';
import { webhookUrlProblem } from '../../../shared/webhook';
import { ConfigError } from '../../common/http-server';
import { once } from '../../common/once';
import { DynamoDbCertificateRepository } from '../adapters/dynamodb-repository';
import { lambdaMetrics } from '../adapters/emf-metrics';
import { EventBridgePublisher } from '../adapters/eventbridge-publisher';
import { KmsS3Keystore } from '../adapters/kms-s3-keystore';
import { SnsNotificationSink } from '../adapters/sns-notification-sink';
import { httpFunction, isHttpApiEvent } from '../http';
import { coreDeps, type HttpApiResult, type LambdaContext, requireEnv } from '../runtime';

/** The SDK clients the expiry scan uses. */
export interface ScanClients {
  dynamodb: DynamoDBClient;
  events: EventBridgeClient;
  sns: SNSClient;
  /** For the orphan-key sweep: S3 lists and deletes; KMS is never called by it. */
  s3: S3Client;
  kms: KMSClient;
}

/** The expiry scan's deps from its clients and environment. */
export function scanDeps(clients: ScanClients, env: NodeJS.ProcessEnv = process.env): CoreDeps {
  const repo = new DynamoDbCertificateRepository(clients.dynamodb, {
    tableName: requireEnv('TABLE_NAME', env),
    dueIndexName: requireEnv('DUE_INDEX_NAME', env),
  });
  // With a webhook, the scan leaves each notice in the outbox; the delivery function sends it
  // (and alone holds the secret it signs with, so the scan needs only the URL).
  const webhook = webhookConfigured(env);
  const deps = coreDeps(
    'expiry-scan',
    {
      repo,
      events: new EventBridgePublisher(clients.events, { eventBusName: requireEnv('EVENT_BUS_NAME', env) }),
      notificationSink: new SnsNotificationSink(clients.sns, { topicArn: requireEnv('TOPIC_ARN', env) }),
      custody: new KmsS3Keystore(clients.kms, clients.s3, {
        bucketName: requireEnv('BUCKET_NAME', env),
        kmsKeyId: requireEnv('KMS_KEY_ID', env),
      }),
    },
    env,
  );
  return webhook ? { ...deps, noticeOutbox: repo } : deps;
}

/**
 * Whether notices go to a webhook: `RECCERT_WEBHOOK_URL` is set. A URL that may not receive
 * notices stops the cold start with the reason, as on the other runtimes.
 */
export function webhookConfigured(env: NodeJS.ProcessEnv): boolean {
  const url = env.RECCERT_WEBHOOK_URL?.trim();
  if (!url) return false;
  const problem = webhookUrlProblem(url);
  if (problem) throw new ConfigError(`${problem} Notices would not be delivered; refusing to start.`);
  return true;
}

/** What a scheduled run returns (and logs): counts, not the notifications themselves. */
export interface ScheduledScanResult {
  scanned: number;
  notifications: number;
  /** Key objects the orphan sweep removed; undefined when the sweep failed (it is logged). */
  orphanKeysRemoved: number | undefined;
}

/** The scan function over the given deps: an HTTP API event is the operator route, anything else the schedule. */
export function expiryScanFunction(
  makeDeps: () => CoreDeps,
  metrics: Metrics = NO_METRICS,
): (event: unknown, context?: LambdaContext) => Promise<HttpApiResult | ScheduledScanResult> {
  const deps = once(makeDeps);
  const http = httpFunction('expiry-scan', deps, { routes: operatorRoutes });
  return async (event, context) => {
    if (isHttpApiEvent(event)) return http(event, context);
    // EventBridge Scheduler: the scan runs as of now; a failure is thrown so Scheduler retries.
    const result = await runExpiryScan(deps());
    const summary = {
      scanned: result.scanned,
      notifications: result.notifications.length,
      orphanKeysRemoved: await sweepOrphanKeysAfterScan(deps()),
    };
    deps().logger.info('scheduled expiry scan', summary);
    // ScanRuns is what the missed-scan alarm watches: counted only once the run has finished.
    metrics.count({
      ScanRuns: 1,
      CertificatesScanned: summary.scanned,
      NoticesCreated: summary.notifications,
    });
    return summary;
  };
}

/** Lambda entry point (EventBridge Scheduler and API Gateway HTTP API). */
export const handler = expiryScanFunction(
  () =>
    scanDeps({
      dynamodb: new DynamoDBClient({}),
      events: new EventBridgeClient({}),
      sns: new SNSClient({}),
      s3: new S3Client({}),
      kms: new KMSClient({}),
    }),
  lambdaMetrics('expiry-scan'),
);
