/**
 * What every reccert Lambda function shares: configuration read once per cold start, the parts
 * of `CoreDeps` that need no AWS client, and the translation between API Gateway HTTP API
 * (payload format 2.0) events and the runtime-neutral ApiRequest/ApiResponse.
 *
 * No AWS SDK client is imported here (types only): each handler file constructs just the clients
 * its function uses, so a function never loads a client its role may not call. Nor is anything
 * of the HTTP API (routes, schemas): that is functions/aws/http.ts, which the functions behind
 * API Gateway import and the assignment consumer does not.
 */
import { randomUUID } from 'node:crypto';
import type {
  APIGatewayEventRequestContextJWTAuthorizer,
  APIGatewayEventRequestContextV2,
  APIGatewayProxyEventV2WithRequestContext,
  APIGatewayProxyStructuredResultV2,
  Context,
} from 'aws-lambda';
import { parseExpiryThresholds } from '../../shared/domain/expiry';
import { jsonLogger, type LogLevel } from '../../shared/logging';
import type { EventPublisher, KeyCustody, Logger } from '../../shared/ports';
import type { CoreDeps } from '../../shared/usecases/deps';

/** An HTTP API payload 2.0 event; `authorizer` is there only on routes behind the JWT authorizer. */
export type HttpApiEvent = APIGatewayProxyEventV2WithRequestContext<
  APIGatewayEventRequestContextV2 & { authorizer?: Partial<APIGatewayEventRequestContextJWTAuthorizer> }
>;
export type HttpApiResult = APIGatewayProxyStructuredResultV2;
/** What a handler reads of the Lambda context: the invocation's id, for the log lines. */
export type LambdaContext = Pick<Context, 'awsRequestId'>;
export type HttpApiHandler = (event: HttpApiEvent, context?: LambdaContext) => Promise<HttpApiResult>;

/** A required setting from the function's environment (set by the CDK stack). */
export function requireEnv(name: string, env: NodeJS.ProcessEnv = process.env): string {
  const value = env[name];
  if (value === undefined || value === '') {
    // A deployment bug: the message names the variable only, never a value.
    throw new Error(`reccert: the environment variable ${name} is not set for this function.`);
  }
  return value;
}

/** A port this function's role cannot use: calling it is a wiring bug (logged, answered 503). */
function notInThisFunction<T extends object>(port: string, fn: string): T {
  return new Proxy({} as T, {
    get: (_target, method) => () =>
      Promise.reject(new Error(`reccert: ${port}.${String(method)} is not available in the ${fn} function.`)),
  });
}

/** The AWS parts of a function's deps; the rest (clock, ids, logger, config) is common. */
export interface AwsParts {
  repo: CoreDeps['repo'];
  escrow?: CoreDeps['escrow'];
  custody?: KeyCustody;
  events?: EventPublisher;
  notificationSink?: CoreDeps['notificationSink'];
}

/**
 * Completes a function's deps. Ports the function has no permission for are stubs that fail
 * loudly, so a use case that reaches one shows up as a wiring bug rather than an AccessDenied.
 */
export function coreDeps(
  fn: string,
  parts: AwsParts,
  env: NodeJS.ProcessEnv = process.env,
  logger: Logger = jsonLogger((env.LOG_LEVEL as LogLevel | undefined) ?? 'info', undefined, { fn }),
): CoreDeps {
  return {
    repo: parts.repo,
    ...(parts.escrow ? { escrow: parts.escrow } : {}),
    custody: parts.custody ?? notInThisFunction<KeyCustody>('custody', fn),
    events: parts.events ?? notInThisFunction<EventPublisher>('events', fn),
    clock: { now: () => new Date() },
    ids: { newId: randomUUID },
    logger,
    // The AWS deployment plays the AWS-hosted upload flow (DESIGN section 2).
    config: {
      flow: 'aws',
      expiryThresholdsDays: parseExpiryThresholds(env.RECCERT_EXPIRY_THRESHOLDS),
      defaultIvrProfile: 'record',
    },
    ...(parts.notificationSink ? { notificationSink: parts.notificationSink } : {}),
  };
}
