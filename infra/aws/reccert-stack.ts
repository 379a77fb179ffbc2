/**
 * The AWS deployment of reccert (DESIGN sections 2, 5, 7), composed of its parts
 * (infra/aws/constructs/): key custody (KMS + S3), metadata (DynamoDB), events (EventBridge, SQS,
 * SNS, the Scheduler schedule of the expiry scan), the Lambda functions with each one's IAM, the
 * Cognito user pool of the admin page, and the HTTP API with its JWT authorizer.
 *
 * The parts group resources for the reader only: logical ids stay those of the flat stack they
 * were written in first, so an update never replaces a deployed table, bucket or key
 * (logical-ids.ts).
 */
import {
  CfnCondition,
  type CfnElement,
  CfnOutput,
  CfnParameter,
  CfnRule,
  Fn,
  Stack,
  type StackProps,
} from 'aws-cdk-lib';
import type { NodejsFunction } from 'aws-cdk-lib/aws-lambda-nodejs';
import type { Construct } from 'constructs';
import { Api } from './constructs/api';
import { Custody } from './constructs/custody';
import { Events } from './constructs/events';
import { FUNCTION_NAMES, type FunctionName, Functions } from './constructs/functions';
import { Hosting } from './constructs/hosting';
import { defaultDomainPrefix, Identity } from './constructs/identity';
import { Metadata } from './constructs/metadata';
import { Operations } from './constructs/operations';
import { RecordingBatch } from './constructs/recording-batch';
import { WebhookParameters } from './constructs/webhook';
import { flatLogicalId } from './logical-ids';

export { FUNCTION_NAMES, type FunctionName };

/** Hour (UTC) of the daily expiry scan unless configured: the same on every runtime (DESIGN 5). */
export const DEFAULT_SCAN_HOUR_UTC = 2;

/** Options for {@link ReccertStack}. */
export interface ReccertStackProps extends StackProps {
  /** Folder of the handler entry files; default `functions/aws/handlers` in this repository. */
  handlersDir?: string;
  /** Hour (UTC, 0-23) of the daily expiry scan; default {@link DEFAULT_SCAN_HOUR_UTC}. */
  scanHourUtc?: number;
  /**
   * Origins whose pages may call the API (the API's `corsConfiguration`): exact origins, the list
   * `RECCERT_CORS_ORIGINS` takes (`-c corsOrigins=https://admin.example.com,...`); none: no CORS.
   */
  corsOrigins?: readonly string[];
  /** An e-mail address subscribed to the expiry notification topic (none if unset). */
  notificationEmail?: string;
  /**
   * The admin page's addresses, the callback and sign-out URLs of its Cognito app client
   * (`-c adminPageUrls=https://admin.example.com/`); default http://localhost:8080/.
   */
  adminPageUrls?: readonly string[];
  /** The Cognito domain prefix of the sign-in pages (`-c authDomainPrefix=`); default reccert-<account>. */
  authDomainPrefix?: string;
  /** An e-mail address subscribed to the operations (alarm) topic (none if unset). */
  operationsEmail?: string;
  /**
   * The bucket the tenant's recordings live in: when given, the recording-batch function and the
   * S3 Batch Operations job role that rewrap and verify them there (`-c recordingsBucket=...`).
   */
  recordingsBucketName?: string;
}

/** `value` if it is an e-mail address; else the synth stops, naming the setting. */
function emailAddress(setting: string, value: string): string {
  if (!/^[^@\s]+@[^@\s]+\.[^@\s]+$/.test(value)) {
    throw new Error(`reccert: ${setting} must be an e-mail address, not ${JSON.stringify(value)}.`);
  }
  return value;
}

/** The whole AWS deployment of reccert in one stack. */
export class ReccertStack extends Stack {
  /** The functions by group, for tests and outputs. */
  readonly functions: Record<FunctionName, NodejsFunction>;
  /** The batch function and job role, when a recordings bucket is configured. */
  readonly recordingBatch: RecordingBatch | undefined;

