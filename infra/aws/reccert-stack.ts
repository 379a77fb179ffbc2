/**
 * The AWS deployment of reccert (DESIGN sections 2, 5, 7): an HTTP API with a JWT authorizer in
 * front of Lambda functions grouped by the permissions they need, one DynamoDB table, the S3 +
 * KMS tenant keystore, EventBridge + SQS for assignments, SNS for expiry notifications and a
 * daily EventBridge Scheduler schedule for the expiry scan.
 *
 * Every IAM statement is written out by hand (no `grantReadWriteData`-style grants) so that each
 * function's role allows exactly the calls its adapters make; test/infra/aws-stack.test.ts pins
 * them down.
 */
import path from 'node:path';
import {
  Aws,
  CfnOutput,
  CfnParameter,
  Duration,
  RemovalPolicy,
  Stack,
  type StackProps,
  Validations,
} from 'aws-cdk-lib';
import { AccessLogFormat } from 'aws-cdk-lib/aws-apigateway';
import {
  HttpApi,
  HttpMethod,
  HttpRoute,
  HttpRouteKey,
  HttpStage,
  LogGroupLogDestination,
} from 'aws-cdk-lib/aws-apigatewayv2';
import { HttpJwtAuthorizer } from 'aws-cdk-lib/aws-apigatewayv2-authorizers';
import { HttpLambdaIntegration } from 'aws-cdk-lib/aws-apigatewayv2-integrations';
import { Alarm, ComparisonOperator, TreatMissingData } from 'aws-cdk-lib/aws-cloudwatch';
import { AttributeType, Billing, ProjectionType, TableEncryptionV2, TableV2 } from 'aws-cdk-lib/aws-dynamodb';
import { EventBus, Rule } from 'aws-cdk-lib/aws-events';
import { SqsQueue } from 'aws-cdk-lib/aws-events-targets';
import { Effect, PolicyStatement, Role, ServicePrincipal } from 'aws-cdk-lib/aws-iam';
import { Key } from 'aws-cdk-lib/aws-kms';
import { Architecture, type CfnFunction, LoggingFormat, Runtime, Tracing } from 'aws-cdk-lib/aws-lambda';
import { SqsEventSource } from 'aws-cdk-lib/aws-lambda-event-sources';
import { NodejsFunction, OutputFormat } from 'aws-cdk-lib/aws-lambda-nodejs';
import { LogGroup, RetentionDays } from 'aws-cdk-lib/aws-logs';
import {
  BlockPublicAccess,
  Bucket,
  BucketEncryption,
  type CfnBucket,
  ObjectOwnership,
} from 'aws-cdk-lib/aws-s3';
import { Schedule, ScheduleExpression } from 'aws-cdk-lib/aws-scheduler';
import { LambdaInvoke } from 'aws-cdk-lib/aws-scheduler-targets';
import { Topic } from 'aws-cdk-lib/aws-sns';
import { Queue, QueueEncryption } from 'aws-cdk-lib/aws-sqs';
import type { Construct } from 'constructs';
import { FUNCTION_OF_GROUP, OPENAPI_PATH } from '../../functions/aws/routing';
import { routes } from '../../shared/http/routes';
import { EXTERNAL_MODULES, esbuildOptions, LAMBDA_ENTRIES } from './bundling';

/** The function groups; each has its own role (DESIGN section 7: only the IAM it needs). */
export const FUNCTION_NAMES = ['read', 'write', 'decrypt', 'assignment-consumer', 'expiry-scan'] as const;
export type FunctionName = (typeof FUNCTION_NAMES)[number];

/** The function behind the API's `$default` route (unmatched requests: 404/405 bodies). */
const UNMATCHED_ROUTE_FUNCTION: FunctionName = 'read';

/** Name of the sparse expiry index (functions/aws/adapters/dynamodb-repository.ts). */
const DUE_INDEX = 'due';
/** Key objects live under this prefix per tenant (functions/aws/adapters/kms-s3-keystore.ts). */
const KEY_OBJECTS = 'tenants/*/keys/*';

/**
 * The v1 routes (DESIGN section 4) and the function that serves each: every route of the shared
 * route table, sent to the function of its group (functions/aws/routing.ts, which the handlers
 * and `npm run start:aws` use too), plus the OpenAPI document.
 */
const ROUTES: ReadonlyArray<{ method: HttpMethod; path: string; fn: FunctionName; public?: true }> = [
  ...routes.map((r) => ({
    method: r.method as HttpMethod,
    path: r.path,
    fn: FUNCTION_OF_GROUP[r.group],
    ...(r.access === 'public' ? { public: true as const } : {}),
  })),
  { method: HttpMethod.GET, path: OPENAPI_PATH, fn: 'read', public: true },
];

