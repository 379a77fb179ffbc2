/**
 * The attacker's side of the security checks: one runtime process (started as a user would, by
 * test/contract/harness.ts), a raw HTTP client that records every byte it was answered (for the
 * leak scan) and survives cut-off responses, raw sockets for truncated, aborted and stalled
 * bodies, health probes with their latency, and tokens with any claims the runtime's secret can sign.
 */
import { randomUUID } from 'node:crypto';
import { Agent, request as httpRequest, type IncomingHttpHeaders } from 'node:http';
import { connect, type Socket } from 'node:net';
import { SignJWT } from 'jose';
import { LOCAL_AUDIENCE, LOCAL_ISSUER, loadOrCreateTokenSecret } from '../../functions/common/local-tokens';
import type { Role } from '../../shared/domain/types';
import type { AnyRoute } from '../../shared/http/routes';
import { type Harness, type RuntimeSpec, startRuntime } from '../contract/harness';

/** A runtime under test and whether checks that only the local server promises apply to it. */
export interface SecurityRuntime extends RuntimeSpec {
  /** The local server: Host check, body idle limit, file modes, streamed bodies. */
  local: boolean;
}

/** An answer as the raw client saw it. */
export interface Reply {
  /** 0 when no response arrived (connection refused, reset before a status line). */
  status: number;
  headers: IncomingHttpHeaders;
  body: Buffer;
  // biome-ignore lint/suspicious/noExplicitAny: JSON bodies are checked field by field
  json: any;
  /** Whether the response ended normally (false: cut off mid-body). */
  complete: boolean;
  error?: string;
  ms: number;
}

export interface RequestOptions {
  headers?: Record<string, string>;
  body?: Buffer | string;
  token?: string;
  contentType?: string;
  timeoutMs?: number;
}

/** The idle limit the local runtime gets in these tests (the DESIGN default is 30 s). */
export const BODY_IDLE_MS = 1_500;
/** DESIGN section 9: health answers within this while a limit's worth of work runs. */
export const HEALTH_BUDGET_MS = 1_000;

const agent = new Agent({ keepAlive: true, maxSockets: 16 });

/** One runtime process and what the checks need to talk to it. */
export class Target {
  /** Every response body received (the leak scan reads them all). */
  readonly received: Buffer[] = [];
  /** Times the process had died and was restarted, with the check that was running. */
  readonly deaths: string[] = [];
  private secret: Buffer | undefined;

  private constructor(
    readonly runtime: SecurityRuntime,
    readonly h: Harness,
  ) {}

  static async start(runtime: SecurityRuntime): Promise<Target> {
    return new Target(runtime, await startRuntime(runtime));
  }

  get name(): string {
    return this.runtime.name;
  }

  get baseUrl(): string {
    return this.h.baseUrl;
  }

  get port(): number {
    return Number(new URL(this.h.baseUrl).port);
  }

  /** One HTTP request; never throws (a failed connection is status 0). */
  request(method: string, path: string, options: RequestOptions = {}): Promise<Reply> {
    const started = Date.now();
    const headers: Record<string, string> = { ...(options.headers ?? {}) };
    if (options.token) headers.authorization = `Bearer ${options.token}`;
    if (options.contentType) headers['content-type'] = options.contentType;
    const body = options.body === undefined ? undefined : Buffer.from(options.body);
    if (body) headers['content-length'] = String(body.length);
    const url = new URL(path, this.baseUrl);
    return new Promise((resolve) => {
      let settled = false;
      const done = (reply: Omit<Reply, 'ms' | 'json'>) => {
        if (settled) return;
        settled = true;
        if (reply.body.length > 0) this.received.push(reply.body);
        let json: unknown;
        try {
          json = reply.body.length > 0 ? JSON.parse(reply.body.toString('utf8')) : undefined;
        } catch {
          json = undefined;
        }
        resolve({ ...reply, json, ms: Date.now() - started });
      };
      const req = httpRequest(
        { host: url.hostname, port: url.port, path: url.pathname + url.search, method, headers, agent },
        (res) => {
          const chunks: Buffer[] = [];
          res.on('data', (c: Buffer) => chunks.push(c));
          res.on('end', () =>
            done({
              status: res.statusCode ?? 0,
              headers: res.headers,
              body: Buffer.concat(chunks),
              complete: true,
            }),
          );
          res.on('error', (error) =>
            done({
              status: res.statusCode ?? 0,
              headers: res.headers,
              body: Buffer.concat(chunks),
              complete: false,
              error: error.message,
            }),
          );
          res.on('close', () =>
            done({
              status: res.statusCode ?? 0,
              headers: res.headers,
              body: Buffer.concat(chunks),
              complete: res.complete,
            }),
          );
        },
      );
      req.setTimeout(options.timeoutMs ?? 60_000, () => req.destroy(new Error('client timeout')));
      req.on('error', (error) =>
        done({ status: 0, headers: {}, body: Buffer.alloc(0), complete: false, error: error.message }),
      );
      req.end(body);
    });
  }