  constructor(scope: Construct, id: string, props: ReccertStackProps = {}) {
    super(scope, id, props);
    const scanHourUtc = props.scanHourUtc ?? DEFAULT_SCAN_HOUR_UTC;
    if (!Number.isInteger(scanHourUtc) || scanHourUtc < 0 || scanHourUtc > 23) {
      throw new Error(`reccert: scanHourUtc must be a whole hour from 0 to 23 (UTC), not ${scanHourUtc}.`);
    }

    const issuer = new CfnParameter(this, 'JwtIssuer', {
      type: 'String',
      description:
        "Issuer (iss) of the access tokens, e.g. https://login.example.com/ (must be HTTPS); empty: the stack's Cognito user pool.",
      allowedPattern: '^(https://.+)?$',
      default: '',
    });
    const audience = new CfnParameter(this, 'JwtAudience', {
      type: 'String',
      description:
        "Audience (aud) the access tokens must carry (with JwtIssuer); empty: the admin page's app client.",
      default: '',
    });

    const custody = new Custody(this, 'Custody');
    const metadata = new Metadata(this, 'Metadata');
    const events = new Events(this, 'Events');
    const webhook = new WebhookParameters(this, 'Webhook');
    const functions = new Functions(this, 'Functions', {
      custody,
      metadata,
      events,
      webhook,
      handlersDir: props.handlersDir,
    });
    this.functions = functions.byName;
    events.scheduleExpiryScan(functions.byName['expiry-scan'], scanHourUtc);
    events.scheduleWebhookDelivery(functions.byName['webhook-delivery'], webhook.enabled);
    if (props.notificationEmail !== undefined) {
      events.subscribeEmail(emailAddress('notificationEmail', props.notificationEmail));
    }
    const identity = new Identity(this, 'Identity', {
      pageUrls: props.adminPageUrls ?? ['http://localhost:8080/'],
      domainPrefix: props.authDomainPrefix ?? defaultDomainPrefix(this),
      handlersDir: props.handlersDir,
    });
    // The authorizer trusts the user pool unless the deployer names another issuer.
    const ownIssuer = new CfnCondition(this, 'OwnJwtIssuer', {
      expression: Fn.conditionNot(Fn.conditionEquals(issuer.valueAsString, '')),
    });
    new CfnRule(this, 'JwtAudienceWithIssuer', {
      ruleCondition: ownIssuer.expression,
      assertions: [
        {
          assert: Fn.conditionNot(Fn.conditionEquals(audience.valueAsString, '')),
          assertDescription: 'JwtAudience is required with JwtIssuer.',
        },
      ],
    });
    this.recordingBatch =
      props.recordingsBucketName === undefined
        ? undefined
        : new RecordingBatch(this, 'RecordingBatch', {
            functions,
            custody,
            metadata,
            recordingsBucketName: props.recordingsBucketName,
            handlersDir: props.handlersDir,
          });
    const api = new Api(this, 'Api', {
      functions: functions.byName,
      jwtIssuer: Fn.conditionIf(ownIssuer.logicalId, issuer.valueAsString, identity.issuer).toString(),
      // Cognito access tokens carry no aud: API Gateway checks their client_id against the audience.
      jwtAudience: Fn.conditionIf(
        ownIssuer.logicalId,
        audience.valueAsString,
        identity.client.userPoolClientId,
      ).toString(),
      ...(props.corsOrigins ? { corsOrigins: props.corsOrigins } : {}),
    });

    const operations = new Operations(this, 'Operations', {
      functions: functions.byName,
      httpApi: api.httpApi,
      existingAlarms: [events.deadLetterAlarm],
      messagingKey: events.messagingKey,
      email:
        props.operationsEmail === undefined
          ? undefined
          : emailAddress('operationsEmail', props.operationsEmail),
    });

    // The token issuer the API trusts: the deployer's, or the stack's user pool.
    const effectiveIssuer = Fn.conditionIf(
      ownIssuer.logicalId,
      issuer.valueAsString,
      identity.issuer,
    ).toString();
    const hosting = new Hosting(this, 'Hosting', {
      // The page calls the API, the issuer's origin (discovery, JWKS) and Cognito's domain (its
      // token and logout endpoints live there, not at the issuer).
      connectSources: [
        api.httpApi.apiEndpoint,
        `https://${Fn.select(2, Fn.split('/', effectiveIssuer))}`,
        identity.domainUrl,
      ],
      // Signed in through the stack's user pool; a deployer with their own issuer edits auth.
      config: {
        apiBaseUrl: api.httpApi.apiEndpoint,
        auth: {
          mode: 'oidc',
          issuer: identity.issuer,
          clientId: identity.client.userPoolClientId,
          endSessionEndpoint: `${identity.domainUrl}/logout`,
          logoutRedirectParam: 'logout_uri',
          apiToken: 'access_token',
        },
      },
      accessLogs: custody.accessLogs,
    });

    new CfnOutput(this, 'ApiUrl', { value: api.httpApi.apiEndpoint });
    new CfnOutput(this, 'AdminPageUrl', { value: `https://${hosting.distribution.distributionDomainName}` });
    new CfnOutput(this, 'TableName', { value: metadata.table.tableName });
    new CfnOutput(this, 'KeyBucketName', { value: custody.keyBucket.bucketName });
    new CfnOutput(this, 'EventBusName', { value: events.bus.eventBusName });
    new CfnOutput(this, 'ExpiryTopicArn', { value: events.topic.topicArn });
    new CfnOutput(this, 'AssignmentDeadLetterAlarmName', { value: events.deadLetterAlarm.alarmName });
    // For the admin page's config.js (auth.issuer, auth.clientId, auth.endSessionEndpoint).
    new CfnOutput(this, 'UserPoolId', { value: identity.userPool.userPoolId });
    new CfnOutput(this, 'AuthIssuer', { value: identity.issuer });
    new CfnOutput(this, 'AdminPageClientId', { value: identity.client.userPoolClientId });
    new CfnOutput(this, 'AuthDomainUrl', { value: identity.domainUrl });
    new CfnOutput(this, 'OperationsTopicArn', { value: operations.topic.topicArn });
    new CfnOutput(this, 'DashboardName', { value: operations.dashboard.dashboardName });
    if (this.recordingBatch) {
      new CfnOutput(this, 'RecordingBatchFunctionArn', { value: this.recordingBatch.fn.functionArn });
      new CfnOutput(this, 'RecordingBatchJobRoleArn', { value: this.recordingBatch.jobRole.roleArn });
    }
  }

  /** Logical ids as in the flat stack, whatever part a resource is grouped in (logical-ids.ts). */
  protected override allocateLogicalId(element: CfnElement): string {
    return flatLogicalId(element);
  }
}
