/**
 * `npm run start:aws`: the AWS deployment on this machine. The v1 API is served on
 * 127.0.0.1:$PORT through the real Lambda handlers (functions/aws/handlers) against a moto
 * server, with this process playing the parts of AWS that moto does not:
 *
 * - API Gateway (HTTP API, payload 2.0): routes each request to the function the CDK stack routes
 *   it to (functions/aws/routing.ts), the unmatched ones to the `$default` route;
 * - its JWT authorizer: verifies the bearer token (the local HS256 tokens `npx reccert token`
 *   prints, secret in $DATA_DIR) and passes the claims on as API Gateway does (as strings);
 * - the SQS event source of the assignment consumer: long-polls the queue, invokes the consumer
 *   with a real SQS event and deletes only the messages it did not report as failed.
 *
 * moto is started on a free port and stopped on SIGTERM/SIGINT, unless RECCERT_MOTO_ENDPOINT
 * names one to use (then its owner stops it, and its state outlives restarts of this process, as
 * an account outlives its functions). moto keeps state in memory only.
 */
import { randomUUID } from 'node:crypto';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import { resolve } from 'node:path';
import {
  DeleteMessageBatchCommand,
  type Message,
  ReceiveMessageCommand,
  SQSClient,
} from '@aws-sdk/client-sqs';
import type { SQSBatchResponse, SQSEvent, SQSRecord } from 'aws-lambda';
import { jwtVerify } from 'jose';
import { handler as assignmentConsumer } from '../functions/aws/handlers/assignment-consumer';
import { handler as decrypt } from '../functions/aws/handlers/decrypt';
import { handler as expiryScan } from '../functions/aws/handlers/expiry-scan';
import { handler as read } from '../functions/aws/handlers/read';
import { handler as write } from '../functions/aws/handlers/write';
import { FUNCTION_OF_GROUP, type HttpFunctionName, OPENAPI_PATH } from '../functions/aws/routing';
import type { HttpApiEvent, HttpApiResult } from '../functions/aws/runtime';
import { LOCAL_AUDIENCE, LOCAL_ISSUER, loadOrCreateTokenSecret } from '../functions/local/auth';
import { readHttpLimits } from '../functions/local/config';
import {
  HTTP_SERVER_OPTIONS,
  hostChecker,
  limitIdleConnections,
  lingerOnPendingBody,
} from '../functions/local/server';
import { AppError, AuthError } from '../shared/errors';
import { bearerToken, errorResponse } from '../shared/http/handler';
import { routes } from '../shared/http/routes';
import { jsonLogger, type LogLevel } from '../shared/logging';
import {
  MOTO_CREDENTIALS,
  MOTO_REGION,
  motoClientConfig,
  provisionAwsResources,
} from './emulators/moto-resources';
import { ensureMotoInstalled, type MotoServer, startMoto, stopMoto } from './emulators/moto-server';

/** API Gateway HTTP APIs refuse request bodies over 10 MB. */
const MAX_GATEWAY_BODY = 10 * 1024 * 1024;

const FUNCTIONS: Record<HttpFunctionName, (event: HttpApiEvent) => Promise<unknown>> = {
  read,
  write,
  decrypt,
  'expiry-scan': expiryScan as (event: HttpApiEvent) => Promise<unknown>,
};

/** A route as API Gateway knows it: method, path template, whether the authorizer guards it. */
interface GatewayRoute {
  method: string;
  template: string;
  pattern: RegExp;
  fn: HttpFunctionName;
  authorized: boolean;
}

function templatePattern(template: string): RegExp {
  const source = template
    .split(/\{\w+\}/)
    .map((part) => part.replace(/[.*+?^$()|[\]\\]/g, '\\$&'))
    .join('([^/]+)');
  return new RegExp(`^${source}$`);
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

async function readBody(req: IncomingMessage): Promise<Buffer | 'too-large'> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req) {
    size += (chunk as Buffer).length;
    if (size > MAX_GATEWAY_BODY) return 'too-large';
    chunks.push(chunk as Buffer);
  }
  return Buffer.concat(chunks);
}

