/**
 * The read function: GET routes, health, the OpenAPI document and the API's `$default` route
 * (404/405 bodies). Key validation (verify-key) is served by the write function, so this bundle
 * carries no key parsing, key derivation or multipart parser. Its role reads the table only, so it loads the DynamoDB client and nothing
 * else, and it imports only the public and read route groups (the read-path bundle budget).
 */
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { buildOpenApiDocument } from '../../../shared/http/openapi';
import { publicRoutes } from '../../../shared/http/route-groups/public';
import { readRoutes } from '../../../shared/http/route-groups/read';
import type { CoreDeps } from '../../../shared/usecases/deps';
import { once } from '../../common/once';
import { VERSION } from '../../common/version';
import { DynamoDbCertificateRepository } from '../adapters/dynamodb-repository';
import { httpFunction } from '../http';
import { coreDeps, type HttpApiHandler, requireEnv } from '../runtime';

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

/** The read function over the given deps: public and read routes, the OpenAPI document, and 404/405. */
export function readFunction(makeDeps: () => CoreDeps): HttpApiHandler {
  return httpFunction('read', makeDeps, {
    routes: [...publicRoutes, ...readRoutes],
    openApiDocument: once(() => buildOpenApiDocument(VERSION)),
  });
}

/** Lambda entry point (API Gateway HTTP API, payload 2.0). */
export const handler = readFunction(() => readDeps({ dynamodb: new DynamoDBClient({}) }));
