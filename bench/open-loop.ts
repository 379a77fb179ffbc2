/**
 * An open-loop load at a constant offered rate, as wrk2 does it: request i is due at
 * start + i / rate whatever the server does, and its latency is measured from that due time, so
 * a server that falls behind is charged for the queue it builds (no coordinated omission).
 *
 * Why not autocannon's `overallRate`: it lets each connection send back to back until its share
 * of the second is used up and then waits for the next second, so 1,000 req/s arrives as a burst
 * in the first ~300 ms of each second (measured: p99 289 ms against a bare node:http server at
 * 100 connections), and its coordinated-omission correction uses `1 / rate` (seconds) as the
 * interval in milliseconds. Debian has wrk but not wrk2.
 */
import { Agent, request } from 'node:http';
import { performance } from 'node:perf_hooks';

/** One request of the load: the path and headers of request number `i`. */
export type NextRequest = (i: number) => { path: string; headers: Record<string, string> };

export interface OpenLoopOptions {
  /** Origin, e.g. http://127.0.0.1:8080. */
  url: string;
  /** Offered requests per second. */
  rate: number;
  /** Seconds measured (after the warm-up). */
  seconds: number;
  /** Seconds at the same rate before measuring, not counted (JIT, sockets). */
  warmupSeconds?: number;
  /** Most connections open at once; a due request with none free waits (and is charged for it). */
  connections: number;
  next: NextRequest;
}

export interface OpenLoopResult {
  offered: number;
  /** Responses completed per second over the measured window (sent during it). */
  achieved: number;
  /** Measured requests sent, and those that got a 2xx. */
  sent: number;
  ok: number;
  non2xx: number;
  errors: number;
  /** Latency from each request's due time to the end of its response, ms. */
  p50: number;
  p90: number;
  p99: number;
  max: number;
  /** Latest a request left the client after its due time, ms (the client's own lag). */
  maxSendLag: number;
}

function quantile(sorted: Float64Array, q: number): number {
  if (sorted.length === 0) return Number.NaN;
  return sorted[Math.min(sorted.length - 1, Math.ceil(q * sorted.length) - 1)] ?? Number.NaN;
}

/** Runs the load and resolves once every request sent has been answered or failed. */
export function openLoop(options: OpenLoopOptions): Promise<OpenLoopResult> {
  const origin = new URL(options.url);
  const agent = new Agent({ keepAlive: true, maxSockets: options.connections });
  const interval = 1000 / options.rate;
  const warmup = Math.round((options.warmupSeconds ?? 1) * options.rate);
  const total = warmup + Math.round(options.seconds * options.rate);
  const latencies = new Float64Array(total - warmup);
  let ok = 0;
  let non2xx = 0;
  let errors = 0;
  let sent = 0;
  let settled = 0;
  let maxSendLag = 0;
  let firstMeasuredDue = 0;
  let lastMeasuredEnd = 0;

  return new Promise((resolve) => {
    const start = performance.now();
    const finish = () => {
      agent.destroy();
      const measured = latencies.slice(0, ok).sort();
      const window = (lastMeasuredEnd - firstMeasuredDue) / 1000;
      resolve({
        offered: options.rate,
        achieved: window > 0 ? ok / window : 0,
        sent: total - warmup,
        ok,
        non2xx,
        errors,
        p50: quantile(measured, 0.5),
        p90: quantile(measured, 0.9),
        p99: quantile(measured, 0.99),
        max: quantile(measured, 1),
        maxSendLag,
      });
    };
    const send = (i: number, due: number) => {
      const { path, headers } = options.next(i);
      const measuredOne = i >= warmup;
      if (i === warmup) firstMeasuredDue = due;
      let settledOne = false;
      const settle = (status: number | undefined) => {
        // A request that fails after its response began may report both; count it once.
        if (settledOne) return;
        settledOne = true;
        const end = performance.now();
        if (measuredOne) {
          if (status === undefined) errors++;
          else if (status < 200 || status > 299) non2xx++;
          else latencies[ok++] = end - due;
          lastMeasuredEnd = Math.max(lastMeasuredEnd, end);
        }
        if (++settled === total) finish();
      };
      const req = request(
        { agent, host: origin.hostname, port: origin.port, method: 'GET', path, headers },
        (res) => {
          res.resume();
          res.once('end', () => settle(res.statusCode));
          res.once('error', () => settle(undefined));
        },
      );
      req.once('error', () => settle(undefined));
      req.end();
    };
    const tick = () => {
      const now = performance.now();
      while (sent < total) {
        const due = start + sent * interval;
        if (due > now) break;
        if (sent >= warmup) maxSendLag = Math.max(maxSendLag, now - due);
        send(sent, due);
        sent++;
      }
      // Timers fire at best every ~1 ms: requests due in between go out together at the next
      // tick, each still timed from its own due time.
      if (sent < total) setTimeout(tick, Math.max(0, start + sent * interval - performance.now()));
    };
    tick();
  });
}
