/**
 * The local runtime: one process serving the v1 API over node:http with SQLite metadata, the
 * encrypted file keystore, an in-process event queue and a daily expiry-scan timer.
 */
import { randomUUID } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { chmod, mkdir, stat } from 'node:fs/promises';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { extname, join, normalize, resolve, sep } from 'node:path';
import type { DomainEvent } from '../../shared/domain/types';
import { AppError } from '../../shared/errors';
import {
  type ApiRequest,
  bearerToken,
  collectQuery,
  createApiHandler,
  errorResponse,
} from '../../shared/http/api-handler';
import { corsMethods, corsResponseHeaders, isPreflight, preflightHeaders } from '../../shared/http/cors';
import { buildOpenApiDocument } from '../../shared/http/openapi';
import { REQUEST_ID_HEADER, requestIdOf } from '../../shared/http/request-id';
import { routes } from '../../shared/http/routes';
import { jsonLogger } from '../../shared/logging';
import type { Logger } from '../../shared/ports';
import { abandonIvrAssignment, applyIvrAssignment } from '../../shared/usecases/assignments';
import type { CoreDeps } from '../../shared/usecases/deps';
import { runExpiryScan } from '../../shared/usecases/expiry-scan';
import { sweepOrphanKeys } from '../../shared/usecases/orphan-keys';
import {
  HTTP_SERVER_OPTIONS,
  hostChecker,
  limitIdleConnections,
  lingerOnPendingBody,
} from '../common/http-server';
import {
  cachedLocalTokenVerifier,
  isLocalTokenShape,
  loadOrCreateTokenSecret,
  mintLocalToken,
} from '../common/local-tokens';
import { oidcAuthenticator } from '../common/oidc-tokens';
import { msUntilNextScan } from '../common/schedule';
import { VERSION } from '../common/version';
import { webContentSecurityPolicy } from '../common/web-csp';
import type { LocalConfig } from './config';
import { InProcessEventQueue } from './event-queue';
import { FileKeystore, loadOrCreateMasterKey } from './file-keystore';
import { NoticeDeliveryLoop } from './notice-loop';
import { SqliteCertificateRepository } from './sqlite-repository';

/** The admin page calls only this server (same origin), so no other connect source. */
const PAGE_CSP = webContentSecurityPolicy([]);

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
    escrow: repo,
    events,
    clock: { now: () => new Date() },
    ids: { newId: randomUUID },
    logger,
    config: {
      flow: config.flow,
      expiryThresholdsDays: config.expiryThresholdsDays,
      defaultIvrProfile: 'record',
    },
    ...(config.webhook ? { noticeOutbox: repo } : {}),
  };
  // Webhook notices: the scan leaves them in the outbox table, this loop delivers them.
  const noticeLoop = config.webhook
    ? new NoticeDeliveryLoop(repo, config.webhook, deps.clock, logger)
    : undefined;
  if (config.webhook) logger.info('webhook notices enabled', { url: new URL(config.webhook.url).origin });
  events.subscribe(
    'IvrAssignmentRequested',
    (event: DomainEvent) => applyIvrAssignment(deps, event),
    (event, reason) => abandonIvrAssignment(deps, event, reason),
  );

  // Before any request (one process owns a data directory), so no upload is in flight.
  await sweepOrphanKeys(deps, { minAgeMs: 0 });

  const oidc = config.oidc ? oidcAuthenticator(config.oidc) : undefined;
  const localTokens = cachedLocalTokenVerifier(tokenSecret);
  let openApi: unknown;
  const handle = createApiHandler({
    deps,
    routes,
    version: VERSION,
    authenticate: async (request: ApiRequest) => {
      const token = bearerToken(request.headers);
      if (!token)
        throw new AppError(
          'UNAUTHORIZED',
          'A bearer token is required (Authorization: Bearer <token>; npx reccert token).',
        );
      // Each verifier takes only its own algorithms (HS256 with the local secret; asymmetric with
      // the provider's JWKS), so choosing by the unverified header cannot mix them up.
      if (oidc && !isLocalTokenShape(token)) return oidc(request);
      return localTokens.verify(token);
    },
    streamResponses: true,
    openApiDocument: () => {
      openApi ??= buildOpenApiDocument(VERSION);
      return openApi;
    },
  });

  const webRoot = resolve(config.webDir);

  async function serveStatic(
    req: IncomingMessage,
    res: ServerResponse,
    pathname: string,
    extraHeaders: Record<string, string>,
  ): Promise<boolean> {
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
      'content-security-policy': PAGE_CSP,
      ...SECURITY_HEADERS,
      ...extraHeaders,
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
  const methods = corsMethods(routes);
  const server = createServer(HTTP_SERVER_OPTIONS, async (req, res) => {
    const headers: Record<string, string | undefined> = {};
    for (const [k, v] of Object.entries(req.headers)) headers[k] = Array.isArray(v) ? v.join(', ') : v;
    const requestId = requestIdOf(headers);
    // Every answer of this request carries its id, and its CORS headers once the Host is known good.
    const idOnly = { [REQUEST_ID_HEADER]: requestId };
    const extra = { ...corsResponseHeaders(config.corsOrigins, headers.origin), ...idOnly };
    try {
      if (!hostAllowed(req.headers.host)) {
        const response = errorResponse(
          new AppError(
            'MISDIRECTED_REQUEST',
            'This server answers only requests whose Host is its own address or localhost, on its port; add another name to RECCERT_ALLOWED_HOSTS to serve it.',
          ),
        );
        writeResponse(req, res, response.status, { ...response.headers, ...idOnly }, response.body);
        return;
      }
      const url = new URL(req.url ?? '/', 'http://localhost');
      // A preflight carries no token and no body: answered here, before any route or limit.
      if (
        config.corsOrigins.length > 0 &&
        url.pathname.startsWith('/v1/') &&
        isPreflight(req.method ?? '', headers)
      ) {
        writeResponse(
          req,
          res,
          204,
          { ...preflightHeaders(config.corsOrigins, headers.origin, methods), ...idOnly },
          '',
        );
        return;
      }
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
            { 'content-type': 'application/json', 'cache-control': 'no-store', ...idOnly },
            JSON.stringify({ token, tenant: config.devTenant, flow: config.flow }),
          );
          return;
        }
        if (await serveStatic(req, res, url.pathname, idOnly)) return;
      }
      // The first value of a repeated parameter, as API Gateway and Functions give it; names are
      // the caller's, so the object has no prototype.
      const query: Record<string, string> = Object.create(null);
      for (const [k, v] of url.searchParams) if (!(k in query)) query[k] = v;
      const response = await handle({
        method: req.method ?? 'GET',
        path: url.pathname,
        query,
        queryAll: collectQuery(url.searchParams),
        headers,
        bodyStream: req,
        requestId,
      });
      if (response.stream) {
        const { body, completed } = response.stream;
        if (res.headersSent || res.destroyed) {
          body.destroy();
          return;
        }
        res.writeHead(response.status, { ...SECURITY_HEADERS, ...response.headers, ...extra });
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
      writeResponse(req, res, response.status, { ...response.headers, ...extra }, response.body);
    } catch (error) {
      const appError =
        error instanceof AppError
          ? error
          : new AppError('VALIDATION_ERROR', 'The request could not be read.', { cause: error });
      const response = errorResponse(appError);
      writeResponse(req, res, response.status, { ...response.headers, ...extra }, response.body);
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
          noticeLoop?.kick();
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
  noticeLoop?.start();

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
      await noticeLoop?.stop();
      repo.close();
    },
  };
}
