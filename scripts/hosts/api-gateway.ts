/**
 * API Gateway (HTTP API, payload 2.0) as `npm run start:aws` plays it in front of the real Lambda
 * handlers (functions/aws/handlers):
 *
 * - routing: each request goes to the function the CDK stack routes it to
 *   (functions/aws/routing.ts), the unmatched ones to the `$default` route;
 * - its JWT authorizer: verifies the bearer token (the local HS256 tokens `npx reccert token`
 *   prints) and passes the claims on as API Gateway does (as strings);
 * - its limits and answers: 10 MB bodies, `{"message": ...}` bodies for its own 413, 408 and 500;
 * - its CORS (`corsConfiguration`, from `RECCERT_CORS_ORIGINS` as the stack takes it): preflights
 *   are answered here before any route or authorizer, and every response gets the CORS headers
 *   of its origin in place of any the function set (the real gateway ignores those).
 */
import { randomUUID } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { jwtVerify } from 'jose';
import { handler as decrypt } from '../../functions/aws/handlers/decrypt';
import { handler as expiryScan } from '../../functions/aws/handlers/expiry-scan';
import { handler as read } from '../../functions/aws/handlers/read';
import { handler as write } from '../../functions/aws/handlers/write';
import { FUNCTION_OF_GROUP, type HttpFunctionName, OPENAPI_PATH } from '../../functions/aws/routing';
import type { HttpApiEvent, HttpApiResult, LambdaContext } from '../../functions/aws/runtime';
import { type HttpLimits, lingerOnPendingBody } from '../../functions/common/http-server';
import { LOCAL_AUDIENCE, LOCAL_ISSUER } from '../../functions/common/local-tokens';
import { type AppError, AuthError } from '../../shared/errors';
import { bearerToken, errorResponse } from '../../shared/http/api-handler';
import {
  type CorsOrigins,
  corsMethods,
  corsResponseHeaders,
  isPreflight,
  preflightHeaders,
} from '../../shared/http/cors';
import { compilePathTemplate } from '../../shared/http/path-template';
import { routes } from '../../shared/http/routes';
import type { Logger } from '../../shared/ports';
import { declaresMoreThan, type LoopbackHost, receiveBody, startLoopbackHost } from './loopback-host';

/** API Gateway HTTP APIs refuse request bodies over 10 MB. */
const MAX_GATEWAY_BODY = 10 * 1024 * 1024;

const FUNCTIONS: Record<HttpFunctionName, (event: HttpApiEvent, context: LambdaContext) => Promise<unknown>> =
  {
    read,
    write,
    decrypt,
    'expiry-scan': expiryScan as (event: HttpApiEvent, context: LambdaContext) => Promise<unknown>,
  };

/** A route as API Gateway knows it: method, path template, whether the authorizer guards it. */
interface GatewayRoute {
  method: string;
  template: string;
  pattern: RegExp;
  fn: HttpFunctionName;
  authorized: boolean;
}

/** API Gateway matches a route's template exactly: no trailing slash. */
function templatePattern(template: string): RegExp {
  return compilePathTemplate(template, { trailingSlash: false }).pattern;
}

/** The stack's routes: every route of the table, and the OpenAPI document (public, read). */
const GATEWAY_ROUTES: GatewayRoute[] = [
  ...routes.map((r) => ({
    method: r.method,
    template: r.path,
    pattern: templatePattern(r.path),
    fn: FUNCTION_OF_GROUP[r.group],
    authorized: r.access !== 'public',
  })),
  {
    method: 'GET',
    template: OPENAPI_PATH,
    pattern: templatePattern(OPENAPI_PATH),
    fn: 'read',
    authorized: false,
  },
];

/**
 * API Gateway hands JWT claims to the function as strings: arrays as "[a b]", numbers and
 * booleans as their text. Doing the same here exercises the handlers' claim parsing as deployed.
 */
export function gatewayClaims(payload: Record<string, unknown>): Record<string, string> {
  const claims: Record<string, string> = {};
  for (const [name, value] of Object.entries(payload)) {
    if (Array.isArray(value)) claims[name] = `[${value.map(String).join(' ')}]`;
    else if (value !== null && typeof value === 'object') claims[name] = JSON.stringify(value);
    else claims[name] = String(value);
  }
  return claims;
}

