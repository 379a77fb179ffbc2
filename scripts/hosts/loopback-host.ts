/**
 * What the two host emulators (API Gateway for `npm run start:aws`, the Functions host for
 * `npm run start:azure`) share: a node:http server on 127.0.0.1 with the limits every loopback
 * server of the project applies (functions/common/http-server.ts: header and request time limits,
 * the Host check against DNS rebinding, the body-idle limit), a body read up to the emulated
 * service's limit, a 500 without detail when a function throws, and the process plumbing of a
 * dev server (an emulator child that must not outlive it, stop on SIGTERM/SIGINT). Each host
 * writes its own answers (its 421, 408 and 500 bodies are those of the service it plays).
 */
import type { IncomingMessage, Server, ServerResponse } from 'node:http';
import { createServer } from 'node:http';
import { resolve } from 'node:path';
import {
  HTTP_SERVER_OPTIONS,
  type HttpLimits,
  hostChecker,
  limitIdleConnections,
} from '../../functions/common/http-server';
import { AppError } from '../../shared/errors';
import { jsonLogger, type LogLevel } from '../../shared/logging';
import type { Logger } from '../../shared/ports';

/** A host emulator's parts the shared server cannot know. */
export interface LoopbackHostOptions {
  port: number;
  limits: HttpLimits;
  logger: Logger;
  /** Answers a request that names a foreign Host (the 421 of DESIGN section 9). */
  misdirected(req: IncomingMessage, res: ServerResponse, error: AppError): void | Promise<void>;
  /** Serves a request whose Host is allowed. */
  serve(req: IncomingMessage, res: ServerResponse): Promise<void>;
  /** The emulated service's 500 when a function throws (nothing was answered yet). */
  internalError(res: ServerResponse): void;
  /** The emulated service's 408 body for a request body that stalls. */
  timeoutBody(): { headers: Record<string, string>; body: string };
}

/** A listening host emulator. */
export interface LoopbackHost {
  server: Server;
  url: string;
  close(): void;
}

/** Starts the server on 127.0.0.1:`port` (0: a free port); resolves once it listens. */
export async function startLoopbackHost(options: LoopbackHostOptions): Promise<LoopbackHost> {
  let hostAllowed: (host: string | undefined) => boolean = () => false;
  const server = createServer(HTTP_SERVER_OPTIONS, (req, res) => {
    void (async () => {
      if (!hostAllowed(req.headers.host)) {
        await options.misdirected(
          req,
          res,
          new AppError(
            'MISDIRECTED_REQUEST',
            'This server answers only requests for 127.0.0.1 or localhost on its port (or RECCERT_ALLOWED_HOSTS).',
          ),
        );
        return;
      }
      await options.serve(req, res);
    })().catch((error: unknown) => {
      // A function that throws is a 500 from the emulated service, without detail.
      options.logger.error('function invocation failed', {
        error: error instanceof Error ? error.message : String(error),
      });
      if (!res.headersSent) options.internalError(res);
      else res.destroy();
    });
  });
  limitIdleConnections(server, options.limits, options.timeoutBody);

  await new Promise<void>((ready, fail) => {
    server.once('error', fail);
    server.listen(options.port, '127.0.0.1', () => ready());
  });
  const address = server.address();
  const port = typeof address === 'object' && address ? address.port : options.port;
  hostAllowed = hostChecker({ host: '127.0.0.1', port }, options.limits.allowedHosts);
  return {
    server,
    url: `http://127.0.0.1:${port}`,
    close() {
      server.close();
      server.closeAllConnections();
    },
  };
}

/** Whether the request declares a body larger than `max` bytes (refused before reading it). */
export function declaresMoreThan(req: IncomingMessage, max: number): boolean {
  return Number(req.headers['content-length'] ?? 0) > max;
}

/**
 * The whole request body, or undefined when it was answered instead: `tooLarge` is called as soon
 * as it passes `max` bytes, and a connection that went away (or that the idle limit answered
 * 408 and closed) is dropped.
 */
export async function receiveBody(
  req: IncomingMessage,
  res: ServerResponse,
  max: number,
  tooLarge: () => void,
): Promise<Buffer | undefined> {
  let body: Buffer | 'too-large';
  try {
    body = await readBodyUpTo(req, max);
  } catch {
    res.destroy();
    return undefined;
  }
  if (body === 'too-large') {
    tooLarge();
    return undefined;
  }
  return body;
}

async function readBodyUpTo(req: IncomingMessage, max: number): Promise<Buffer | 'too-large'> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req as AsyncIterable<Buffer>) {
    size += chunk.length;
    if (size > max) return 'too-large';
    chunks.push(chunk);
  }
  return Buffer.concat(chunks);
}

/** The settings every dev server reads: its logger, `PORT` and `DATA_DIR`. */
export function devServerSettings(
  runtime: 'aws' | 'azure',
  defaultDataDir: string,
): { logger: Logger; port: number; dataDir: string } {
  const logger = jsonLogger((process.env.LOG_LEVEL as LogLevel | undefined) ?? 'info', undefined, {
    runtime,
  });
  const port = Number(process.env.PORT ?? 8080);
  if (!Number.isInteger(port) || port < 0 || port > 65535) throw new Error('PORT must be a port number.');
  return { logger, port, dataDir: resolve(process.env.DATA_DIR ?? defaultDataDir) };
}

/** Whatever ends this process, the emulator it started (`pid`) must not outlive it. */
export function killOnExit(pid: number | undefined): void {
  process.once('exit', () => {
    if (pid !== undefined) {
      try {
        process.kill(pid, 'SIGTERM');
      } catch {
        // already gone
      }
    }
  });
}

/** Runs `stop` once on SIGTERM or SIGINT, then exits. */
export function stopOnSignals(logger: Logger, stop: () => Promise<void>): void {
  let stopping = false;
  const onSignal = async (signal: string) => {
    if (stopping) return;
    stopping = true;
    logger.info('stopping', { signal });
    await stop();
    process.exit(0);
  };
  process.once('SIGTERM', () => void onSignal('SIGTERM'));
  process.once('SIGINT', () => void onSignal('SIGINT'));
}

/** Runs a dev server's `main`, printing why it could not start. */
export function runDevServer(name: string, main: () => Promise<void>): void {
  main().catch((error: unknown) => {
    process.stderr.write(
      `reccert (${name} runtime) failed to start: ${error instanceof Error ? error.stack : String(error)}\n`,
    );
    process.exit(1);
  });
}
