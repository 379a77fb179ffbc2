/**
 * The read function's AWS wiring: the DynamoDB client and repository. Kept out of read.ts, which
 * loads this module on the first request that needs deps (`require()` in `loadDeps`), so that a
 * cold start's require time carries no AWS SDK (BENCHMARKS.md, cold start).
 */
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import type { CoreDeps } from '../../../shared/usecases/deps';
import { DynamoDbCertificateRepository } from '../adapters/dynamodb-repository';
import { coreDeps, requireEnv } from '../runtime';

/** The read function's deps from its clients and environment. */
export function readDeps(
  clients: { dynamodb: DynamoDBClient },
  env: NodeJS.ProcessEnv = process.env,
): CoreDeps {
  const repo = new DynamoDbCertificateRepository(clients.dynamodb, {
    tableName: requireEnv('TABLE_NAME', env),
  });
  return coreDeps('read', { repo }, env);
}

/** The deps of the deployed function: its clients with the SDK's defaults (region, credentials). */
export function lambdaReadDeps(): CoreDeps {
  return readDeps({ dynamodb: new DynamoDBClient({}) });
}
