/**
 * The Lambda functions, grouped by the permissions they need, and the IAM of each (DESIGN
 * section 7: each Lambda only the IAM it needs).
 *
 * Every IAM statement is written out by hand (no `grantReadWriteData`-style grants) so that each
 * function's role allows exactly the calls its adapters make; test/infra/aws-stack.test.ts pins
 * them down.
 */
import path from 'node:path';
import { Aws, Duration, RemovalPolicy, Stack, Validations } from 'aws-cdk-lib';
import { Effect, PolicyStatement, Role, ServicePrincipal } from 'aws-cdk-lib/aws-iam';
import {
  Architecture,
  LoggingFormat,
  ParamsAndSecretsLayerVersion,
  ParamsAndSecretsVersions,
  Runtime,
  Tracing,
} from 'aws-cdk-lib/aws-lambda';
import { type BundlingOptions, NodejsFunction, OutputFormat } from 'aws-cdk-lib/aws-lambda-nodejs';
import { LogGroup, RetentionDays } from 'aws-cdk-lib/aws-logs';
import type { CfnBucket } from 'aws-cdk-lib/aws-s3';
import type { Construct } from 'constructs';
import { EXTERNAL_MODULES, esbuildOptions, LAMBDA_ENTRIES } from '../bundling';
import { flatUniqueId, StackPart } from '../logical-ids';
import type { Custody } from './custody';
import type { Events } from './events';
import { DUE_INDEX, type Metadata } from './metadata';
import type { WebhookParameters } from './webhook';

/** The function groups; each has its own role (DESIGN section 7: only the IAM it needs). */
export const FUNCTION_NAMES = [
  'read',
  'write',
  'decrypt',
  'assignment-consumer',
  'expiry-scan',
  'webhook-delivery',
] as const;
export type FunctionName = (typeof FUNCTION_NAMES)[number];

/** What the functions reach. */
export interface FunctionsProps {
  custody: Custody;
  metadata: Metadata;
  events: Events;
  /** The webhook of the expiry notices (its URL and the secret's name). */
  webhook: WebhookParameters;
  /** Folder of the handler entry files; default `functions/aws/handlers` in this repository. */
  handlersDir?: string | undefined;
}

/** The functions, each with its own role, log group and grants. */
export class Functions extends StackPart {
  /** The functions by group. */
  readonly byName: Record<FunctionName, NodejsFunction>;

