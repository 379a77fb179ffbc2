/**
 * `npm run start:azure`: the Azure deployment on this machine. The v1 API is served on
 * 127.0.0.1:$PORT through the REAL exported Azure Functions handlers (functions/azure/handlers)
 * over the real Table and Queue adapters against Azurite, with this process playing the parts of
 * the Functions host:
 *
 * - HTTP: node:http request -> `HttpRequest` -> the handler -> `HttpResponseInit` -> response, routed
 *   as the host routes the app's registrations (functions/azure/handlers/http.ts; host.json's
 *   routePrefix is "", so paths are /v1/... as on the other runtimes);
 * - the queue trigger of `ivr-assignments`: polls the queue, invokes the consumer, deletes the
 *   message on success, and after `maxDequeueCount` (host.json) failed attempts moves it to
 *   `ivr-assignments-poison`, as the host does;
 * - the timer trigger: the daily expiry scan at 02:00 UTC.
 *
 * Callers use the local runtime's HS256 tokens (`RECCERT_AUTH_MODE=local`, secret in $DATA_DIR,
 * `npx reccert token`), and the upload flow is always the Azure one (PKCS#8 only, automatic
 * assignment to the `record` profile).
 *
 * Key custody: Key Vault (the real `KeyVaultCustody` adapter) when `RECCERT_KEY_VAULT_URL` is set,
 * e.g. to a Lowkey Vault you run yourself (with RECCERT_KEY_VAULT_EMULATOR=true and its certificate
 * in NODE_EXTRA_CA_CERTS). Otherwise the local runtime's encrypted file keystore in $DATA_DIR takes
 * its place, and a line at start-up says so: Lowkey Vault, the Key Vault emulator, cannot be
 * downloaded where this project is built, and nothing pretending to be a vault is used instead.
 *
 * Azurite is started on free ports with its data in $DATA_DIR/azurite (so a restart keeps
 * everything) and stopped on SIGTERM/SIGINT, unless RECCERT_STORAGE_CONNECTION_STRING names a
 * storage account or emulator to use instead.
 */
import { randomUUID } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import { join, resolve } from 'node:path';
import {
  HttpRequest,
  HttpResponse,
  type HttpResponseInit,
  InvocationContext,
  type Timer,
} from '@azure/functions';
import type { QueueClient } from '@azure/storage-queue';
import { ensureQueues, QUEUE_NAMES } from '../functions/azure/adapters/queue-publisher';
import { ensureTables } from '../functions/azure/adapters/table-repository';
import { handleAssignmentMessage } from '../functions/azure/handlers/assignment-queue';
import { handleExpiryTimer } from '../functions/azure/handlers/expiry-timer';
import { type HttpRegistration, handleHttp, httpRegistrations } from '../functions/azure/handlers/http';
import { defaultRuntime } from '../functions/azure/runtime';
import { readHttpLimits } from '../functions/local/config';
import {
  HTTP_SERVER_OPTIONS,
  hostChecker,
  limitIdleConnections,
  lingerOnPendingBody,
} from '../functions/local/server';
import { AppError } from '../shared/errors';
import { errorResponse } from '../shared/http/api-handler';
import { jsonLogger, type LogLevel } from '../shared/logging';
import type { Logger } from '../shared/ports';
import { sweepOrphanKeys } from '../shared/usecases/orphan-keys';
import { type AzuriteServer, startAzurite, stopAzurite } from './emulators/azurite-server';

const ROOT = resolve(__dirname, '..');
/** The Functions host refuses request bodies over 100 MB (its default maxRequestBodySize). */
const MAX_HOST_BODY = 100 * 1024 * 1024;
/** The poison queue the host uses for `ivr-assignments`. */
export const POISON_QUEUE = `${QUEUE_NAMES.ivrAssignments}-poison`;

/** The queue trigger settings of host.json (the same file the deployed app uses). */
export function queueSettings(): { maxDequeueCount: number; visibilityTimeoutSeconds: number } {
  const host = JSON.parse(readFileSync(join(ROOT, 'host.json'), 'utf8')) as {
    extensions?: { queues?: { maxDequeueCount?: number; visibilityTimeout?: string } };
  };
  const queues = host.extensions?.queues ?? {};
  const [h = 0, m = 0, s = 0] = (queues.visibilityTimeout ?? '00:00:00').split(':').map(Number);
  return { maxDequeueCount: queues.maxDequeueCount ?? 5, visibilityTimeoutSeconds: h * 3600 + m * 60 + s };
}

/** A registration as the host's router sees it. */
interface HostRoute {
  registration: HttpRegistration;
  pattern: RegExp;
  names: string[];
  catchAll: boolean;
}

