/**
 * The AWS deployment of reccert (DESIGN sections 2, 5, 7), composed of its parts
 * (infra/aws/constructs/): key custody (KMS + S3), metadata (DynamoDB), events (EventBridge, SQS,
 * SNS, the Scheduler schedule of the expiry scan), the Lambda functions with each one's IAM, and
 * the HTTP API with its JWT authorizer.
 *
 * The parts group resources for the reader only: logical ids stay those of the flat stack they
 * were written in first, so an update never replaces a deployed table, bucket or key
 * (logical-ids.ts).
 */
import { type CfnElement, CfnOutput, CfnParameter, Stack, type StackProps } from 'aws-cdk-lib';
import type { NodejsFunction } from 'aws-cdk-lib/aws-lambda-nodejs';
import type { Construct } from 'constructs';
import { Api } from './constructs/api';
import { Custody } from './constructs/custody';
import { Events } from './constructs/events';
import { FUNCTION_NAMES, type FunctionName, Functions } from './constructs/functions';
import { Metadata } from './constructs/metadata';
import { RecordingBatch } from './constructs/recording-batch';
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
   * The bucket the tenant's recordings live in: when given, the recording-batch function and the
   * S3 Batch Operations job role that rewrap and verify them there (`-c recordingsBucket=...`).
   */
  recordingsBucketName?: string;
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
      description: 'Issuer (iss) of the access tokens, e.g. https://login.example.com/ (must be HTTPS).',
      allowedPattern: '^https://.+',
    });
    const audience = new CfnParameter(this, 'JwtAudience', {
      type: 'String',
      description: 'Audience (aud) the access tokens must carry.',
      minLength: 1,
    });

    const custody = new Custody(this, 'Custody');
    const metadata = new Metadata(this, 'Metadata');
    const events = new Events(this, 'Events');
    const functions = new Functions(this, 'Functions', {
      custody,
      metadata,
      events,
      handlersDir: props.handlersDir,
    });
    this.functions = functions.byName;
    events.scheduleExpiryScan(functions.byName['expiry-scan'], scanHourUtc);
    if (props.notificationEmail !== undefined) {
      if (!/^[^@\s]+@[^@\s]+\.[^@\s]+$/.test(props.notificationEmail)) {
        throw new Error(
          `reccert: notificationEmail must be an e-mail address, not ${JSON.stringify(props.notificationEmail)}.`,
        );
      }
      events.subscribeEmail(props.notificationEmail);
    }
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
      jwtIssuer: issuer.valueAsString,
      jwtAudience: audience.valueAsString,
      ...(props.corsOrigins ? { corsOrigins: props.corsOrigins } : {}),
    });

    new CfnOutput(this, 'ApiUrl', { value: api.httpApi.apiEndpoint });
    new CfnOutput(this, 'TableName', { value: metadata.table.tableName });
    new CfnOutput(this, 'KeyBucketName', { value: custody.keyBucket.bucketName });
    new CfnOutput(this, 'EventBusName', { value: events.bus.eventBusName });
    new CfnOutput(this, 'ExpiryTopicArn', { value: events.topic.topicArn });
    new CfnOutput(this, 'AssignmentDeadLetterAlarmName', { value: events.deadLetterAlarm.alarmName });
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