  constructor(scope: Construct, id: string, props: FunctionsProps) {
    super(scope, id);
    const { custody, metadata, events, webhook, handlersDir } = props;
    const { keystoreKey, keyBucket } = custody;
    const { table } = metadata;
    const { bus, topic, messagingKey, assignments } = events;

    const env = {
      TABLE_NAME: table.tableName,
      DUE_INDEX_NAME: DUE_INDEX,
      BUCKET_NAME: keyBucket.bucketName,
      KMS_KEY_ID: keystoreKey.keyArn,
      EVENT_BUS_NAME: bus.eventBusName,
      TOPIC_ARN: topic.topicArn,
      RECCERT_WEBHOOK_URL: webhook.url,
      // The secret's name, not its value: the delivery function reads the value at cold start.
      RECCERT_WEBHOOK_SECRET_ID: webhook.secretName,
    };
    const pick = (...names: (keyof typeof env)[]) => Object.fromEntries(names.map((n) => [n, env[n]]));
    const make = (
      name: FunctionName,
      environment: Record<string, string>,
      timeout: Duration,
      secrets?: ParamsAndSecretsLayerVersion,
    ) => this.lambda(name, handlersDir, environment, timeout, secrets);

    const fns: Record<FunctionName, NodejsFunction> = {
      read: make('read', pick('TABLE_NAME'), Duration.seconds(10)),
      write: make(
        'write',
        pick('TABLE_NAME', 'BUCKET_NAME', 'KMS_KEY_ID', 'EVENT_BUS_NAME'),
        Duration.seconds(15),
      ),
      decrypt: make('decrypt', pick('TABLE_NAME', 'BUCKET_NAME', 'KMS_KEY_ID'), Duration.seconds(30)),
      'assignment-consumer': make(
        'assignment-consumer',
        pick('TABLE_NAME', 'EVENT_BUS_NAME'),
        Duration.seconds(30),
      ),
      'expiry-scan': make(
        'expiry-scan',
        pick(
          'TABLE_NAME',
          'DUE_INDEX_NAME',
          'EVENT_BUS_NAME',
          'TOPIC_ARN',
          'BUCKET_NAME',
          'KMS_KEY_ID',
          'RECCERT_WEBHOOK_URL',
        ),
        Duration.minutes(5),
      ),
      // Runs every minute; a pass gives each due delivery one attempt of at most 10 s.
      'webhook-delivery': make(
        'webhook-delivery',
        pick('TABLE_NAME', 'DUE_INDEX_NAME', 'RECCERT_WEBHOOK_URL', 'RECCERT_WEBHOOK_SECRET_ID'),
        Duration.seconds(55),
        // The Parameters and Secrets extension serves the secret on localhost (no SDK client).
        ParamsAndSecretsLayerVersion.fromVersion(ParamsAndSecretsVersions.V1_0_103),
      ),
    };
    this.byName = fns;

    // --- least privilege per function -----------------------------------------------------------
    const tableArn = table.tableArn;
    const indexArn = metadata.dueIndexArn();
    const keyObjectsArn = custody.keyObjectsArn();
    const allow = (fn: FunctionName, statement: PolicyStatement) => fns[fn].addToRolePolicy(statement);
    const dynamo = (actions: string[], resources = [tableArn]) =>
      new PolicyStatement({ effect: Effect.ALLOW, actions: actions.map((a) => `dynamodb:${a}`), resources });
    const putEvents = new PolicyStatement({ actions: ['events:PutEvents'], resources: [bus.eventBusArn] });
    // The IAM5 finding on key objects names the bucket by its logical id.
    const keyObjectsFinding = `AwsSolutions-IAM5[Resource::<${Stack.of(this).getLogicalId(keyBucket.node.defaultChild as CfnBucket)}.Arn>/tenants/*/keys/*]`;

    // read: consistent reads of the table, nothing else.
    allow('read', dynamo(['GetItem', 'Query']));

    // write: metadata writes (conditional puts, the delete transaction), its own key objects,
    // data keys bound to a tenant and certificate, and domain events.
    allow('write', dynamo(['GetItem', 'Query', 'PutItem', 'UpdateItem', 'DeleteItem', 'ConditionCheckItem']));
    allow(
      'write',
      new PolicyStatement({ actions: ['s3:PutObject', 's3:DeleteObject'], resources: [keyObjectsArn] }),
    );
    allow('write', boundDataKeys('kms:GenerateDataKey', keystoreKey.keyArn));
    allow('write', sseKmsThroughS3('kms:GenerateDataKey', keystoreKey.keyArn, keyBucket.bucketArn));
    // The upload-time custody check (shared/usecases/certificates.ts, proveCustodyUnwraps) reads
    // the key object it has just written and opens it through the key store before the upload
    // is accepted: s3:GetObject on key objects, kms:Decrypt of data keys under the same
    // {tenantId, certificateId} context, and the SSE-KMS decrypt S3 makes on its behalf.
    allow('write', new PolicyStatement({ actions: ['s3:GetObject'], resources: [keyObjectsArn] }));
    allow('write', boundDataKeys('kms:Decrypt', keystoreKey.keyArn));
    allow('write', sseKmsThroughS3('kms:Decrypt', keystoreKey.keyArn, keyBucket.bucketArn));
    allow('write', putEvents);
    // AwsSolutions-IAM5: one key object per upload under the caller's tenant prefix (written, read
    // back once by the custody check, deleted on rollback); the tenant id is known only per
    // request, so the grant covers the key prefix of every tenant and no other object (tenant
    // isolation is enforced in code and by the KMS encryption context).
    Validations.of(fns.write.role as Role).acknowledge({
      id: keyObjectsFinding,
      reason:
        'Key objects are created per upload under tenants/<tenant>/keys/; nothing else in the bucket is reachable.',
    });

    // decrypt: reads the certificate, writes the audit entry, opens one sealed key.
    allow('decrypt', dynamo(['GetItem', 'Query', 'PutItem']));
    allow('decrypt', new PolicyStatement({ actions: ['s3:GetObject'], resources: [keyObjectsArn] }));
    allow('decrypt', boundDataKeys('kms:Decrypt', keystoreKey.keyArn));
    allow('decrypt', sseKmsThroughS3('kms:Decrypt', keystoreKey.keyArn, keyBucket.bucketArn));
    // AwsSolutions-IAM5: as for write; reading a key object is useless without kms:Decrypt under
    // the matching {tenantId, certificateId} encryption context.
    Validations.of(fns.decrypt.role as Role).acknowledge({
      id: keyObjectsFinding,
      reason:
        'Sealed key objects of any tenant prefix; each opens only with KMS under its own tenant/certificate context.',
    });

    // assignment consumer: the versioned assignment state, audit, IvrAssignmentApplied events.
    allow('assignment-consumer', dynamo(['GetItem', 'Query', 'PutItem']));
    allow('assignment-consumer', putEvents);
    // What SqsEventSource does (the mapping, then the consume grant), under the construct id it
    // gives the mapping when the queue sits directly in the stack: a new logical id would fail
    // the update, because Lambda refuses a second mapping of the same queue and function
    // (logical-ids.ts).
    fns['assignment-consumer'].addEventSourceMapping(`SqsEventSource:${flatUniqueId(assignments)}`, {
      eventSourceArn: assignments.queueArn,
      batchSize: 10,
      reportBatchItemFailures: true,
    });
    assignments.grantConsumeMessages(fns['assignment-consumer']);

    // expiry scan: the due index, consistent batch reads, notifications and cursors, SNS + events.
    allow('expiry-scan', dynamo(['Query'], [indexArn]));
    allow('expiry-scan', dynamo(['GetItem', 'Query', 'BatchGetItem', 'PutItem', 'UpdateItem']));
    allow('expiry-scan', new PolicyStatement({ actions: ['sns:Publish'], resources: [topic.topicArn] }));
    allow(
      'expiry-scan',
      new PolicyStatement({
        actions: ['kms:GenerateDataKey', 'kms:Decrypt'],
        resources: [messagingKey.keyArn],
        conditions: { StringEquals: { 'kms:ViaService': `sns.${Aws.REGION}.amazonaws.com` } },
      }),
    );
    allow('expiry-scan', putEvents);
    // The daily run also sweeps orphaned key objects (a failed upload or delete can leave one):
    // it lists the key prefix and deletes what no certificate holds. No GetObject, no KMS.
    allow(
      'expiry-scan',
      new PolicyStatement({
        actions: ['s3:ListBucket'],
        resources: [keyBucket.bucketArn],
        conditions: { StringLike: { 's3:prefix': ['tenants/*'] } },
      }),
    );
    allow('expiry-scan', new PolicyStatement({ actions: ['s3:DeleteObject'], resources: [keyObjectsArn] }));
    // AwsSolutions-IAM5: the sweep deletes orphaned key objects under any tenant prefix.
    Validations.of(fns['expiry-scan'].role as Role).acknowledge({
      id: keyObjectsFinding,
      reason:
        'The orphan-key sweep deletes key objects no certificate holds, under any tenant prefix and nothing else.',
    });
    // With a webhook the scan also leaves each notice in the outbox (a conditional PutItem, above).

    // webhook delivery: claims due outbox items on the due index (Query) and leases, marks or
    // reschedules them (conditional UpdateItem); reads its signing secret, nothing else.
    allow('webhook-delivery', dynamo(['Query'], [indexArn]));
    allow('webhook-delivery', dynamo(['UpdateItem']));
    allow(
      'webhook-delivery',
      new PolicyStatement({
        actions: ['secretsmanager:GetSecretValue'],
        resources: [webhook.secretArnPattern()],
      }),
    );
  }

