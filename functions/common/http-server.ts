/**
 * What every loopback HTTP server of the project applies (DESIGN section 9): the local runtime's
 * server and the cloud runtimes' host emulators (scripts/hosts/). Header and request time
 * limits, the Host check against DNS rebinding, the body-idle limit and the linger after an
 * early answer, and the two settings that tune them.
 */
import type { IncomingMessage, Server, ServerOptions, ServerResponse } from 'node:http';
import type { Socket } from 'node:net';
import { type CorsOrigins, parseCorsOrigins } from '../../shared/http/cors';

/** The limits every local HTTP server of the project applies (DESIGN section 9). */
export interface HttpLimits {
  allowedHosts: string[];
  bodyIdleTimeoutMs: number;
  /** `RECCERT_CORS_ORIGINS`: the origins served by CORS (empty: no CORS headers at all). */
  corsOrigins: CorsOrigins;
}

/** A setting that is missing or malformed: its message names it and says what it must be. */
export class ConfigError extends Error {}

/** An integer setting from `min` to `max`, or `fallback` when unset. */
export function intSetting(
  name: string,
  value: string | undefined,
  fallback: number,
  min: number,
  max: number,
): number {
  if (value === undefined || value === '') return fallback;
  const n = Number(value);
  if (!Number.isInteger(n) || n < min || n > max)
    throw new ConfigError(`${name} must be an integer from ${min} to ${max}.`);
  return n;
}

/** `RECCERT_CORS_ORIGINS`: comma-separated exact origins; a wildcard is refused with the reason. */
export function readCorsOrigins(env: NodeJS.ProcessEnv = process.env): CorsOrigins {
  const parsed = parseCorsOrigins(env.RECCERT_CORS_ORIGINS);
  if ('refused' in parsed) throw new ConfigError(`RECCERT_CORS_ORIGINS: ${parsed.refused}`);
  return parsed.origins;
}

/**
 * `RECCERT_ALLOWED_HOSTS` (comma-separated names, each optionally with `:port`),
 * `RECCERT_BODY_IDLE_TIMEOUT_MS` (default 30000) and `RECCERT_CORS_ORIGINS`, shared by the local
 * runtime and the dev servers of the cloud runtimes (scripts/hosts/, which answer CORS as API
 * Gateway and the Functions host do).
 */
export function readHttpLimits(env: NodeJS.ProcessEnv = process.env): HttpLimits {
  const allowedHosts = (env.RECCERT_ALLOWED_HOSTS ?? '')
    .split(',')
    .map((h) => h.trim().toLowerCase())
    .filter(Boolean);
  for (const host of allowedHosts) {
    if (!/^(\[[0-9a-f:.]+\]|[a-z0-9.-]+)(:\d{1,5})?$/.test(host)) {
      throw new ConfigError(
        `RECCERT_ALLOWED_HOSTS: '${host}' is not a host name (name or name:port, IPv6 in brackets).`,
      );
    }
  }
  return {
    allowedHosts,
    bodyIdleTimeoutMs: intSetting(
      'RECCERT_BODY_IDLE_TIMEOUT_MS',
      env.RECCERT_BODY_IDLE_TIMEOUT_MS,
      30_000,
      100,
      3_600_000,
    ),
    corsOrigins: readCorsOrigins(env),
  };
}

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
  // An idle keep-alive connection is closed after 30 s, not Node's 5 s: a client whose event loop
  // was busy for a few seconds (key generation, a large file) would otherwise send its next
  // request on a connection the server had just closed and see EPIPE. Idle connections cost a
  // socket each; new ones still have 10 s to send their headers.
  keepAliveTimeout: 30_000,
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
