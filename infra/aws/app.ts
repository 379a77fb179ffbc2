/**
 * The CDK app (`cdk.json`: `npx tsx infra/aws/app.ts`). `npx cdk synth` works offline; deploy
 * with `npx cdk deploy` (or `--parameters JwtIssuer=https://... --parameters JwtAudience=...` for
 * another identity provider than the stack's Cognito user pool), and
 * `-c scanHourUtc=4` to run the daily expiry scan at another hour than 02:00 UTC, and
 * `-c corsOrigins=https://admin.example.com` (comma-separated exact origins, as
 * `RECCERT_CORS_ORIGINS`) for the admin page hosted on another origin, and
 * `-c notificationEmail=ops@example.com` to subscribe an address to the expiry notices, and
 * `-c operationsEmail=oncall@example.com` to the operations alarms, and
 * `-c adminPageUrls=https://admin.example.com/` (the admin page's addresses, for its Cognito app
 * client) and `-c authDomainPrefix=` (the Cognito sign-in domain). Without JwtIssuer the API
 * trusts the stack's Cognito user pool. The webhook of the notices is a parameter
 * (`--parameters WebhookUrl=https://... --parameters WebhookSigningKeyName=...`), and
 * `-c recordingsBucket=my-recordings` for the S3 Batch Operations rewrap/verify function over
 * that bucket (docs/aws.md).
 * AwsSolutions (cdk-nag) checks run on every synth; a finding that is not acknowledged in code
 * fails it.
 */
import { App, Validations } from 'aws-cdk-lib';
import { AwsSolutionsChecks } from 'cdk-nag';
import { parseCorsOrigins } from '../../shared/http/cors';
import { ReccertStack } from './reccert-stack';

/** Builds the app with its stack and the cdk-nag checks; tests call this too. */
export function buildApp(options: { outdir?: string; context?: Record<string, unknown> } = {}): {
  app: App;
  stack: ReccertStack;
} {
  const app = new App({
    ...(options.outdir === undefined ? {} : { outdir: options.outdir }),
    // Server access logs are delivered through a bucket policy, not ACLs (the log bucket keeps
    // ObjectOwnership BucketOwnerEnforced, so ACLs stay disabled).
    context: { '@aws-cdk/aws-s3:serverAccessLogsUseBucketPolicy': true, ...options.context },
  });
  // From the command line a context value is a string.
  const scanHour: unknown = app.node.tryGetContext('scanHourUtc');
  const cors = parseCorsOrigins(contextList(app.node.tryGetContext('corsOrigins')));
  if ('refused' in cors) throw new Error(`reccert: corsOrigins: ${cors.refused}`);
  const stack = new ReccertStack(app, 'Reccert', {
    description: 'reccert: recording certificates and keys (AWS flow)',
    ...(scanHour === undefined ? {} : { scanHourUtc: Number(scanHour) }),
    corsOrigins: cors.origins,
    ...emailOf(app, 'notificationEmail'),
    ...emailOf(app, 'operationsEmail'),
    ...signInOf(app),
    ...recordingsBucketOf(app),
  });
  Validations.of(app).addPlugins(new AwsSolutionsChecks(app));
  return { app, stack };
}

/** A list context value: a comma-separated string from the command line, or an array from cdk.json. */
function contextList(value: unknown): string | undefined {
  if (value === undefined || value === null) return undefined;
  return Array.isArray(value) ? value.map(String).join(',') : String(value);
}

/** An e-mail context (`notificationEmail`, `operationsEmail`), if given (empty subscribes nobody). */
function emailOf<K extends 'notificationEmail' | 'operationsEmail'>(
  app: App,
  name: K,
): { [P in K]?: string } {
  const value: unknown = app.node.tryGetContext(name);
  return typeof value === 'string' && value.trim() !== ''
    ? ({ [name]: value.trim() } as { [P in K]?: string })
    : {};
}

/** The `adminPageUrls` (comma-separated) and `authDomainPrefix` contexts, if given. */
function signInOf(app: App): { adminPageUrls?: string[]; authDomainPrefix?: string } {
  const urls = contextList(app.node.tryGetContext('adminPageUrls'))
    ?.split(',')
    .map((u) => u.trim())
    .filter((u) => u !== '');
  const prefix: unknown = app.node.tryGetContext('authDomainPrefix');
  return {
    ...(urls && urls.length > 0 ? { adminPageUrls: urls } : {}),
    ...(typeof prefix === 'string' && prefix.trim() !== '' ? { authDomainPrefix: prefix.trim() } : {}),
  };
}

/** The `recordingsBucket` context, if given. */
function recordingsBucketOf(app: App): { recordingsBucketName?: string } {
  const value: unknown = app.node.tryGetContext('recordingsBucket');
  return typeof value === 'string' && value.trim() !== '' ? { recordingsBucketName: value.trim() } : {};
}

if (require.main === module) {
  buildApp().app.synth();
}