  /**
   * One function: its own role and log group, arm64, Node.js 22, X-Ray, minified bundle. Other
   * parts of the stack (the recording-batch function) make theirs with it too.
   */
  lambda(
    name: string,
    handlersDir: string | undefined,
    environment: Record<string, string>,
    timeout: Duration,
    paramsAndSecrets?: ParamsAndSecretsLayerVersion,
  ): NodejsFunction {
    const id = pascal(name);
    const logGroup = new LogGroup(this, `${id}Logs`, {
      retention: RetentionDays.THREE_MONTHS,
      removalPolicy: RemovalPolicy.RETAIN,
    });
    // A role without managed policies: logging is granted on this function's log group only.
    const role = new Role(this, `${id}Role`, {
      assumedBy: new ServicePrincipal('lambda.amazonaws.com'),
      description: `reccert ${name} function`,
    });
    role.addToPolicy(
      new PolicyStatement({
        actions: ['logs:CreateLogStream', 'logs:PutLogEvents'],
        resources: [logGroup.logGroupArn],
      }),
    );
    const entry = LAMBDA_ENTRIES.find((e) => e.name === name)?.entry;
    if (entry === undefined) throw new Error(`reccert: no bundling entry for the ${name} function.`);
    const fn = new NodejsFunction(this, `${id}Function`, {
      entry:
        handlersDir === undefined
          ? path.resolve(__dirname, '..', '..', '..', entry)
          : path.join(handlersDir, path.basename(entry)),
      handler: 'handler',
      runtime: Runtime.NODEJS_22_X,
      architecture: Architecture.ARM_64,
      // Decryption is CPU-bound, and a batch function's network share grows with its memory.
      memorySize: name === 'decrypt' || name === 'recording-batch' ? 1024 : 512,
      timeout,
      tracing: Tracing.ACTIVE,
      role,
      logGroup,
      loggingFormat: LoggingFormat.JSON,
      environment: { ...environment, NODE_OPTIONS: '--enable-source-maps' },
      ...(paramsAndSecrets ? { paramsAndSecrets } : {}),
      bundling: lambdaBundling(),
    });
    // AwsSolutions-IAM5: X-Ray's PutTraceSegments/PutTelemetryRecords have no resource-level
    // permissions, so CDK's tracing grant must use Resource '*'.
    Validations.of(role).acknowledge({
      id: 'AwsSolutions-IAM5[Resource::*]',
      reason: 'X-Ray PutTraceSegments and PutTelemetryRecords support only Resource "*".',
    });
    // AwsSolutions-L1: the design fixes Node.js 20 or 22 (the version the code is tested on).
    Validations.of(fn).acknowledge({
      id: 'AwsSolutions-L1',
      reason: 'Node.js 22 is the newest runtime the code is tested on (DESIGN: Node.js 20 or 22).',
    });
    return fn;
  }
}

