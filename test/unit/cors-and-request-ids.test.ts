import { readFunction } from '../../functions/aws/handlers/read';
import type { HttpApiEvent } from '../../functions/aws/runtime';
import { ConfigError, readCorsOrigins, readHttpLimits } from '../../functions/common/http-server';
import { createApiHandler } from '../../shared/http/api-handler';
import {
  corsMethods,
  corsResponseHeaders,
  isPreflight,
  parseCorsOrigins,
  preflightHeaders,
} from '../../shared/http/cors';
import { requestIdOf } from '../../shared/http/request-id';
import { SPECS, withHandler } from '../../shared/http/route-specs';
import { routes } from '../../shared/http/routes';
import { withFields } from '../../shared/logging';
import { testCore } from '../helpers/core';
import { capturingLogger } from '../helpers/logging';

const ADMIN = 'https://admin.example.com';
const DEV = 'http://localhost:5173';

describe('RECCERT_CORS_ORIGINS', () => {
  it('takes comma-separated exact origins, trimmed and each once', () => {
    expect(readCorsOrigins({ RECCERT_CORS_ORIGINS: ` ${ADMIN}, ${DEV} ,${ADMIN}` })).toEqual([ADMIN, DEV]);
  });

  it('is empty when unset or blank (no CORS at all)', () => {
    expect(readCorsOrigins({})).toEqual([]);
    expect(readCorsOrigins({ RECCERT_CORS_ORIGINS: ' , ' })).toEqual([]);
    expect(readHttpLimits({}).corsOrigins).toEqual([]);
  });

  it('refuses a wildcard at start-up, saying tokens are credentials', () => {
    for (const value of ['*', `${ADMIN},*`, 'https://*.example.com']) {
      expect(() => readCorsOrigins({ RECCERT_CORS_ORIGINS: value })).toThrow(ConfigError);
      expect(() => readCorsOrigins({ RECCERT_CORS_ORIGINS: value })).toThrow(
        /RECCERT_CORS_ORIGINS.*credentials/,
      );
    }
  });

  it('refuses what is not an origin as a browser sends it: paths, trailing slashes, other schemes', () => {
    for (const value of [
      'admin.example.com',
      `${ADMIN}/`,
      `${ADMIN}/app`,
      'ftp://example.com',
      'HTTPS://Admin.example.com',
    ]) {
      const parsed = parseCorsOrigins(value);
      expect(parsed).toEqual({ refused: expect.stringContaining('is not an origin') });
    }
  });
});

describe('CORS answers', () => {
  const methods = corsMethods(routes);

  it('lists each method of the route table once', () => {
    expect([...methods].sort()).toEqual(['DELETE', 'GET', 'PATCH', 'POST', 'PUT']);
  });

  it('answers a preflight from an allowed origin with that origin echoed and the allowed headers', () => {
    expect(preflightHeaders([ADMIN, DEV], DEV, methods)).toEqual({
      'access-control-allow-origin': DEV,
      'access-control-allow-methods': methods.join(', '),
      'access-control-allow-headers': 'Authorization, Content-Type, X-Request-Id',
      'access-control-max-age': '600',
      vary: 'Origin',
    });
  });

  it('gives another origin, or none, no allow header at all', () => {
    for (const origin of ['https://evil.example.com', `${ADMIN}.evil.com`, 'null', undefined]) {
      expect(preflightHeaders([ADMIN], origin, methods)).toEqual({ vary: 'Origin' });
      expect(corsResponseHeaders([ADMIN], origin)).toEqual({ vary: 'Origin' });
    }
  });

  it('marks an actual response for an allowed origin and exposes Location and X-Request-Id', () => {
    expect(corsResponseHeaders([ADMIN], ADMIN)).toEqual({
      'access-control-allow-origin': ADMIN,
      'access-control-expose-headers': 'Location, X-Request-Id',
      vary: 'Origin',
    });
  });

  it('adds nothing when no origin is configured', () => {
    expect(corsResponseHeaders([], ADMIN)).toEqual({});
  });

  it('tells a preflight from a plain OPTIONS by Access-Control-Request-Method', () => {
    expect(isPreflight('OPTIONS', { 'access-control-request-method': 'POST' })).toBe(true);
    expect(isPreflight('options', { 'access-control-request-method': 'GET' })).toBe(true);
    expect(isPreflight('OPTIONS', {})).toBe(false);
    expect(isPreflight('GET', { 'access-control-request-method': 'GET' })).toBe(false);
  });
});

