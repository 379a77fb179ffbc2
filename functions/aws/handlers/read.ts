/**
 * The read function: GET routes, health, the OpenAPI document and verify-key (which reads a
 * certificate and checks a key it is sent, storing nothing). Its role reads the table only, so
 * it bundles the DynamoDB client and nothing else.
 */
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { buildOpenApiDocument } from '../../../shared/http/openapi';
import type { CoreDeps } from '../../../shared/usecases/deps';
import { DynamoDbCertificateRepository } from '../adapters/dynamodb-repository';
import { coreDeps, httpFunction, once, requireEnv, VERSION } from '../runtime';

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

/** Lambda entry point (API Gateway HTTP API, payload 2.0). */
export const handler = httpFunction('read', () => readDeps({ dynamodb: new DynamoDBClient({}) }), {
  openApiDocument: once(() => buildOpenApiDocument(VERSION)),
});