/** Options for {@link ReccertStack}. */
export interface ReccertStackProps extends StackProps {
  /** Folder of the handler entry files; default `functions/aws/handlers` in this repository. */
  handlersDir?: string;
}

/** The whole AWS deployment of reccert in one stack. */
export class ReccertStack extends Stack {
  /** The functions by group, for tests and outputs. */
  readonly functions: Record<FunctionName, NodejsFunction>;

  constructor(scope: Construct, id: string, props: ReccertStackProps = {}) {
    super(scope, id, props);
    const handlersDir = props.handlersDir;

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

    // --- key custody: one customer-managed key for data keys and SSE-KMS of the key bucket -----
    const keystoreKey = new Key(this, 'KeystoreKey', {
      description: 'reccert: seals tenant private keys (KMS data keys bound to tenant and certificate)',
      enableKeyRotation: true,
      removalPolicy: RemovalPolicy.RETAIN,
    });
    // Notifications and alarms use their own key, so the expiry scan never holds the keystore key.
    const messagingKey = new Key(this, 'MessagingKey', {
      description: 'reccert: encrypts the expiry notification topic',
      enableKeyRotation: true,
      removalPolicy: RemovalPolicy.RETAIN,
    });

    const accessLogs = new Bucket(this, 'AccessLogsBucket', {
      blockPublicAccess: BlockPublicAccess.BLOCK_ALL,
      enforceSSL: true,
      encryption: BucketEncryption.S3_MANAGED,
      objectOwnership: ObjectOwnership.BUCKET_OWNER_ENFORCED,
      versioned: true,
      removalPolicy: RemovalPolicy.RETAIN,
      lifecycleRules: [{ expiration: Duration.days(365), noncurrentVersionExpiration: Duration.days(30) }],
    });
    // AwsSolutions-S1: this bucket receives the key bucket's access logs; logging it into itself
    // would loop, and a second log bucket would only move the finding.
    Validations.of(accessLogs).acknowledge({
      id: 'AwsSolutions-S1',
      reason: 'It is the server access log destination of the key bucket; it cannot log into itself.',
    });

    const keyBucket = new Bucket(this, 'KeyBucket', {
      blockPublicAccess: BlockPublicAccess.BLOCK_ALL,
      enforceSSL: true,
      versioned: true,
      encryption: BucketEncryption.KMS,
      encryptionKey: keystoreKey,
      bucketKeyEnabled: true,
      objectOwnership: ObjectOwnership.BUCKET_OWNER_ENFORCED,
      serverAccessLogsBucket: accessLogs,
      serverAccessLogsPrefix: 'key-bucket/',
      removalPolicy: RemovalPolicy.RETAIN,
    });

    // --- metadata: one table, sparse expiry index ------------------------------------------------
    const table = new TableV2(this, 'Table', {
      partitionKey: { name: 'pk', type: AttributeType.STRING },
      sortKey: { name: 'sk', type: AttributeType.STRING },
      billing: Billing.onDemand(),
      encryption: TableEncryptionV2.awsManagedKey(),
      pointInTimeRecoverySpecification: { pointInTimeRecoveryEnabled: true },
      deletionProtection: true,
      removalPolicy: RemovalPolicy.RETAIN,
      globalSecondaryIndexes: [
        {
          indexName: DUE_INDEX,
          partitionKey: { name: 'dueShard', type: AttributeType.STRING },
          sortKey: { name: 'dueAt', type: AttributeType.STRING },
          projectionType: ProjectionType.KEYS_ONLY,
        },
      ],
    });

    // --- events: bus, assignment queue + DLQ + alarm, notification topic ----------------------------
    const bus = new EventBus(this, 'Bus', { description: 'reccert domain events' });
    const deadLetters = new Queue(this, 'AssignmentDeadLetterQueue', {
      encryption: QueueEncryption.SQS_MANAGED,
      enforceSSL: true,
      retentionPeriod: Duration.days(14),
    });
    const assignments = new Queue(this, 'AssignmentQueue', {
      encryption: QueueEncryption.SQS_MANAGED,
      enforceSSL: true,
      // Six times the consumer's timeout, as Lambda recommends for SQS event sources.
      visibilityTimeout: Duration.seconds(180),
      deadLetterQueue: { queue: deadLetters, maxReceiveCount: 5 },
    });
    new Rule(this, 'IvrAssignmentRequestedRule', {
      eventBus: bus,
      description: 'IvrAssignmentRequested -> assignment queue',
      eventPattern: { source: ['reccert'], detailType: ['IvrAssignmentRequested'] },
      targets: [new SqsQueue(assignments)],
    });
    const deadLetterAlarm = new Alarm(this, 'AssignmentDeadLetterAlarm', {
      alarmDescription: 'Assignment requests failed five times and wait in the dead-letter queue.',
      metric: deadLetters.metricApproximateNumberOfMessagesVisible({ period: Duration.minutes(5) }),
      threshold: 1,
      evaluationPeriods: 1,
      comparisonOperator: ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
      treatMissingData: TreatMissingData.NOT_BREACHING,
    });
    const topic = new Topic(this, 'ExpiryTopic', {
      displayName: 'reccert certificate expiry',
      masterKey: messagingKey,
      enforceSSL: true,
    });

    // --- functions ------------------------------------------------------------------------------
    const env = {
      TABLE_NAME: table.tableName,
      DUE_INDEX_NAME: DUE_INDEX,
      BUCKET_NAME: keyBucket.bucketName,
      KMS_KEY_ID: keystoreKey.keyArn,
      EVENT_BUS_NAME: bus.eventBusName,
      TOPIC_ARN: topic.topicArn,
    };
    const pick = (...names: (keyof typeof env)[]) => Object.fromEntries(names.map((n) => [n, env[n]]));
    const make = (name: FunctionName, environment: Record<string, string>, timeout: Duration) =>
      this.lambda(name, handlersDir, environment, timeout);

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
        pick('TABLE_NAME', 'DUE_INDEX_NAME', 'EVENT_BUS_NAME', 'TOPIC_ARN', 'BUCKET_NAME', 'KMS_KEY_ID'),
        Duration.minutes(5),
      ),
    };
    this.functions = fns;

    // --- least privilege per function -----------------------------------------------------------
    const tableArn = table.tableArn;
    const indexArn = `${table.tableArn}/index/${DUE_INDEX}`;
    const keyObjectsArn = keyBucket.arnForObjects(KEY_OBJECTS);
    const allow = (fn: FunctionName, statement: PolicyStatement) => fns[fn].addToRolePolicy(statement);
    const dynamo = (actions: string[], resources = [tableArn]) =>
      new PolicyStatement({ effect: Effect.ALLOW, actions: actions.map((a) => `dynamodb:${a}`), resources });
    const putEvents = new PolicyStatement({ actions: ['events:PutEvents'], resources: [bus.eventBusArn] });

    // read: consistent reads of the table, nothing else.
    allow('read', dynamo(['GetItem', 'Query']));

    // write: metadata writes (conditional puts, the delete transaction), its own key objects,
    // data keys bound to a tenant and certificate, and domain events.
    allow('write', dynamo(['GetItem', 'Query', 'PutItem', 'UpdateItem', 'DeleteItem', 'ConditionCheckItem']));
    allow(
      'write',
      new PolicyStatement({ actions: ['s3:PutObject', 's3:DeleteObject'], resources: [keyObjectsArn] }),
    );
    allow('write', this.boundDataKeys('kms:GenerateDataKey', keystoreKey.keyArn));
    allow('write', this.sseKmsThroughS3('kms:GenerateDataKey', keystoreKey.keyArn, keyBucket.bucketArn));
    // The upload-time custody check (shared/usecases/certificates.ts, proveCustodyUnwraps) reads
    // the key object it has just written and opens it through the key store before the upload
    // is accepted: s3:GetObject on key objects, kms:Decrypt of data keys under the same
    // {tenantId, certificateId} context, and the SSE-KMS decrypt S3 makes on its behalf.
    allow('write', new PolicyStatement({ actions: ['s3:GetObject'], resources: [keyObjectsArn] }));
    allow('write', this.boundDataKeys('kms:Decrypt', keystoreKey.keyArn));
    allow('write', this.sseKmsThroughS3('kms:Decrypt', keystoreKey.keyArn, keyBucket.bucketArn));
    allow('write', putEvents);
    // AwsSolutions-IAM5: one key object per upload under the caller's tenant prefix (written, read
    // back once by the custody check, deleted on rollback); the tenant id is known only per
    // request, so the grant covers the key prefix of every tenant and no other object (tenant
    // isolation is enforced in code and by the KMS encryption context).
    Validations.of(fns.write.role as Role).acknowledge({
      id: `AwsSolutions-IAM5[Resource::<${this.getLogicalId(keyBucket.node.defaultChild as CfnBucket)}.Arn>/tenants/*/keys/*]`,
      reason:
        'Key objects are created per upload under tenants/<tenant>/keys/; nothing else in the bucket is reachable.',
    });

    // decrypt: reads the certificate, writes the audit entry, opens one sealed key.
    allow('decrypt', dynamo(['GetItem', 'Query', 'PutItem']));
    allow('decrypt', new PolicyStatement({ actions: ['s3:GetObject'], resources: [keyObjectsArn] }));
    allow('decrypt', this.boundDataKeys('kms:Decrypt', keystoreKey.keyArn));
    allow('decrypt', this.sseKmsThroughS3('kms:Decrypt', keystoreKey.keyArn, keyBucket.bucketArn));
    // AwsSolutions-IAM5: as for write; reading a key object is useless without kms:Decrypt under
    // the matching {tenantId, certificateId} encryption context.
    Validations.of(fns.decrypt.role as Role).acknowledge({
      id: `AwsSolutions-IAM5[Resource::<${this.getLogicalId(keyBucket.node.defaultChild as CfnBucket)}.Arn>/tenants/*/keys/*]`,
      reason:
        'Sealed key objects of any tenant prefix; each opens only with KMS under its own tenant/certificate context.',
    });

    // assignment consumer: the versioned assignment state, audit, IvrAssignmentApplied events.
    allow('assignment-consumer', dynamo(['GetItem', 'Query', 'PutItem']));
    allow('assignment-consumer', putEvents);
    fns['assignment-consumer'].addEventSource(
      new SqsEventSource(assignments, { batchSize: 10, reportBatchItemFailures: true }),
    );

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
    Validations.of(fns['expiry-scan'].role as Role).acknowledge({
      id: `AwsSolutions-IAM5[Resource::<${this.getLogicalId(keyBucket.node.defaultChild as CfnBucket)}.Arn>/tenants/*/keys/*]`,
      reason:
        'The orphan-key sweep deletes key objects no certificate holds, under any tenant prefix and nothing else.',
    });

    // Daily at 03:00 UTC; Scheduler retries, then the run of the next day catches up (the scan
    // reads everything due up to now, so nothing is skipped).
    const schedulerRole = new Role(this, 'ExpiryScheduleRole', {
      assumedBy: new ServicePrincipal('scheduler.amazonaws.com', {
        conditions: { StringEquals: { 'aws:SourceAccount': Aws.ACCOUNT_ID } },
      }),
      description: 'Lets the daily schedule invoke the expiry scan.',
    });
    // AwsSolutions-IAM5: CDK's LambdaInvoke target grants the function and its versions/aliases
    // (`<arn>:*`); the role can invoke nothing but the expiry scan.
    Validations.of(schedulerRole).acknowledge({
      id: `AwsSolutions-IAM5[Resource::<${this.getLogicalId(fns['expiry-scan'].node.defaultChild as CfnFunction)}.Arn>:*]`,
      reason: 'Invoke permission on the expiry-scan function and its qualified versions only.',
    });
    new Schedule(this, 'ExpirySchedule', {
      description: 'reccert daily expiry scan',
      schedule: ScheduleExpression.cron({ minute: '0', hour: '3' }),
      target: new LambdaInvoke(fns['expiry-scan'], { role: schedulerRole, retryAttempts: 3 }),
    });

    // --- HTTP API ------------------------------------------------------------------------------
    const api = new HttpApi(this, 'HttpApi', {
      description: 'reccert v1',
      createDefaultStage: false,
    });
    const apiLogs = new LogGroup(this, 'HttpApiAccessLogs', {
      retention: RetentionDays.THREE_MONTHS,
      removalPolicy: RemovalPolicy.RETAIN,
    });
    new HttpStage(this, 'DefaultStage', {
      httpApi: api,
      stageName: '$default',
      autoDeploy: true,
      throttle: { rateLimit: 50, burstLimit: 100 },
      accessLogSettings: {
        destination: new LogGroupLogDestination(apiLogs),
        format: AccessLogFormat.custom(
          JSON.stringify({
            requestId: '$context.requestId',
            ip: '$context.identity.sourceIp',
            requestTime: '$context.requestTime',
            method: '$context.httpMethod',
            routeKey: '$context.routeKey',
            status: '$context.status',
            responseLength: '$context.responseLength',
            latencyMs: '$context.integrationLatency',
            subject: '$context.authorizer.claims.sub',
            error: '$context.error.message',
          }),
        ),
      },
    });
    const authorizer = new HttpJwtAuthorizer('JwtAuthorizer', issuer.valueAsString, {
      jwtAudience: [audience.valueAsString],
      identitySource: ['$request.header.Authorization'],
    });
    const integrations = new Map<FunctionName, HttpLambdaIntegration>();
    for (const route of ROUTES) {
      let integration = integrations.get(route.fn);
      if (integration === undefined) {
        integration = new HttpLambdaIntegration(`${pascal(route.fn)}Integration`, fns[route.fn]);
        integrations.set(route.fn, integration);
      }
      const [created] = api.addRoutes({
        path: route.path,
        methods: [route.method],
        integration,
        ...(route.public ? {} : { authorizer }),
      });
      if (route.public && created) {
        // AwsSolutions-APIG4: health and the OpenAPI document are public by contract (DESIGN 4).
        Validations.of(created).acknowledge({
          id: 'AwsSolutions-APIG4',
          reason:
            'Health check and OpenAPI document are unauthenticated by the v1 contract; they expose no tenant data.',
        });
      }
    }

    // Every request no route matches goes to the read function, which answers the contract's own
    // NOT_FOUND / METHOD_NOT_ALLOWED error bodies (functions/aws/runtime.ts, routeKey '$default')
    // instead of API Gateway's bare {"message":"Not Found"}.
    const readIntegration =
      integrations.get(UNMATCHED_ROUTE_FUNCTION) ??
      new HttpLambdaIntegration(
        `${pascal(UNMATCHED_ROUTE_FUNCTION)}Integration`,
        fns[UNMATCHED_ROUTE_FUNCTION],
      );
    const defaultRoute = new HttpRoute(this, 'DefaultRoute', {
      httpApi: api,
      routeKey: HttpRouteKey.DEFAULT,
      integration: readIntegration,
    });
    // AwsSolutions-APIG4: the $default route only answers 404/405 error bodies (it reaches no use
    // case and no tenant data); requiring a token there would turn a wrong URL into a 401.
    Validations.of(defaultRoute).acknowledge({
      id: 'AwsSolutions-APIG4',
      reason: 'The $default route answers only NOT_FOUND / METHOD_NOT_ALLOWED error bodies; no data.',
    });

    new CfnOutput(this, 'ApiUrl', { value: api.apiEndpoint });
    new CfnOutput(this, 'TableName', { value: table.tableName });
    new CfnOutput(this, 'KeyBucketName', { value: keyBucket.bucketName });
    new CfnOutput(this, 'EventBusName', { value: bus.eventBusName });
    new CfnOutput(this, 'ExpiryTopicArn', { value: topic.topicArn });
    new CfnOutput(this, 'AssignmentDeadLetterAlarmName', { value: deadLetterAlarm.alarmName });
  }

  /** One function: its own role and log group, arm64, Node.js 22, X-Ray, minified bundle. */
  private lambda(
    name: FunctionName,
    handlersDir: string | undefined,
    environment: Record<string, string>,
    timeout: Duration,
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
    const esbuild = esbuildOptions();
    const fn = new NodejsFunction(this, `${id}Function`, {
      entry:
        handlersDir === undefined
          ? path.resolve(__dirname, '..', '..', entry)
          : path.join(handlersDir, path.basename(entry)),
      handler: 'handler',
      runtime: Runtime.NODEJS_22_X,
      architecture: Architecture.ARM_64,
      memorySize: name === 'decrypt' ? 1024 : 512,
      timeout,
      tracing: Tracing.ACTIVE,
      role,
      logGroup,
      loggingFormat: LoggingFormat.JSON,
      environment: { ...environment, NODE_OPTIONS: '--enable-source-maps' },
      // The same options the cold-start benchmark builds with (infra/aws/bundling.ts). The AWS
      // SDK is external (taken from the Lambda runtime); why, and how the key store's create-only
      // write stays create-only with whatever SDK version the runtime has, is in bundling.ts.
      bundling: {
        minify: esbuild.minify === true,
        sourceMap: true,
        target: String(esbuild.target),
        format: OutputFormat.CJS,
        externalModules: [...EXTERNAL_MODULES],
        forceDockerBundling: false,
      },
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

  /**
   * A data-key operation on the keystore key allowed only when the encryption context is exactly
   * {tenantId, certificateId} (both present, no other key): a data key is usable only for the
   * tenant and certificate it was made for.
   */
  private boundDataKeys(action: string, keyArn: string): PolicyStatement {
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
  private sseKmsThroughS3(action: string, keyArn: string, bucketArn: string): PolicyStatement {
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
}

function pascal(name: string): string {
  return name
    .split('-')
    .map((part) => part.charAt(0).toUpperCase() + part.slice(1))
    .join('');
}
