/**
 * The write function's AWS wiring: its four SDK clients and the adapters over them. Kept out of
 * write.ts, which loads this module on the first request (`require()` in `loadDeps`), so that a
 * cold start's require time carries no AWS SDK (BENCHMARKS.md, cold start).
 */
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { EventBridgeClient } from '@aws-sdk/client-eventbridge';
import { KMSClient } from '@aws-sdk/client-kms';
import { S3Client } from '@aws-sdk/client-s3';
import type { CoreDeps } from '../../../shared/usecases/deps';
import { DynamoDbCertificateRepository } from '../adapters/dynamodb-repository';
import { EventBridgePublisher } from '../adapters/eventbridge-publisher';
import { KmsS3Keystore } from '../adapters/kms-s3-keystore';
import { coreDeps, requireEnv } from '../runtime';

/** The SDK clients the write function uses. */
export interface WriteClients {
  dynamodb: DynamoDBClient;
  s3: S3Client;
  kms: KMSClient;
  events: EventBridgeClient;
}

/** The write function's deps from its clients and environment. */
export function writeDeps(clients: WriteClients, env: NodeJS.ProcessEnv = process.env): CoreDeps {
  const repo = new DynamoDbCertificateRepository(clients.dynamodb, {
    tableName: requireEnv('TABLE_NAME', env),
  });
  return coreDeps(
    'write',
    {
      repo,
      escrow: repo,
      custody: new KmsS3Keystore(clients.kms, clients.s3, {
        bucketName: requireEnv('BUCKET_NAME', env),
        kmsKeyId: requireEnv('KMS_KEY_ID', env),
      }),
      events: new EventBridgePublisher(clients.events, { eventBusName: requireEnv('EVENT_BUS_NAME', env) }),
    },
    env,
  );
}

/** The deps of the deployed function: its clients with the SDK's defaults (region, credentials). */
export function lambdaWriteDeps(): CoreDeps {
  return writeDeps({
    dynamodb: new DynamoDBClient({}),
    s3: new S3Client({}),
    kms: new KMSClient({}),
    events: new EventBridgeClient({}),
  });
}
