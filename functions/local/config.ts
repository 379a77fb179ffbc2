/** The local runtime's settings, read once from the environment at start-up. */
import { resolve } from 'node:path';
import { parseExpiryThresholds } from '../../shared/domain/expiry';
import type { UploadFlow } from '../../shared/domain/types';
import type { LogLevel } from '../../shared/logging';
import type { WebhookSettings } from '../../shared/webhook';
import { ConfigError, intSetting as int, readHttpLimits } from '../common/http-server';
import { type OidcIssuerConfig, readOidcIssuer } from '../common/oidc-tokens';
import { readWebhookSettings } from '../common/webhook-settings';

export interface LocalConfig {
  host: string;
  port: number;
  dataDir: string;
  flow: UploadFlow;
  masterKey: string | undefined;
  expiryThresholdsDays: number[];
  /** Where expiry notices are delivered, signed, from the outbox (undefined: no webhook). */
  webhook: WebhookSettings | undefined;
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
  /** Origins whose pages may call the API (CORS); empty: no CORS headers. */
  corsOrigins: readonly string[];
  /**
   * An OpenID Connect provider whose tokens are accepted besides the local HS256 ones
   * (`RECCERT_JWT_ISSUER`, `RECCERT_JWT_AUDIENCE`, `RECCERT_JWKS_URI` and the claim names).
   */
  oidc: OidcIssuerConfig | undefined;
}

export function readLocalConfig(env: NodeJS.ProcessEnv = process.env): LocalConfig {
  const flow = (env.RECCERT_FLOW ?? 'aws').toLowerCase();
  if (flow !== 'aws' && flow !== 'azure') throw new ConfigError('RECCERT_FLOW must be aws or azure.');
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
    expiryThresholdsDays: parseExpiryThresholds(env.RECCERT_EXPIRY_THRESHOLDS),
    webhook: readWebhookSettings(env),
    devToken: env.RECCERT_DEV_TOKEN === '1' || env.RECCERT_DEV_TOKEN === 'true',
    devTenant: env.RECCERT_DEV_TENANT ?? 'demo',
    scanHourUtc: int('RECCERT_SCAN_HOUR_UTC', env.RECCERT_SCAN_HOUR_UTC, 2, 0, 23),
    logLevel: level,
    webDir: resolve(env.RECCERT_WEB_DIR ?? resolve(__dirname, '../../web')),
    ...readHttpLimits(env),
    oidc: readOidc(env),
  };
}

function readOidc(env: NodeJS.ProcessEnv): OidcIssuerConfig | undefined {
  try {
    return readOidcIssuer(env);
  } catch (error) {
    throw new ConfigError((error as Error).message);
  }
}
