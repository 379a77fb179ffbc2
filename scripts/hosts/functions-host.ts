/**
 * The Functions host's HTTP side as `npm run start:azure` plays it in front of the REAL exported
 * HTTP handler (functions/azure/handlers/http.ts): node:http request -> `HttpRequest` -> the
 * handler -> `HttpResponseInit` -> response, routed as the host routes the app's registrations
 * (host.json's routePrefix is "", so paths are /v1/... as on the other runtimes), with the host's
 * limits and its own bare answers (413, 404 for no registration, 500), and the Function App's
 * CORS setting (`siteConfig.cors.allowedOrigins`, from `RECCERT_CORS_ORIGINS` as the Bicep takes
 * it): the host answers preflights itself, before any function, and adds
 * `Access-Control-Allow-Origin` to the responses of an allowed origin.
 */
import { randomUUID } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { HttpRequest, HttpResponse, type HttpResponseInit, InvocationContext } from '@azure/functions';
import { type HttpRegistration, handleHttp, httpRegistrations } from '../../functions/azure/handlers/http';
import { type HttpLimits, lingerOnPendingBody } from '../../functions/common/http-server';
import { errorResponse } from '../../shared/http/api-handler';
import {
  type CorsOrigins,
  corsMethods,
  isPreflight,
  originAllowed,
  preflightHeaders,
} from '../../shared/http/cors';
import { compilePathTemplate } from '../../shared/http/path-template';
import { routes } from '../../shared/http/routes';
import type { Logger } from '../../shared/ports';
import { declaresMoreThan, type LoopbackHost, receiveBody, startLoopbackHost } from './loopback-host';

/** The Functions host refuses request bodies over 100 MB (its default maxRequestBodySize). */
const MAX_HOST_BODY = 100 * 1024 * 1024;
/** A registration as the host's router sees it. */
interface HostRoute {
  registration: HttpRegistration;
  pattern: RegExp;
  names: string[];
  catchAll: boolean;
}

function hostRoute(registration: HttpRegistration): HostRoute {
  return {
    registration,
    // The host's router ignores case and a trailing slash.
    ...compilePathTemplate(`/${registration.route}`, { ignoreCase: true }),
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

/**
 * Writes a function's `HttpResponseInit` the way the host does (through `HttpResponse`), with the
 * origin CORS headers the host's CORS setting adds (exposed headers are the app's own).
 */
export async function writeResponse(
  res: ServerResponse,
  init: HttpResponseInit,
  cors: CorsOrigins = [],
): Promise<void> {
  const response = new HttpResponse(init);
  const body = Buffer.from(await response.arrayBuffer());
  const headers: Record<string, string> = {};
  response.headers.forEach((value, name) => {
    headers[name] = value;
  });
  const origin = res.req.headers.origin;
  if (cors.length > 0) {
    headers.vary = headers.vary ? `${headers.vary}, Origin` : 'Origin';
    if (originAllowed(cors, origin)) headers['access-control-allow-origin'] = origin;
  }
  // A 408 of the idle limit, or a connection already gone, leaves nothing to answer.
  if (res.headersSent || res.destroyed) return;
  res.writeHead(response.status, { ...headers, 'content-length': String(body.length) });
  // A body still on its way (an answer of the host itself) is dropped for a moment, then closed.
  lingerOnPendingBody(res.req);
  res.end(body);
}

/** Starts the host's HTTP side on 127.0.0.1:`port`. */
export function startFunctionsHost(options: {
  port: number;
  limits: HttpLimits;
  logger: Logger;
}): Promise<LoopbackHost> {
  const cors = options.limits.corsOrigins;
  const methods = corsMethods(routes);
  return startLoopbackHost({
    ...options,
    misdirected: async (_req, res, error) => {
      const refused = errorResponse(error);
      await writeResponse(res, {
        status: refused.status,
        headers: refused.headers,
        body: String(refused.body),
      });
    },
    serve: async (req, res) => {
      const url = new URL(req.url ?? '/', 'http://127.0.0.1');
      const method = (req.method ?? 'GET').toUpperCase();
      if (cors.length > 0 && isPreflight(method, req.headers as Record<string, string | undefined>)) {
        res.writeHead(204, { ...preflightHeaders(cors, req.headers.origin, methods), 'content-length': '0' });
        lingerOnPendingBody(req);
        res.end();
        return;
      }
      const refuseTooLarge = () => {
        if (res.headersSent || res.destroyed) return;
        res.writeHead(413, { 'content-length': '0', connection: 'close' });
        res.end();
      };
      if (declaresMoreThan(req, MAX_HOST_BODY)) {
        refuseTooLarge();
        return;
      }
      const body = await receiveBody(req, res, MAX_HOST_BODY, refuseTooLarge);
      if (body === undefined) return;
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
      await writeResponse(res, await handleHttp(functionsRequest(req, url, body, hit.params), context), cors);
    },
    // A function that throws is a 500 from the host, without detail.
    internalError: (res) => {
      res.writeHead(500, { 'content-length': '0', connection: 'close' });
      res.end();
    },
    timeoutBody: () => ({ headers: {}, body: '' }),
  });
}
