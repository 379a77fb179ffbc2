/**
 * The local runtime: one process serving the v1 API over node:http with SQLite metadata, the
 * encrypted file keystore, an in-process event queue and a daily expiry-scan timer.
 */
import { randomUUID } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { chmod, mkdir, stat } from 'node:fs/promises';
import {
  createServer,
  type IncomingMessage,
  type Server,
  type ServerOptions,
  type ServerResponse,
} from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import { extname, join, normalize, resolve, sep } from 'node:path';
import type { DomainEvent, ExpiryNotification } from '../../shared/domain/types';
import { AppError } from '../../shared/errors';
import { type ApiRequest, bearerToken, createApiHandler, errorResponse } from '../../shared/http/handler';
import { buildOpenApiDocument } from '../../shared/http/openapi';
import { jsonLogger } from '../../shared/logging';
import type { Logger, NotificationSink } from '../../shared/ports';
import { abandonIvrAssignment, applyIvrAssignment } from '../../shared/usecases/assignments';
import type { CoreDeps } from '../../shared/usecases/deps';
import { runExpiryScan } from '../../shared/usecases/expiry-scan';
import { sweepOrphanKeys } from '../../shared/usecases/orphan-keys';
import { loadOrCreateTokenSecret, mintLocalToken, verifyLocalToken } from './auth';
import type { HttpLimits, LocalConfig } from './config';
import { InProcessEventQueue } from './event-queue';
import { FileKeystore, loadOrCreateMasterKey } from './file-keystore';
import { SqliteCertificateRepository } from './sqlite-repository';

export const VERSION: string = (require('../../package.json') as { version: string }).version;

export interface LocalRuntime {
  server: Server;
  url: string;
  deps: CoreDeps;
  events: InProcessEventQueue;
  tokenSecret: Buffer;
  close(): Promise<void>;
}

const STATIC_TYPES: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.svg': 'image/svg+xml',
  '.png': 'image/png',
  '.ico': 'image/x-icon',
  '.json': 'application/json',
};

const SECURITY_HEADERS = {
  'x-content-type-options': 'nosniff',
  'referrer-policy': 'no-referrer',
};

/**
 * Options for every loopback HTTP server of the project (this one and the cloud runtimes' dev
 * servers): headers must arrive within 10 s (checked every second, not every 30 s) and fit in
 * 16 KiB whatever NODE_OPTIONS says (431 past it), a whole request within 30 minutes
 * (recordings stream through decrypt).
 */
export const HTTP_SERVER_OPTIONS: ServerOptions = {
  maxHeaderSize: 16 * 1024,
  headersTimeout: 10_000,
  requestTimeout: 30 * 60_000,
  connectionsCheckingInterval: 1_000,
};

const WILDCARD_HOSTS = new Set(['0.0.0.0', '[::]', '[::0]']);

function splitHost(value: string): { name: string; port: number | undefined } | undefined {
  const match = /^(\[[0-9a-f:.]+\]|[^:[\]]+)(?::(\d{1,5}))?$/i.exec(value.trim());
  if (!match) return undefined;
  return { name: match[1]!.toLowerCase(), port: match[2] === undefined ? undefined : Number(match[2]) };
}

/**
 * The Host check against DNS rebinding (DESIGN section 9): a page on another site that rebinds
 * its name to 127.0.0.1 still sends its own name as Host, so only the server's own address,
 * `localhost` (both on its port) and the names of `RECCERT_ALLOWED_HOSTS` are answered. An allowed
 * name without a port matches any port (a reverse proxy in front); with one, only that port.
 */
export function hostChecker(
  listen: { host: string; port: number },
  allowedHosts: readonly string[],
): (host: string | undefined) => boolean {
  const configured = listen.host.includes(':') ? `[${listen.host}]` : listen.host;
  const own = new Set(['127.0.0.1', '[::1]', 'localhost', configured.toLowerCase()]);
  for (const wildcard of WILDCARD_HOSTS) own.delete(wildcard);
  const extra = allowedHosts.map(splitHost).filter((h) => h !== undefined);
  return (host) => {
    const given = host === undefined ? undefined : splitHost(host);
    if (!given) return false;
    if (own.has(given.name) && (given.port ?? 80) === listen.port) return true;
    return extra.some((h) => h.name === given.name && (h.port === undefined || h.port === given.port));
  };
}