/** The JWT authorizer: issuer, audience, signature and expiry, or a 401 before any function runs. */
async function authorizerClaims(secret: Buffer, headers: Record<string, string | undefined>) {
  const token = bearerToken(headers);
  if (!token) throw new AuthError('UNAUTHORIZED', 'A bearer token is required (npx reccert token).');
  try {
    // Signature, issuer, audience and the times the gateway checks; the claim rules (exp
    // required, types) are the handlers' own (shared/http/auth.ts), as behind the real gateway.
    const { payload } = await jwtVerify(token, secret, {
      issuer: LOCAL_ISSUER,
      audience: LOCAL_AUDIENCE,
      algorithms: ['HS256'],
      clockTolerance: 60,
    });
    return gatewayClaims(payload as Record<string, unknown>);
  } catch (error) {
    throw new AuthError('UNAUTHORIZED', 'The bearer token is invalid or expired.', { cause: error });
  }
}

/** Text bodies travel as they are; anything else base64-encoded (as API Gateway does). */
function isTextual(contentType: string | undefined): boolean {
  const type = (contentType ?? '').split(';')[0]?.trim().toLowerCase() ?? '';
  return type.startsWith('text/') || type === 'application/json' || type.endsWith('+json');
}

/** The stack's CORS methods: those of the route table (infra/aws/constructs/api.ts takes the same). */
const CORS_METHODS = corsMethods(routes);

function send(req: IncomingMessage, res: ServerResponse, result: HttpApiResult, cors: CorsOrigins): void {
  // A 408 of the idle limit, or a connection already gone, leaves nothing to answer.
  if (res.headersSent || res.destroyed) return;
  const body =
    result.body === undefined
      ? Buffer.alloc(0)
      : Buffer.from(result.body, result.isBase64Encoded ? 'base64' : 'utf8');
  const headers: Record<string, string> = {};
  for (const [name, value] of Object.entries(result.headers ?? {})) {
    // With corsConfiguration set, the gateway's CORS headers replace the integration's.
    if (cors.length > 0 && name.toLowerCase().startsWith('access-control-')) continue;
    headers[name] = String(value);
  }
  res.writeHead(result.statusCode ?? 200, {
    ...headers,
    ...corsResponseHeaders(cors, req.headers.origin),
    'content-length': String(body.length),
  });
  // A body still on its way is dropped for a moment, then the connection closes.
  lingerOnPendingBody(req);
  res.end(body);
}

function sendError(req: IncomingMessage, res: ServerResponse, error: AppError, cors: CorsOrigins): void {
  const response = errorResponse(error);
  send(
    req,
    res,
    { statusCode: response.status, headers: response.headers, body: String(response.body) },
    cors,
  );
}

