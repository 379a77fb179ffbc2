/**
 * The decrypt function: escrow and key backup (the routes that open stored keys: KMS Decrypt and
 * S3 reads, escrow items in the table), and plays back a CMS recording by unwrapping its session key with the
 * tenant's sealed private key (S3 object + KMS data key), and audits every attempt. The body
 * arrives whole (API Gateway buffers it), and the plaintext is returned only once its GCM tag
 * verified: a tampered recording is answered 422, never a partial plaintext. A Lambda response
 * carries at most 6 MB (a binary body base64-encoded in it), so a genuine recording of more than
 * 4 MiB of plaintext is answered 413 PAYLOAD_TOO_LARGE (shared/http/api-handler.ts's default).
 */
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { KMSClient } from '@aws-sdk/client-kms';
import { S3Client } from '@aws-sdk/client-s3';
import { decryptRoutes } from '../../../shared/http/route-groups/decrypt';
import type { CoreDeps } from '../../../shared/usecases/deps';
import { DynamoDbCertificateRepository } from '../adapters/dynamodb-repository';
import { KmsS3Keystore } from '../adapters/kms-s3-keystore';
import { httpFunction } from '../http';
import { coreDeps, type HttpApiHandler, requireEnv } from '../runtime';

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

/** The decrypt function over the given deps. */
export function decryptFunction(makeDeps: () => CoreDeps): HttpApiHandler {
  return httpFunction('decrypt', makeDeps, { routes: decryptRoutes });
}

/** Lambda entry point (API Gateway HTTP API, payload 2.0). */
export const handler = decryptFunction(() =>
  decryptDeps({ dynamodb: new DynamoDBClient({}), s3: new S3Client({}), kms: new KMSClient({}) }),
);
