/**
 * The OpenAPI 3.1 document, generated from the route specs and their zod schemas. It needs no
 * handler, so building it imports no use case (shared/http/route-specs.ts).
 */
import * as z from 'zod';
import { ERROR_CODES } from '../errors';
import { type AnyRouteSpec, ROUTE_SPECS } from './route-specs';
import { STATUS_OF } from './status';
import './schemas';

const REF = (id: string) => `#/components/schemas/${id}`;

function schemaRef(schema: z.ZodType): Record<string, unknown> {
  const id = z.globalRegistry.get(schema)?.id;
  if (id) return { $ref: REF(id) };
  const { $schema: _s, ...inline } = z.toJSONSchema(schema, {
    target: 'draft-2020-12',
    io: 'input',
  }) as Record<string, unknown>;
  return inline;
}

function parameters(route: AnyRouteSpec): unknown[] {
  const out: unknown[] = [];
  const names = [...route.path.matchAll(/\{(\w+)\}/g)].map((m) => m[1]!);
  const pathShape = (route.params?.shape ?? {}) as Record<string, z.ZodType>;
  for (const name of names) {
    const s = pathShape[name];
    out.push({ name, in: 'path', required: true, schema: s ? schemaRef(s) : { type: 'string' } });
  }
  if (route.query) {
    const json = z.toJSONSchema(route.query, { target: 'draft-2020-12', io: 'input' }) as {
      properties?: Record<string, unknown>;
      required?: string[];
    };
    for (const [name, schema] of Object.entries(json.properties ?? {})) {
      out.push({ name, in: 'query', required: json.required?.includes(name) ?? false, schema });
    }
  }
  return out;
}

function requestBody(route: AnyRouteSpec): unknown {
  if (!route.body) return undefined;
  const content: Record<string, unknown> = { 'application/json': { schema: schemaRef(route.body.schema) } };
  if (route.body.multipart) {
    const json = z.toJSONSchema(route.body.schema, { target: 'draft-2020-12', io: 'input' }) as {
      properties?: Record<string, unknown>;
      required?: string[];
    };
    content['multipart/form-data'] = {
      schema: {
        type: 'object',
        properties: Object.fromEntries(
          Object.keys(json.properties ?? {}).map((name) => [
            name,
            name === 'privateKeyPassword'
              ? { type: 'string' }
              : { type: 'string', contentMediaType: 'application/x-pem-file' },
          ]),
        ),
        ...(json.required ? { required: json.required } : {}),
      },
    };
  }
  return { required: route.body.required === true, content };
}

function responses(route: AnyRouteSpec): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  out[String(route.success.status)] = {
    description: route.success.description,
    ...(route.success.schema
      ? { content: { 'application/json': { schema: schemaRef(route.success.schema) } } }
      : {}),
    ...(route.success.status === 201 ? { headers: { Location: { schema: { type: 'string' } } } } : {}),
  };
  const byStatus = new Map<number, string[]>();
  for (const code of [...route.errors, 'SERVICE_UNAVAILABLE' as const]) {
    const status = STATUS_OF[code];
    byStatus.set(status, [...new Set([...(byStatus.get(status) ?? []), code])]);
  }
  for (const [status, codes] of [...byStatus].sort((a, b) => a[0] - b[0])) {
    out[String(status)] = {
      description: codes.join(', '),
      content: { 'application/json': { schema: { $ref: REF('Error') } } },
      ...(status === 503 ? { headers: { 'Retry-After': { schema: { type: 'integer' } } } } : {}),
    };
  }
  return out;
}

/** Builds the document for `routes` (all v1 routes by default). */
export function buildOpenApiDocument(
  version: string,
  routes: AnyRouteSpec[] = ROUTE_SPECS,
): Record<string, unknown> {
  const registry = z.toJSONSchema(z.globalRegistry, { target: 'draft-2020-12', uri: REF }) as {
    schemas: Record<string, Record<string, unknown>>;
  };
  const schemas = Object.fromEntries(
    Object.entries(registry.schemas).map(([id, { $schema: _s, $id: _i, ...schema }]) => [id, schema]),
  );
  const paths: Record<string, Record<string, unknown>> = {
    '/v1/openapi.json': {
      get: {
        operationId: 'getOpenApi',
        summary: 'This document',
        security: [],
        responses: {
          '200': {
            description: 'The OpenAPI 3.1 document',
            content: { 'application/json': { schema: { type: 'object' } } },
          },
        },
      },
    },
  };
  for (const route of routes) {
    const item = paths[route.path] ?? {};
    item[route.method.toLowerCase()] = {
      operationId: route.operationId,
      summary: route.summary,
      ...(route.access === 'public' ? { security: [] } : {}),
      parameters: parameters(route),
      ...(route.body ? { requestBody: requestBody(route) } : {}),
      responses: responses(route),
      ...(route.access !== 'public' ? { 'x-roles': route.access.roles } : {}),
    };
    paths[route.path] = item;
  }
  return {
    openapi: '3.1.0',
    info: {
      title: 'reccert API',
      version,
      description:
        'Recording certificates and keys: upload, assign, watch expiry, decrypt. Errors are {error: {code, message, details}}.',
    },
    servers: [{ url: '/' }],
    security: [{ bearer: [] }],
    paths,
    components: {
      schemas,
      securitySchemes: { bearer: { type: 'http', scheme: 'bearer', bearerFormat: 'JWT' } },
      'x-error-codes': ERROR_CODES,
    },
  };
}
