/**
 * The decrypt function's AWS wiring: its SDK clients and the adapters over them. Kept out of
 * decrypt.ts, which loads this module on the first request (`require()` in `loadDeps`), so that a
 * cold start's require time carries no AWS SDK (BENCHMARKS.md, cold start).
 */
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { KMSClient } from '@aws-sdk/client-kms';
import { S3Client } from '@aws-sdk/client-s3';
import type { CoreDeps } from '../../../shared/usecases/deps';
import { DynamoDbCertificateRepository } from '../adapters/dynamodb-repository';
import { KmsS3Keystore } from '../adapters/kms-s3-keystore';
import { coreDeps, requireEnv } from '../runtime';

/** The SDK clients the decrypt function uses. */
export interface DecryptClients {
  dynamodb: DynamoDBClient;
  s3: S3Client;
  kms: KMSClient;
}

/** The decrypt function's deps from its clients and environment. */
export function decryptDeps(clients: DecryptClients, env: NodeJS.ProcessEnv = process.env): CoreDeps {
  const repo = new DynamoDbCertificateRepository(clients.dynamodb, {
    tableName: requireEnv('TABLE_NAME', env),
  });
  return coreDeps(
    'decrypt',
    {
      repo,
      escrow: repo,
      custody: new KmsS3Keystore(clients.kms, clients.s3, {
        bucketName: requireEnv('BUCKET_NAME', env),
        kmsKeyId: requireEnv('KMS_KEY_ID', env),
      }),
    },
    env,
  );
}

/** The deps of the deployed function: its clients with the SDK's defaults (region, credentials). */
export function lambdaDecryptDeps(): CoreDeps {
  return decryptDeps({ dynamodb: new DynamoDBClient({}), s3: new S3Client({}), kms: new KMSClient({}) });
}