function hostRoute(registration: HttpRegistration): HostRoute {
  const names: string[] = [];
  const source = registration.route
    .split('/')
    .map((segment) => {
      const param = /^\{(\*?)(\w+)\}$/.exec(segment);
      if (!param) return segment.replace(/[.*+?^$()|[\]\\]/g, '\\$&');
      names.push(param[2]!);
      return param[1] ? '(.*)' : '([^/]+)';
    })
    .join('/');
  return {
    registration,
    pattern: new RegExp(`^/${source}/?$`, 'i'),
    names,
    catchAll: registration.route.includes('{*'),
  };
}

const HOST_ROUTES = httpRegistrations().map(hostRoute);

/**
 * The registration the host would pick: a route whose template and method match, literal
 * templates and single-segment parameters before the catch-all (which has the lowest precedence).
 */
export function matchRoute(
  method: string,
  pathname: string,
): { registration: HttpRegistration; params: Record<string, string> } | undefined {
  const candidates = [...HOST_ROUTES].sort((a, b) => Number(a.catchAll) - Number(b.catchAll));
  for (const route of candidates) {
    if (!route.registration.methods.includes(method as never)) continue;
    const match = route.pattern.exec(pathname);
    if (!match) continue;
    const params: Record<string, string> = {};
    route.names.forEach((name, i) => {
      params[name] = match[i + 1] ?? '';
    });
    return { registration: route.registration, params };
  }
  return undefined;
}

async function readBody(req: IncomingMessage): Promise<Buffer | 'too-large'> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req as AsyncIterable<Buffer>) {
    size += chunk.length;
    if (size > MAX_HOST_BODY) return 'too-large';
    chunks.push(chunk);
  }
  return Buffer.concat(chunks);
}

/** Hop-by-hop headers belong to this connection, not to the request the function sees. */
const HOP_BY_HOP = new Set(['connection', 'keep-alive', 'transfer-encoding', 'upgrade', 'content-length']);

/** The `HttpRequest` the host builds for a request. */
export function functionsRequest(
  req: IncomingMessage,
  url: URL,
  body: Buffer,
  params: Record<string, string>,
): HttpRequest {
  const headers: Record<string, string> = {};
  for (const [name, value] of Object.entries(req.headers)) {
    if (value === undefined || HOP_BY_HOP.has(name)) continue;
    headers[name] = Array.isArray(value) ? value.join(', ') : value;
  }
  return new HttpRequest({
    method: (req.method ?? 'GET').toUpperCase(),
    url: url.toString(),
    headers,
    params,
    ...(body.length > 0 ? { body: { bytes: body } } : {}),
  });
}

/** Writes a function's `HttpResponseInit` the way the host does (through `HttpResponse`). */
export async function writeResponse(res: ServerResponse, init: HttpResponseInit): Promise<void> {
  const response = new HttpResponse(init);
  const body = Buffer.from(await response.arrayBuffer());
  const headers: Record<string, string> = {};
  response.headers.forEach((value, name) => {
    headers[name] = value;
  });
  // A 408 of the idle limit, or a connection already gone, leaves nothing to answer.
  if (res.headersSent || res.destroyed) return;
  res.writeHead(response.status, { ...headers, 'content-length': String(body.length) });
  // A body still on its way (an answer of the host itself) is dropped for a moment, then closed.
  lingerOnPendingBody(res.req);
  res.end(body);
}

/**
 * The queue trigger: receives messages, invokes the consumer with the decoded message (parsed
 * when it is JSON, as the host does), deletes on success, and moves a message that failed
 * `maxDequeueCount` times to the poison queue. Failed messages become visible again after the
 * visibility timeout of host.json.
 */