/** How long the rest of a body is read (and dropped) after an answer that did not need it. */
const LINGER_MS = 2_000;
/** How long a body that is being dropped may pause before the connection is closed. */
const LINGER_IDLE_MS = 500;

/**
 * Call when answering: if the request's body has not all arrived (the answer did not need it),
 * the rest is read and dropped while it keeps coming, for at most LINGER_MS, and the connection
 * is closed as soon as it pauses for LINGER_IDLE_MS. Closing at once would reset a client still
 * sending, which then loses the answer (EPIPE) instead of reading its 401, 403, 413 or 421; a
 * client that stopped sending (a stalled or hostile body) is let go at once.
 * Returns whether the body was pending.
 */
export function lingerOnPendingBody(req: IncomingMessage): boolean {
  if (req.complete) return false;
  const socket = req.socket;
  req.resume();
  const close = () => socket.destroy();
  const overall = setTimeout(close, LINGER_MS);
  const idle = setTimeout(close, LINGER_IDLE_MS);
  overall.unref();
  idle.unref();
  const onData = () => idle.refresh();
  req.on('data', onData);
  const settle = () => {
    clearTimeout(overall);
    clearTimeout(idle);
    req.off('data', onData);
  };
  socket.once('close', settle);
  req.once('end', settle);
  return true;
}

/**
 * Applies the body-idle limit of DESIGN section 9 to `server`: a connection that sends no byte
 * for `limits.bodyIdleTimeoutMs` while a request body is due is answered 408 (when no answer was
 * started) and closed; so is an idle connection with no request in progress, and one whose
 * client stopped reading its answer. A connection waiting for the server's own work is left be.
 */
export function limitIdleConnections(
  server: Server,
  limits: Pick<HttpLimits, 'bodyIdleTimeoutMs'>,
  timeoutBody: () => { headers: Record<string, string>; body: string },
): void {
  const inFlight = new WeakMap<Socket, { req: IncomingMessage; res: ServerResponse }>();
  server.on('request', (req: IncomingMessage, res: ServerResponse) => {
    const socket = req.socket;
    inFlight.set(socket, { req, res });
    res.once('close', () => {
      if (inFlight.get(socket)?.res === res) inFlight.delete(socket);
    });
  });
  server.timeout = limits.bodyIdleTimeoutMs;
  server.on('timeout', (socket: Socket) => {
    const current = inFlight.get(socket);
    if (current?.req.complete) {
      // The answer is being worked on (no byte due from the client), unless it stopped reading.
      if (socket.writableLength > 0) socket.destroy();
      return;
    }
    if (current && !current.res.headersSent) {
      const { headers, body } = timeoutBody();
      current.res.writeHead(408, {
        ...headers,
        'content-length': String(Buffer.byteLength(body)),
        connection: 'close',
      });
      current.res.end(body);
      // The client sends nothing, so nothing can be lost by closing right after the answer.
      current.res.once('finish', () => socket.destroy());
      setTimeout(() => socket.destroy(), 1_000).unref();
      return;
    }
    socket.destroy();
  });
}

/** Writes `response` unless an answer was already started (a 408, or a response cut off). */
function writeResponse(
  req: IncomingMessage,
  res: ServerResponse,
  status: number,
  headers: Record<string, string>,
  body: string | Buffer,
): void {
  if (res.headersSent || res.destroyed) return;
  res.writeHead(status, {
    ...SECURITY_HEADERS,
    ...headers,
    'content-length': String(Buffer.byteLength(body)),
  });
  lingerOnPendingBody(req);
  res.end(body);
}