describe('request ids', () => {
  const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/;

  it("keeps a caller's sane id", () => {
    for (const id of ['a', 'req-42', 'Root-1-5f84c7a1:abc.def_x', 'x'.repeat(128)]) {
      expect(requestIdOf({ 'x-request-id': id })).toBe(id);
    }
  });

  it('replaces a missing, empty, long or hostile id with a new UUID', () => {
    for (const id of [undefined, '', 'x'.repeat(129), 'a b', 'a\nlevel=error', '<script>', 'id"}', 'ä']) {
      expect(requestIdOf({ 'x-request-id': id })).toMatch(UUID);
    }
    expect(requestIdOf({})).not.toBe(requestIdOf({}));
  });
});

describe('request-scoped logging', () => {
  it('stamps its fields on every line, over a field of the same name', () => {
    const { logger, records } = capturingLogger();
    const child = withFields(logger, { requestId: 'r-1', invocationId: 'i-1' });
    child.info('one', { requestId: 'spoofed', n: 1 });
    child.warn('two');
    child.error('three');
    expect(records().map((r) => [r.message, r.requestId, r.invocationId])).toEqual([
      ['one', 'r-1', 'i-1'],
      ['two', 'r-1', 'i-1'],
      ['three', 'r-1', 'i-1'],
    ]);
    expect(records()[0]?.n).toBe(1);
  });

  it('gives the use case a logger carrying the request id, and answers with the id', async () => {
    const core = testCore();
    const { logger, records } = capturingLogger();
    const probe = withHandler(SPECS.getHealth, async (ctx) => {
      ctx.deps.logger.info('inside the use case');
      return { status: 200, body: { status: 'ok', version: ctx.version } };
    });
    const handle = createApiHandler({
      deps: { ...core.deps, logger },
      routes: [probe],
      version: 'test',
      authenticate: async () => {
        throw new Error('no token needed');
      },
    });
    try {
      const ok = await handle({
        method: 'GET',
        path: '/v1/health',
        query: {},
        headers: { 'x-request-id': 'caller-7' },
        logFields: { awsRequestId: 'lambda-1' },
      });
      const missing = await handle({ method: 'GET', path: '/v1/nothing', query: {}, headers: {} });
      expect(ok.headers['x-request-id']).toBe('caller-7');
      expect(missing.status).toBe(404);
      expect(missing.headers['x-request-id']).toMatch(/^[0-9a-f-]{36}$/);
      const lines = records();
      expect(lines.filter((r) => r.requestId === 'caller-7').map((r) => r.message)).toEqual([
        'inside the use case',
        'request',
      ]);
      expect(
        lines.filter((r) => r.requestId === 'caller-7').every((r) => r.awsRequestId === 'lambda-1'),
      ).toBe(true);
      expect(lines.find((r) => r.status === 404)?.requestId).toBe(missing.headers['x-request-id']);
    } finally {
      core.close();
    }
  });
});

describe("the AWS read function's $default route", () => {
  const event = (method: string, headers: Record<string, string>): HttpApiEvent =>
    ({
      version: '2.0',
      routeKey: '$default',
      rawPath: '/v1/tenants/acme/certificates',
      rawQueryString: '',
      headers,
      isBase64Encoded: false,
      requestContext: { http: { method, path: '/v1/tenants/acme/certificates' } },
    }) as unknown as HttpApiEvent;
  const handler = readFunction(() => {
    throw new Error('the $default route needs no deps');
  });

  it('answers a preflight API Gateway passes on with 204 and no CORS header of its own', async () => {
    const result = await handler(
      event('OPTIONS', { origin: ADMIN, 'access-control-request-method': 'POST', 'x-request-id': 'pf-1' }),
    );
    expect(result.statusCode).toBe(204);
    expect(result.headers).toEqual({ 'x-request-id': 'pf-1' });
  });

  it('still answers a plain OPTIONS with 405 and the request id', async () => {
    const result = await handler(event('OPTIONS', {}));
    expect(result.statusCode).toBe(405);
    expect(result.headers?.['x-request-id']).toMatch(/^[0-9a-f-]{36}$/);
  });
});