export function startQueueTrigger(
  queue: QueueClient,
  poison: QueueClient,
  logger: Logger,
  settings = queueSettings(),
): { stop(): Promise<void> } {
  let stopped = false;
  let wake: (() => void) | undefined;
  const sleep = (ms: number) =>
    new Promise<void>((r) => {
      const timer = setTimeout(r, ms);
      wake = () => {
        clearTimeout(timer);
        r();
      };
    });
  const loop = (async () => {
    let idleMs = 50;
    while (!stopped) {
      try {
        const received = await queue.receiveMessages({
          numberOfMessages: 16,
          visibilityTimeout: Math.max(1, settings.visibilityTimeoutSeconds),
        });
        const items = received.receivedMessageItems;
        if (items.length === 0) {
          // Like the host: poll often while busy, back off (to 1 s here) while idle.
          await sleep(idleMs);
          idleMs = Math.min(1_000, idleMs * 2);
          continue;
        }
        idleMs = 50;
        for (const item of items) {
          const text = Buffer.from(item.messageText, 'base64').toString('utf8');
          let queueItem: unknown = text;
          try {
            queueItem = JSON.parse(text);
          } catch {
            // Not JSON: the handler gets the string, as from the host.
          }
          const context = new InvocationContext({
            invocationId: randomUUID(),
            functionName: 'ivrAssignmentConsumer',
            triggerMetadata: {
              id: item.messageId,
              dequeueCount: item.dequeueCount,
              insertionTime: item.insertedOn,
            },
          });
          try {
            await handleAssignmentMessage(queueItem, context);
            await queue.deleteMessage(item.messageId, item.popReceipt);
          } catch (error) {
            if (item.dequeueCount >= settings.maxDequeueCount) {
              await poison.sendMessage(item.messageText);
              await queue.deleteMessage(item.messageId, item.popReceipt);
              logger.warn('assignment message moved to the poison queue', {
                messageId: item.messageId,
                dequeueCount: item.dequeueCount,
              });
            } else {
              logger.warn('assignment message will be retried', {
                messageId: item.messageId,
                dequeueCount: item.dequeueCount,
                error: error instanceof Error ? error.name : 'unknown',
              });
            }
          }
        }
      } catch (error) {
        if (stopped) break;
        logger.warn('assignment queue poll failed', {
          error: error instanceof Error ? error.message : String(error),
        });
        await sleep(1_000);
      }
    }
  })();
  return {
    async stop() {
      stopped = true;
      wake?.();
      await loop;
    },
  };
}

function msUntilNextScan(now: Date): number {
  const next = new Date(Date.UTC(now.getUTCFullYear(), now.getUTCMonth(), now.getUTCDate(), 2));
  if (next.getTime() <= now.getTime()) next.setUTCDate(next.getUTCDate() + 1);
  return next.getTime() - now.getTime();
}

/** The timer trigger (02:00 UTC daily, as EXPIRY_SCAN_SCHEDULE). */
function startTimerTrigger(logger: Logger): { stop(): void } {
  let timer: NodeJS.Timeout | undefined;
  const schedule = () => {
    timer = setTimeout(() => {
      const now = new Date().toISOString();
      const info: Timer = {
        isPastDue: false,
        schedule: { adjustForDST: false },
        scheduleStatus: {
          last: now,
          next: new Date(Date.now() + msUntilNextScan(new Date())).toISOString(),
          lastUpdated: now,
        },
      };
      handleExpiryTimer(
        info,
        new InvocationContext({ invocationId: randomUUID(), functionName: 'expiryScanDaily' }),
      )
        .catch((error: unknown) => logger.error('scheduled expiry scan failed', { error: String(error) }))
        .finally(schedule);
    }, msUntilNextScan(new Date()));
    timer.unref();
  };
  schedule();
  return { stop: () => clearTimeout(timer) };
}