/** Builds the payload 2.0 event API Gateway would send for this request. */
function gatewayEvent(
  req: IncomingMessage,
  url: URL,
  body: Buffer,
  route: GatewayRoute | undefined,
  claims: Record<string, string> | undefined,
): HttpApiEvent {
  const headers: Record<string, string> = {};
  for (const [name, value] of Object.entries(req.headers)) {
    if (value === undefined || name === 'cookie') continue;
    headers[name.toLowerCase()] = Array.isArray(value) ? value.join(',') : value;
  }
  const method = (req.method ?? 'GET').toUpperCase();
  const routeKey = route ? `${route.method} ${route.template}` : '$default';
  const pathParameters: Record<string, string> = {};
  if (route) {
    const names = [...route.template.matchAll(/\{(\w+)\}/g)].map((m) => m[1] ?? '');
    const values = route.pattern.exec(url.pathname)?.slice(1) ?? [];
    names.forEach((name, i) => {
      pathParameters[name] = decodeURIComponent(values[i] ?? '');
    });
  }
  const queryStringParameters: Record<string, string> = {};
  for (const [name, value] of url.searchParams) {
    queryStringParameters[name] =
      queryStringParameters[name] === undefined ? value : `${queryStringParameters[name]},${value}`;
  }
  const textual = isTextual(headers['content-type']);
  const now = new Date();
  return {
    version: '2.0',
    routeKey,
    rawPath: url.pathname,
    rawQueryString: url.search.replace(/^\?/, ''),
    ...(req.headers.cookie ? { cookies: req.headers.cookie.split(/;\s*/) } : {}),
    headers,
    ...(Object.keys(queryStringParameters).length > 0 ? { queryStringParameters } : {}),
    ...(Object.keys(pathParameters).length > 0 ? { pathParameters } : {}),
    ...(body.length > 0 ? { body: body.toString(textual ? 'utf8' : 'base64') } : {}),
    isBase64Encoded: body.length > 0 && !textual,
    requestContext: {
      accountId: '123456789012',
      apiId: 'local',
      domainName: headers.host ?? '127.0.0.1',
      domainPrefix: 'local',
      http: {
        method,
        path: url.pathname,
        protocol: `HTTP/${req.httpVersion}`,
        sourceIp: req.socket.remoteAddress ?? '127.0.0.1',
        userAgent: headers['user-agent'] ?? '',
      },
      requestId: randomUUID(),
      routeKey,
      stage: '$default',
      time: now.toUTCString(),
      timeEpoch: now.getTime(),
      ...(claims ? { authorizer: { jwt: { claims, scopes: null } } } : {}),
    },
  };
}

/** Starts the gateway on 127.0.0.1:`port`, verifying tokens signed with `secret`. */
export function startApiGateway(options: {
  port: number;
  limits: HttpLimits;
  logger: Logger;
  secret: Buffer;
}): Promise<LoopbackHost> {
  const { secret } = options;
  const cors = options.limits.corsOrigins;
  return startLoopbackHost({
    ...options,
    misdirected: (req, res, error) => sendError(req, res, error, []),
    serve: async (req, res) => {
      const url = new URL(req.url ?? '/', 'http://127.0.0.1');
      const method = (req.method ?? 'GET').toUpperCase();
      const origin = req.headers.origin;
      // API Gateway answers every preflight itself when corsConfiguration is set: no route, no
      // authorizer, no function (an OPTIONS route would be needed otherwise).
      if (cors.length > 0 && isPreflight(method, req.headers as Record<string, string | undefined>)) {
        send(req, res, { statusCode: 204, headers: preflightHeaders(cors, origin, CORS_METHODS) }, []);
        return;
      }
      const route = GATEWAY_ROUTES.find((r) => r.method === method && r.pattern.test(url.pathname));
      const tooLarge = () =>
        send(
          req,
          res,
          {
            statusCode: 413,
            headers: { 'content-type': 'application/json' },
            body: JSON.stringify({ message: 'Request Entity Too Large' }),
          },
          cors,
        );
      if (declaresMoreThan(req, MAX_GATEWAY_BODY)) {
        tooLarge();
        return;
      }
      // The authorizer needs only the headers: a request it refuses is answered without its body.
      let claims: Record<string, string> | undefined;
      if (route?.authorized) {
        try {
          claims = await authorizerClaims(secret, { authorization: req.headers.authorization });
        } catch (error) {
          sendError(req, res, error as AuthError, cors);
          return;
        }
      }
      const body = await receiveBody(req, res, MAX_GATEWAY_BODY, tooLarge);
      if (body === undefined) return;
      // Unmatched requests take the `$default` route to the read function (no authorizer).
      const fn = route?.fn ?? 'read';
      const event = gatewayEvent(req, url, body, route, claims);
      const result = (await FUNCTIONS[fn](event, { awsRequestId: randomUUID() })) as HttpApiResult;
      send(req, res, result, cors);
    },
    // A function that throws is a 500 from API Gateway, whose body carries no detail.
    internalError: (res) => {
      res.writeHead(500, { 'content-type': 'application/json', connection: 'close' });
      res.end(JSON.stringify({ message: 'Internal Server Error' }));
    },
    timeoutBody: () => ({
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ message: 'Request Timeout' }),
    }),
  });
}