function send(req: IncomingMessage, res: ServerResponse, result: HttpApiResult): void {
  // A 408 of the idle limit, or a connection already gone, leaves nothing to answer.
  if (res.headersSent || res.destroyed) return;
  const body =
    result.body === undefined
      ? Buffer.alloc(0)
      : Buffer.from(result.body, result.isBase64Encoded ? 'base64' : 'utf8');
  res.writeHead(result.statusCode ?? 200, {
    ...(result.headers ?? {}),
    'content-length': String(body.length),
  });
  // A body still on its way is dropped for a moment, then the connection closes.
  lingerOnPendingBody(req);
  res.end(body);
}

function sendError(req: IncomingMessage, res: ServerResponse, error: AppError): void {
  const response = errorResponse(error);
  send(req, res, { statusCode: response.status, headers: response.headers, body: String(response.body) });
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

/** The SQS event Lambda's event source mapping builds from received messages. */
export function sqsEvent(messages: Message[], queueArn: string): SQSEvent {
  return {
    Records: messages.map(
      (m): SQSRecord => ({
        messageId: m.MessageId ?? '',
        receiptHandle: m.ReceiptHandle ?? '',
        body: m.Body ?? '',
        attributes: {
          ApproximateReceiveCount: m.Attributes?.ApproximateReceiveCount ?? '1',
          SentTimestamp: m.Attributes?.SentTimestamp ?? String(Date.now()),
          SenderId: m.Attributes?.SenderId ?? 'events.amazonaws.com',
          ApproximateFirstReceiveTimestamp:
            m.Attributes?.ApproximateFirstReceiveTimestamp ?? String(Date.now()),
        },
        messageAttributes: {},
        md5OfBody: m.MD5OfBody ?? '',
        eventSource: 'aws:sqs',
        eventSourceARN: queueArn,
        awsRegion: MOTO_REGION,
      }),
    ),
  };
}

async function main(): Promise<void> {
  // What this process creates in DATA_DIR (the token secret) is the owner's alone.
  process.umask(0o077);
  const logger = jsonLogger((process.env.LOG_LEVEL as LogLevel | undefined) ?? 'info', undefined, {
    runtime: 'aws',
  });
  const port = Number(process.env.PORT ?? 8080);
  if (!Number.isInteger(port) || port < 0 || port > 65535) throw new Error('PORT must be a port number.');
  const dataDir = resolve(process.env.DATA_DIR ?? './.reccert-data-aws');
  const secret = loadOrCreateTokenSecret(dataDir);

  let moto: MotoServer | undefined;
  let endpoint = process.env.RECCERT_MOTO_ENDPOINT;
  if (!endpoint) {
    ensureMotoInstalled();
    moto = await startMoto();
    endpoint = moto.endpoint;
  }
  const motoPid = moto?.pid;
  // Whatever ends this process, a moto it started must not outlive it.
  process.once('exit', () => {
    if (motoPid !== undefined) {
      try {
        process.kill(motoPid, 'SIGTERM');
      } catch {
        // already gone
      }
    }
  });

  // The handlers build their SDK clients from the environment, as on Lambda. Point them at
  // moto with fixed dummy credentials, so nothing here can reach a real account.
  for (const name of ['AWS_PROFILE', 'AWS_SESSION_TOKEN', 'AWS_DEFAULT_PROFILE', 'AWS_ROLE_ARN'])
    delete process.env[name];
  Object.assign(process.env, {
    AWS_ENDPOINT_URL: endpoint,
    AWS_REGION: MOTO_REGION,
    AWS_ACCESS_KEY_ID: MOTO_CREDENTIALS.accessKeyId,
    AWS_SECRET_ACCESS_KEY: MOTO_CREDENTIALS.secretAccessKey,
    AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: 'true',
  });
  const resources = await provisionAwsResources(endpoint);
  Object.assign(process.env, resources.env);

  const limits = readHttpLimits();
  let hostAllowed: (host: string | undefined) => boolean = () => false;
  const server = createServer(HTTP_SERVER_OPTIONS, (req, res) => {
    void (async () => {
      if (!hostAllowed(req.headers.host)) {
        sendError(
          req,
          res,
          new AppError(
            'MISDIRECTED_REQUEST',
            'This server answers only requests for 127.0.0.1 or localhost on its port (or RECCERT_ALLOWED_HOSTS).',
          ),
        );
        return;
      }
      const url = new URL(req.url ?? '/', 'http://127.0.0.1');
      const method = (req.method ?? 'GET').toUpperCase();
      const route = GATEWAY_ROUTES.find((r) => r.method === method && r.pattern.test(url.pathname));
      const tooLarge = () =>
        send(req, res, {
          statusCode: 413,
          headers: { 'content-type': 'application/json' },
          body: JSON.stringify({ message: 'Request Entity Too Large' }),
        });
      if (Number(req.headers['content-length'] ?? 0) > MAX_GATEWAY_BODY) {
        tooLarge();
        return;
      }
      // The authorizer needs only the headers: a request it refuses is answered without its body.
      let claims: Record<string, string> | undefined;
      if (route?.authorized) {
        try {
          claims = await authorizerClaims(secret, { authorization: req.headers.authorization });
        } catch (error) {
          sendError(req, res, error as AuthError);
          return;
        }
      }
      let body: Buffer | 'too-large';
      try {
        body = await readBody(req);
      } catch {
        // The client went away, or the idle limit answered 408 and closed the connection.
        res.destroy();
        return;
      }
      if (body === 'too-large') {
        tooLarge();
        return;
      }
      // Unmatched requests take the `$default` route to the read function (no authorizer).
      const fn = route?.fn ?? 'read';
      const result = (await FUNCTIONS[fn](gatewayEvent(req, url, body, route, claims))) as HttpApiResult;
      send(req, res, result);
    })().catch((error: unknown) => {
      // A function that throws is a 500 from API Gateway, whose body carries no detail.
      logger.error('function invocation failed', {
        error: error instanceof Error ? error.message : String(error),
      });
      if (!res.headersSent) {
        res.writeHead(500, { 'content-type': 'application/json', connection: 'close' });
        res.end(JSON.stringify({ message: 'Internal Server Error' }));
      } else res.destroy();
    });
  });
  limitIdleConnections(server, limits, () => ({
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ message: 'Request Timeout' }),
  }));

  // The SQS event source: long polls, invokes the consumer, deletes what it did not report failed.
  const sqs = new SQSClient(motoClientConfig(endpoint));
  const polling = new AbortController();
  const poller = (async () => {
    while (!polling.signal.aborted) {
      try {
        const out = await sqs.send(
          new ReceiveMessageCommand({
            QueueUrl: resources.queueUrl,
            MaxNumberOfMessages: 10,
            WaitTimeSeconds: 1,
            MessageSystemAttributeNames: ['All'],
          }),
          { abortSignal: polling.signal },
        );
        const messages = out.Messages ?? [];
        if (messages.length === 0) continue;
        const result = (await assignmentConsumer(sqsEvent(messages, resources.queueArn))) as SQSBatchResponse;
        const failed = new Set(result.batchItemFailures.map((f) => f.itemIdentifier));
        const done = messages.filter((m) => !failed.has(m.MessageId ?? ''));
        if (done.length > 0) {
          await sqs.send(
            new DeleteMessageBatchCommand({
              QueueUrl: resources.queueUrl,
              Entries: done.map((m, i) => ({ Id: String(i), ReceiptHandle: m.ReceiptHandle ?? '' })),
            }),
          );
        }
      } catch (error) {
        if (polling.signal.aborted) break;
        logger.warn('assignment queue poll failed', {
          error: error instanceof Error ? error.message : String(error),
        });
        await new Promise((r) => setTimeout(r, 1_000));
      }
    }
  })();

  await new Promise<void>((ready, fail) => {
    server.once('error', fail);
    server.listen(port, '127.0.0.1', () => ready());
  });
  const address = server.address();
  hostAllowed = hostChecker(
    { host: '127.0.0.1', port: typeof address === 'object' && address ? address.port : port },
    limits.allowedHosts,
  );
  logger.info('reccert (aws runtime) listening', {
    url: `http://127.0.0.1:${typeof address === 'object' && address ? address.port : port}`,
    moto: endpoint,
    dataDir,
  });

  let stopping = false;
  const stop = async (signal: string) => {
    if (stopping) return;
    stopping = true;
    logger.info('stopping', { signal });
    polling.abort();
    server.close();
    server.closeAllConnections();
    await poller.catch(() => undefined);
    sqs.destroy();
    if (moto) await stopMoto(moto.pid);
    process.exit(0);
  };
  process.once('SIGTERM', () => void stop('SIGTERM'));
  process.once('SIGINT', () => void stop('SIGINT'));
}

if (require.main === module) {
  main().catch((error: unknown) => {
    process.stderr.write(
      `reccert (aws runtime) failed to start: ${error instanceof Error ? error.stack : String(error)}\n`,
    );
    process.exit(1);
  });
}