async function main(): Promise<void> {
  // What this process and its Azurite create in DATA_DIR (keys, token secret) is the owner's alone.
  process.umask(0o077);
  const logger = jsonLogger((process.env.LOG_LEVEL as LogLevel | undefined) ?? 'info', undefined, {
    runtime: 'azure',
  });
  const port = Number(process.env.PORT ?? 8080);
  if (!Number.isInteger(port) || port < 0 || port > 65535) throw new Error('PORT must be a port number.');
  const dataDir = resolve(process.env.DATA_DIR ?? './.reccert-data-azure');

  let azurite: AzuriteServer | undefined;
  let connectionString = process.env.RECCERT_STORAGE_CONNECTION_STRING?.trim();
  if (!connectionString) {
    azurite = await startAzurite({ location: join(dataDir, 'azurite') });
    connectionString = azurite.connectionString;
  }
  const started = azurite;
  // Whatever ends this process, an Azurite it started must not outlive it.
  process.once('exit', () => {
    if (started) {
      try {
        process.kill(started.pid, 'SIGTERM');
      } catch {
        // already gone
      }
    }
  });

  if (process.env.RECCERT_FLOW && process.env.RECCERT_FLOW !== 'azure') {
    logger.warn('RECCERT_FLOW is ignored: the Azure runtime plays the azure flow', {
      given: process.env.RECCERT_FLOW,
    });
  }
  const useVault = Boolean(process.env.RECCERT_KEY_VAULT_URL?.trim());
  // The handlers read their settings from the environment, as in a Function App.
  Object.assign(process.env, {
    DATA_DIR: dataDir,
    RECCERT_FLOW: 'azure',
    RECCERT_AUTH_MODE: 'local',
    RECCERT_STORAGE_CONNECTION_STRING: connectionString,
    ...(useVault ? {} : { RECCERT_KEY_CUSTODY: 'file' }),
  });
  if (!useVault) {
    logger.warn(
      'RECCERT_KEY_VAULT_URL is not set: private keys go to the encrypted file keystore in DATA_DIR instead of Key Vault (no Key Vault emulator is available here)',
      { keystore: join(dataDir, 'keys') },
    );
  }

  const runtime = await defaultRuntime();
  await ensureTables(runtime.tables);
  await ensureQueues(runtime.queueClient, [
    QUEUE_NAMES.ivrAssignments,
    POISON_QUEUE,
    QUEUE_NAMES.expiryNotifications,
  ]);
  // The file keystore in DATA_DIR is this process's alone and it serves nothing yet, so no upload
  // is in flight: every key without a record goes (the timer's sweep spares young keys).
  if (!useVault) await sweepOrphanKeys(runtime.deps, { minAgeMs: 0 });

  const limits = readHttpLimits();
  let hostAllowed: (host: string | undefined) => boolean = () => false;
  const server = createServer(HTTP_SERVER_OPTIONS, (req, res) => {
    void (async () => {
      if (!hostAllowed(req.headers.host)) {
        const refused = errorResponse(
          new AppError(
            'MISDIRECTED_REQUEST',
            'This server answers only requests for 127.0.0.1 or localhost on its port (or RECCERT_ALLOWED_HOSTS).',
          ),
        );
        await writeResponse(res, {
          status: refused.status,
          headers: refused.headers,
          body: String(refused.body),
        });
        return;
      }
      const url = new URL(req.url ?? '/', 'http://127.0.0.1');
      const method = (req.method ?? 'GET').toUpperCase();
      const refuseTooLarge = () => {
        if (res.headersSent || res.destroyed) return;
        res.writeHead(413, { 'content-length': '0', connection: 'close' });
        res.end();
      };
      if (Number(req.headers['content-length'] ?? 0) > MAX_HOST_BODY) {
        refuseTooLarge();
        return;
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
        refuseTooLarge();
        return;
      }
      const hit = matchRoute(method, url.pathname);
      if (!hit) {
        // The host's own answer for a path no function is registered on.
        res.writeHead(404, { 'content-length': '0' });
        res.end();
        return;
      }
      const context = new InvocationContext({
        invocationId: randomUUID(),
        functionName: hit.registration.name,
      });
      await writeResponse(res, await handleHttp(functionsRequest(req, url, body, hit.params), context));
    })().catch((error: unknown) => {
      // A function that throws is a 500 from the host, without detail.
      logger.error('function invocation failed', {
        error: error instanceof Error ? error.message : String(error),
      });
      if (!res.headersSent) {
        res.writeHead(500, { 'content-length': '0', connection: 'close' });
        res.end();
      } else res.destroy();
    });
  });
  limitIdleConnections(server, limits, () => ({ headers: {}, body: '' }));

  const trigger = startQueueTrigger(
    runtime.queueClient(QUEUE_NAMES.ivrAssignments),
    runtime.queueClient(POISON_QUEUE),
    logger,
  );
  const timer = startTimerTrigger(logger);

  await new Promise<void>((ready, fail) => {
    server.once('error', fail);
    server.listen(port, '127.0.0.1', () => ready());
  });
  const address = server.address();
  hostAllowed = hostChecker(
    { host: '127.0.0.1', port: typeof address === 'object' && address ? address.port : port },
    limits.allowedHosts,
  );
  logger.info('reccert (azure runtime) listening', {
    url: `http://127.0.0.1:${typeof address === 'object' && address ? address.port : port}`,
    storage: azurite ? 'azurite' : 'external',
    keyCustody: useVault ? 'keyvault' : 'file',
    dataDir,
  });

  let stopping = false;
  const stop = async (signal: string) => {
    if (stopping) return;
    stopping = true;
    logger.info('stopping', { signal });
    timer.stop();
    server.close();
    server.closeAllConnections();
    await trigger.stop().catch(() => undefined);
    if (azurite) await stopAzurite(azurite);
    process.exit(0);
  };
  process.once('SIGTERM', () => void stop('SIGTERM'));
  process.once('SIGINT', () => void stop('SIGINT'));
}

if (require.main === module) {
  main().catch((error: unknown) => {
    process.stderr.write(
      `reccert (azure runtime) failed to start: ${error instanceof Error ? error.stack : String(error)}\n`,
    );
    process.exit(1);
  });
}
