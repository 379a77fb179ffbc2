/** The local runtime's settings, read once from the environment at start-up. */
import { resolve } from 'node:path';
import { DEFAULT_THRESHOLDS_DAYS } from '../../shared/domain/expiry';
import type { UploadFlow } from '../../shared/domain/types';
import type { LogLevel } from '../../shared/logging';

export interface LocalConfig {
  host: string;
  port: number;
  dataDir: string;
  flow: UploadFlow;
  masterKey: string | undefined;
  expiryThresholdsDays: number[];
  /** POSTs each expiry notification as JSON here when set. */
  webhookUrl: string | undefined;
  /** Serve GET /dev/token with an admin+decrypt token for `devTenant` (for the admin page). */
  devToken: boolean;
  devTenant: string;
  /** Hour (UTC) of the daily expiry scan. */
  scanHourUtc: number;
  logLevel: LogLevel;
  webDir: string;
  /** Host header names answered besides the server's own address and localhost (DNS rebinding). */
  allowedHosts: string[];
  /** A request body that sends no byte for this long is answered 408 and its connection closed. */
  bodyIdleTimeoutMs: number;
}

/** The limits every local HTTP server of the project applies (DESIGN section 9). */
export interface HttpLimits {
  allowedHosts: string[];
  bodyIdleTimeoutMs: number;
}

export class ConfigError extends Error {}

function int(name: string, value: string | undefined, fallback: number, min: number, max: number): number {
  if (value === undefined || value === '') return fallback;
  const n = Number(value);
  if (!Number.isInteger(n) || n < min || n > max)
    throw new ConfigError(`${name} must be an integer from ${min} to ${max}.`);
  return n;
}

/**
 * `RECCERT_ALLOWED_HOSTS` (comma-separated names, each optionally with `:port`) and
 * `RECCERT_BODY_IDLE_TIMEOUT_MS` (default 30000), shared by the local runtime and the dev servers
 * of the cloud runtimes (scripts/start-aws.ts, scripts/start-azure.ts).
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
    bodyIdleTimeoutMs: int(
      'RECCERT_BODY_IDLE_TIMEOUT_MS',
      env.RECCERT_BODY_IDLE_TIMEOUT_MS,
      30_000,
      100,
      3_600_000,
    ),
  };
}

export function readLocalConfig(env: NodeJS.ProcessEnv = process.env): LocalConfig {
  const flow = (env.RECCERT_FLOW ?? 'aws').toLowerCase();
  if (flow !== 'aws' && flow !== 'azure') throw new ConfigError('RECCERT_FLOW must be aws or azure.');
  const thresholds = env.RECCERT_EXPIRY_THRESHOLDS
    ? env.RECCERT_EXPIRY_THRESHOLDS.split(',').map((s) => Number(s.trim()))
    : [...DEFAULT_THRESHOLDS_DAYS];
  if (thresholds.some((t) => !Number.isInteger(t) || t <= 0 || t > 3650)) {
    throw new ConfigError(
      'RECCERT_EXPIRY_THRESHOLDS must be comma-separated whole days, e.g. 90,60,30,14,7,1.',
    );
  }
  const level = (env.LOG_LEVEL ?? 'info') as LogLevel;
  if (!['debug', 'info', 'warn', 'error', 'silent'].includes(level)) {
    throw new ConfigError('LOG_LEVEL must be debug, info, warn, error or silent.');
  }
  return {
    host: env.HOST ?? '127.0.0.1',
    port: int('PORT', env.PORT, 8080, 0, 65535),
    dataDir: resolve(env.DATA_DIR ?? './.reccert-data'),
    flow,
    masterKey: env.RECCERT_MASTER_KEY || undefined,
    expiryThresholdsDays: thresholds,
    webhookUrl: env.RECCERT_WEBHOOK_URL || undefined,
    devToken: env.RECCERT_DEV_TOKEN === '1' || env.RECCERT_DEV_TOKEN === 'true',
    devTenant: env.RECCERT_DEV_TENANT ?? 'demo',
    scanHourUtc: int('RECCERT_SCAN_HOUR_UTC', env.RECCERT_SCAN_HOUR_UTC, 2, 0, 23),
    logLevel: level,
    webDir: resolve(env.RECCERT_WEB_DIR ?? resolve(__dirname, '../../web')),
    ...readHttpLimits(env),
  };
}