class WebhookSink implements NotificationSink {
  constructor(
    private readonly url: string,
    private readonly logger: Logger,
  ) {}
  async notify(notifications: ExpiryNotification[]): Promise<void> {
    for (const n of notifications) {
      try {
        const response = await fetch(this.url, {
          method: 'POST',
          headers: { 'content-type': 'application/json' },
          body: JSON.stringify(n),
          signal: AbortSignal.timeout(5000),
        });
        if (!response.ok) this.logger.warn('webhook refused a notification', { status: response.status });
      } catch (error) {
        this.logger.warn('webhook unreachable', { error: String(error) });
      }
    }
  }
}

function msUntilNextScan(now: Date, hourUtc: number): number {
  const next = new Date(Date.UTC(now.getUTCFullYear(), now.getUTCMonth(), now.getUTCDate(), hourUtc));
  if (next.getTime() <= now.getTime()) next.setUTCDate(next.getUTCDate() + 1);
  return next.getTime() - now.getTime();
}

/** Starts the local runtime. */
export async function startLocalRuntime(
  config: LocalConfig,
  logger: Logger = jsonLogger(config.logLevel),
): Promise<LocalRuntime> {
  await mkdir(config.dataDir, { recursive: true, mode: 0o700 });
  // The data directory holds keys and the token secret: its owner's alone (section 9).
  await chmod(config.dataDir, 0o700);
  const masterKey = await loadOrCreateMasterKey(config.dataDir, config.masterKey);
  const tokenSecret = loadOrCreateTokenSecret(config.dataDir);
  const repo = new SqliteCertificateRepository(join(config.dataDir, 'reccert.db'));
  const custody = new FileKeystore(config.dataDir, masterKey);
  masterKey.fill(0);
  const events = new InProcessEventQueue(logger);
  const deps: CoreDeps = {
    repo,
    custody,
    events,
    clock: { now: () => new Date() },
    ids: { newId: randomUUID },
    logger,
    config: {
      flow: config.flow,
      expiryThresholdsDays: config.expiryThresholdsDays,
      defaultIvrProfile: 'record',
    },
    ...(config.webhookUrl ? { notificationSink: new WebhookSink(config.webhookUrl, logger) } : {}),
  };
  events.subscribe(
    'IvrAssignmentRequested',
    (event: DomainEvent) => applyIvrAssignment(deps, event),
    (event, reason) => abandonIvrAssignment(deps, event, reason),
  );

  // Before any request (one process owns a data directory), so no upload is in flight.
  await sweepOrphanKeys(deps, { minAgeMs: 0 });

  let openApi: unknown;
  const handle = createApiHandler({
    deps,
    version: VERSION,
    authenticate: async (request: ApiRequest) => {
      const token = bearerToken(request.headers);
      if (!token)
        throw new AppError(
          'UNAUTHORIZED',
          'A bearer token is required (Authorization: Bearer <token>; npx reccert token).',
        );
      return verifyLocalToken(tokenSecret, token);
    },
    streamResponses: true,
    openApiDocument: () => {
      openApi ??= buildOpenApiDocument(VERSION);
      return openApi;
    },
  });

  const webRoot = resolve(config.webDir);

  async function serveStatic(req: IncomingMessage, res: ServerResponse, pathname: string): Promise<boolean> {
    if (req.method !== 'GET' && req.method !== 'HEAD') return false;
    const relative = pathname === '/' ? 'index.html' : decodeURIComponent(pathname.slice(1));
    const file = normalize(join(webRoot, relative));
    if (!file.startsWith(webRoot + sep)) return false;
    try {
      const info = await stat(file);
      if (!info.isFile()) return false;
    } catch {
      return false;
    }
    res.writeHead(200, {
      'content-type': STATIC_TYPES[extname(file)] ?? 'application/octet-stream',
      'cache-control': 'no-cache',
      'content-security-policy':
        "default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; connect-src 'self'; frame-ancestors 'none'",
      ...SECURITY_HEADERS,
    });
    if (req.method === 'HEAD') res.end();
    else {
      // The file may vanish or fail between stat and read: cut the answer off, never crash.
      const stream = createReadStream(file);
      stream.on('error', () => res.destroy());
      stream.pipe(res);
    }
    return true;
  }

  let hostAllowed: (host: string | undefined) => boolean = () => false;
  const server = createServer(HTTP_SERVER_OPTIONS, async (req, res) => {
    try {
      if (!hostAllowed(req.headers.host)) {
        const response = errorResponse(
          new AppError(
            'MISDIRECTED_REQUEST',
            'This server answers only requests whose Host is its own address or localhost, on its port; add another name to RECCERT_ALLOWED_HOSTS to serve it.',
          ),
        );
        writeResponse(req, res, response.status, response.headers, response.body);
        return;
      }
      const url = new URL(req.url ?? '/', 'http://localhost');
      if (!url.pathname.startsWith('/v1/') && url.pathname !== '/v1') {
        if (config.devToken && url.pathname === '/dev/token' && req.method === 'GET') {
          const token = await mintLocalToken(tokenSecret, {
            subject: 'dev-admin',
            tenants: [config.devTenant],
            roles: ['admin', 'decrypt'],
          });
          writeResponse(
            req,
            res,
            200,
            { 'content-type': 'application/json', 'cache-control': 'no-store' },
            JSON.stringify({ token, tenant: config.devTenant, flow: config.flow }),
          );
          return;
        }
        if (await serveStatic(req, res, url.pathname)) return;
      }
      const query: Record<string, string> = {};
      for (const [k, v] of url.searchParams) query[k] = v;
      const headers: Record<string, string | undefined> = {};
      for (const [k, v] of Object.entries(req.headers)) headers[k] = Array.isArray(v) ? v.join(', ') : v;
      const response = await handle({
        method: req.method ?? 'GET',
        path: url.pathname,
        query,
        headers,
        bodyStream: req,
      });
      if (response.stream) {
        const { body, completed } = response.stream;
        if (res.headersSent || res.destroyed) {
          body.destroy();
          return;
        }
        res.writeHead(response.status, { ...SECURITY_HEADERS, ...response.headers });
        // The plaintext ends only after its tag verified; on failure the response is cut off
        // (no final chunk), so the client sees an error instead of a complete-looking file.
        completed.catch(() => res.destroy());
        body.on('error', () => res.destroy());
        // A client that went away leaves the body unread: release what it holds.
        res.once('close', () => {
          if (!body.readableEnded) body.destroy();
        });
        body.pipe(res);
        return;
      }
      writeResponse(req, res, response.status, response.headers, response.body);
    } catch (error) {
      const appError =
        error instanceof AppError
          ? error
          : new AppError('VALIDATION_ERROR', 'The request could not be read.', { cause: error });
      const response = errorResponse(appError);
      writeResponse(req, res, response.status, response.headers, response.body);
    }
  });
  limitIdleConnections(server, config, () => {
    const response = errorResponse(
      new AppError(
        'REQUEST_TIMEOUT',
        `No byte of the request body arrived for ${config.bodyIdleTimeoutMs / 1000} s; the connection is closed.`,
      ),
    );
    return { headers: { ...SECURITY_HEADERS, ...response.headers }, body: String(response.body) };
  });

  await new Promise<void>((resolveListen, reject) => {
    server.once('error', reject);
    server.listen(config.port, config.host, () => resolveListen());
  });
  const address = server.address() as AddressInfo;
  hostAllowed = hostChecker({ host: config.host, port: address.port }, config.allowedHosts);
  const url = `http://${config.host.includes(':') ? `[${config.host}]` : config.host}:${address.port}`;

  let timer: NodeJS.Timeout | undefined;
  const scheduleScan = () => {
    timer = setTimeout(
      async () => {
        try {
          await runExpiryScan(deps);
        } catch (error) {
          logger.error('scheduled expiry scan failed', { error: String(error) });
        }
        scheduleScan();
      },
      msUntilNextScan(new Date(), config.scanHourUtc),
    );
    timer.unref();
  };
  scheduleScan();

  return {
    server,
    url,
    deps,
    events,
    tokenSecret,
    async close() {
      if (timer) clearTimeout(timer);
      await new Promise<void>((r) => server.close(() => r()));
      server.closeAllConnections();
      await events.idle();
      repo.close();
    },
  };
}