  /** GET /v1/health on a fresh connection; its latency in ms, or Infinity when it did not answer 200. */
  async health(timeoutMs = 10_000): Promise<number> {
    const started = Date.now();
    const url = new URL('/v1/health', this.baseUrl);
    const ok = await new Promise<boolean>((resolve) => {
      const req = httpRequest(
        { host: url.hostname, port: url.port, path: url.pathname, method: 'GET', agent: false },
        (res) => {
          res.resume();
          res.on('end', () => resolve(res.statusCode === 200));
          res.on('error', () => resolve(false));
        },
      );
      req.setTimeout(timeoutMs, () => req.destroy(new Error('timeout')));
      req.on('error', () => resolve(false));
      req.end();
    });
    return ok ? Date.now() - started : Number.POSITIVE_INFINITY;
  }

  /** Runs `work` while probing health every 100 ms; the slowest probe's latency. */
  async probed<T>(work: () => Promise<T>): Promise<{ result: T; slowestHealthMs: number; probes: number }> {
    let running = true;
    let slowest = 0;
    let probes = 0;
    const prober = (async () => {
      while (running) {
        const ms = await this.health(5_000);
        probes++;
        slowest = Math.max(slowest, ms);
        await new Promise((r) => setTimeout(r, 100));
      }
    })();
    try {
      const result = await work();
      return { result, slowestHealthMs: slowest, probes };
    } finally {
      running = false;
      await prober;
    }
  }

  /** Restarts the process if a previous check killed it (that check already failed); records it. */
  async ensureUp(during: string): Promise<void> {
    if (Number.isFinite(await this.health(5_000))) return;
    this.deaths.push(during);
    await this.h.restart();
  }

  private tokenSecret(): Buffer {
    this.secret ??= loadOrCreateTokenSecret(this.h.dataDir);
    return this.secret;
  }

  /** A valid token for `tenants` with `roles`. */
  token(tenants: string[], roles: Role[], subject = `sec-${randomUUID().slice(0, 8)}`): Promise<string> {
    return this.h.token({ tenants, roles, subject });
  }

  /**
   * A token signed with the runtime's own secret carrying exactly `claims` (iss and aud added);
   * `exp`/`iat`/`nbf` only where given (null leaves one out).
   */
  async signed(claims: Record<string, unknown>): Promise<string> {
    const body = { iss: LOCAL_ISSUER, aud: LOCAL_AUDIENCE, ...claims };
    for (const [k, v] of Object.entries(body)) if (v === null) delete (body as Record<string, unknown>)[k];
    return new SignJWT(body).setProtectedHeader({ alg: 'HS256', typ: 'JWT' }).sign(this.tokenSecret());
  }

  /** Everything the process logged. */
  output(): string {
    return this.h.output();
  }

  stop(): Promise<void> {
    return this.h.stop();
  }

  /** A raw connection to the runtime (for bodies that stop or break off). */
  socket(): Promise<Socket> {
    return new Promise((resolve, reject) => {
      const s = connect({ host: '127.0.0.1', port: this.port }, () => resolve(s));
      s.once('error', reject);
    });
  }
}

/** What a raw socket saw: the bytes it was answered and when the server closed it. */
export interface RawExchange {
  socket: Socket;
  response: () => string;
  closedAt: () => number | undefined;
  closed: Promise<void>;
}

/** Sends a request head and `partial` of a body on a raw socket and keeps listening. */
export async function rawPartial(
  target: Target,
  method: string,
  path: string,
  headers: Record<string, string>,
  partial: Buffer,
): Promise<RawExchange> {
  const socket = await target.socket();
  let response = '';
  let closedAt: number | undefined;
  socket.on('data', (d: Buffer) => {
    response += d.toString('latin1');
  });
  const closed = new Promise<void>((resolve) => {
    socket.once('close', () => {
      closedAt = Date.now();
      resolve();
    });
  });
  socket.on('error', () => undefined);
  const head = [
    `${method} ${path} HTTP/1.1`,
    `Host: 127.0.0.1:${target.port}`,
    ...Object.entries(headers).map(([k, v]) => `${k}: ${v}`),
    '',
    '',
  ].join('\r\n');
  // Resolve only once the bytes reached the kernel, so a hang-up right after loses none of them.
  await new Promise<void>((resolve) =>
    socket.write(Buffer.concat([Buffer.from(head, 'latin1'), partial]), () => resolve()),
  );
  return { socket, response: () => response, closedAt: () => closedAt, closed };
}

/** The path of `route` with `values` for its parameters. */
export function pathOf(route: AnyRoute, values: Record<string, string>): string {
  return route.path.replace(/\{(\w+)\}/g, (_m, name: string) => {
    const value = values[name];
    if (value === undefined) throw new Error(`no value for {${name}} of ${route.operationId}`);
    return encodeURIComponent(value);
  });
}

/** The path parameters of a route template. */
export function paramsOf(route: AnyRoute): string[] {
  return [...route.path.matchAll(/\{(\w+)\}/g)].map((m) => m[1] ?? '');
}

/** The roles that open `route`, and whether its path names a tenant. */
export function accessOf(route: AnyRoute): { roles: Role[]; tenantScoped: boolean } | undefined {
  return route.access === 'public' ? undefined : route.access;
}

/** Polls until `probe` holds or `timeoutMs` passed; returns its last value. */
export async function eventually<T>(
  probe: () => Promise<T>,
  ok: (v: T) => boolean,
  timeoutMs = 15_000,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let last = await probe();
  while (!ok(last) && Date.now() < deadline) {
    await new Promise((r) => setTimeout(r, 100));
    last = await probe();
  }
  return last;
}