/**
 * The `bundling` of every function: the same options the cold-start benchmark builds with
 * (infra/aws/bundling.ts). The AWS SDK is external (taken from the Lambda runtime); why, and how
 * the key store's create-only write stays create-only with whatever SDK version the runtime has,
 * is in bundling.ts.
 */
export function lambdaBundling(): BundlingOptions {
  const esbuild = esbuildOptions();
  return {
    minify: esbuild.minify === true,
    sourceMap: true,
    target: String(esbuild.target),
    format: OutputFormat.CJS,
    externalModules: [...EXTERNAL_MODULES],
    define: { ...esbuild.define },
    forceDockerBundling: false,
  };
}

/**
 * A data-key operation on the keystore key allowed only when the encryption context is exactly
 * {tenantId, certificateId} (both present, no other key): a data key is usable only for the
 * tenant and certificate it was made for.
 */
export function boundDataKeys(action: string, keyArn: string): PolicyStatement {
  return new PolicyStatement({
    actions: [action],
    resources: [keyArn],
    conditions: {
      'ForAllValues:StringEquals': { 'kms:EncryptionContextKeys': ['tenantId', 'certificateId'] },
      Null: { 'kms:EncryptionContext:tenantId': 'false', 'kms:EncryptionContext:certificateId': 'false' },
    },
  });
}

/**
 * SSE-KMS of the key bucket: S3 calls KMS on the function's behalf with the bucket ARN as
 * context (S3 Bucket Key), so this grant is usable only through S3 for this bucket.
 */
export function sseKmsThroughS3(action: string, keyArn: string, bucketArn: string): PolicyStatement {
  return new PolicyStatement({
    actions: [action],
    resources: [keyArn],
    conditions: {
      StringEquals: {
        'kms:ViaService': `s3.${Aws.REGION}.amazonaws.com`,
        'kms:EncryptionContext:aws:s3:arn': bucketArn,
      },
    },
  });
}

/** `assignment-consumer` -> `AssignmentConsumer` (construct ids). */
export function pascal(name: string): string {
  return name
    .split('-')
    .map((part) => part.charAt(0).toUpperCase() + part.slice(1))
    .join('');
}
