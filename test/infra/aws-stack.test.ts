import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Match, Template } from 'aws-cdk-lib/assertions';
import { buildApp } from '../../infra/aws/app';
import { FUNCTION_NAMES, type FunctionName } from '../../infra/aws/reccert-stack';
import { ROUTE_SPECS } from '../../shared/http/route-specs';

type Json = Record<string, unknown>;
interface Statement {
  Effect: string;
  Action: string | string[];
  Resource: unknown;
  Condition?: Json;
}

const ROOT = path.resolve(__dirname, '..', '..');
let outdir: string;
let template: Template;
let raw: {
  Resources: Record<string, { Type: string; Properties: Json; DeletionPolicy?: string }>;
  Conditions?: Record<string, unknown>;
  Rules?: Record<string, unknown>;
};
let logicalIds: Record<FunctionName, string>;

beforeAll(() => {
  outdir = fs.mkdtempSync(path.join(os.tmpdir(), 'reccert-cdk-'));
  const { app, stack } = buildApp({ outdir });
  // Synthesis runs cdk-nag (AwsSolutions); an unacknowledged error finding throws here.
  const assembly = app.synth();
  const file = path.join(assembly.directory, assembly.getStackByName(stack.stackName).templateFile);
  raw = JSON.parse(fs.readFileSync(file, 'utf8'));
  template = Template.fromJSON(raw);
  logicalIds = Object.fromEntries(
    FUNCTION_NAMES.map((name) => [
      name,
      stack.getLogicalId(stack.functions[name].node.defaultChild as never),
    ]),
  ) as Record<FunctionName, string>;
});

afterAll(() => {
  fs.rmSync(outdir, { recursive: true, force: true });
});

/** The TypeScript files under a folder, with their text. */
function sourcesOf(dir: string): { file: string; source: string }[] {
  return fs
    .readdirSync(dir, { recursive: true, encoding: 'utf8' })
    .filter((file) => file.endsWith('.ts'))
    .map((file) => ({ file, source: fs.readFileSync(path.join(dir, file), 'utf8') }));
}

function resourcesOf(type: string) {
  return Object.entries(raw.Resources).filter(([, r]) => r.Type === type);
}

/** The synthesized properties of a function. */
function fnProps(fn: FunctionName): Json {
  const resource = raw.Resources[logicalIds[fn]];
  if (resource === undefined) throw new Error(`no function ${fn} in the template`);
  return resource.Properties;
}

/** The logical id of the role a function runs as. */
function roleOf(fn: FunctionName): string {
  return (fnProps(fn).Role as { 'Fn::GetAtt': [string, string] })['Fn::GetAtt'][0];
}

/** Every statement of the role the function runs as. */
function statementsOf(fn: FunctionName): Statement[] {
  const role = roleOf(fn);
  return resourcesOf('AWS::IAM::Policy')
    .filter(([, p]) => (p.Properties.Roles as { Ref: string }[]).some((r) => r.Ref === role))
    .flatMap(([, p]) => (p.Properties.PolicyDocument as { Statement: Statement[] }).Statement);
}

function actionsOf(fn: FunctionName): string[] {
  return [
    ...new Set(statementsOf(fn).flatMap((s) => (Array.isArray(s.Action) ? s.Action : [s.Action]))),
  ].sort();
}

const LOGGING = [
  'logs:CreateLogStream',
  'logs:PutLogEvents',
  'xray:PutTelemetryRecords',
  'xray:PutTraceSegments',
];

describe('ReccertStack (AWS CDK)', () => {
  describe('cdk-nag AwsSolutions', () => {
    it('synthesizes with no unacknowledged finding, errors or warnings', () => {
      const report = JSON.parse(fs.readFileSync(path.join(outdir, 'validation-report.json'), 'utf8')) as {
        pluginReports: { pluginName: string; violations: { ruleName: string }[] }[];
      };

      const findings = report.pluginReports.flatMap((p) =>
        p.violations.map((v) => `${p.pluginName}: ${v.ruleName}`),
      );

      expect(findings).toEqual([]);
    });

    it('justifies every acknowledgement in a code comment next to it', () => {
      const sources = sourcesOf(path.join(ROOT, 'infra', 'aws'));

      const acknowledgements = sources.flatMap(({ source }) => source.split('Validations.of(').slice(1));
      expect(acknowledgements.length).toBeGreaterThan(0);
      for (const { file, source } of sources) {
        const rulesAcknowledged = [...source.matchAll(/id: `?'?(AwsSolutions-[A-Z0-9]+)/g)].map((m) => m[1]);
        for (const rule of new Set(rulesAcknowledged)) {
          expect({ file, justified: new RegExp(`// ${rule}: \\S+`).test(source) }).toEqual({
            file,
            justified: true,
          });
        }
      }
    });
  });

  describe('logical ids', () => {
    // A changed logical id replaces the resource on update: a new empty table, bucket or key with
    // the deployed data left outside the stack, a new API URL, or (for the SQS event source) a
    // failed update, since Lambda refuses a second mapping of the same queue and function.
    it('keeps the ids the deployed stack has, though the resources are grouped in parts', () => {
      const pinned = {
        KeystoreKey93162D1F: 'AWS::KMS::Key',
        MessagingKey9A79A2B1: 'AWS::KMS::Key',
        AccessLogsBucket83982689: 'AWS::S3::Bucket',
        KeyBucketDB247822: 'AWS::S3::Bucket',
        TableCD117FA1: 'AWS::DynamoDB::GlobalTable',
        BusEA82B648: 'AWS::Events::EventBus',
        AssignmentQueue2C3AEE16: 'AWS::SQS::Queue',
        AssignmentDeadLetterQueueB8396663: 'AWS::SQS::Queue',
        ExpiryTopic0213C3F0: 'AWS::SNS::Topic',
        ReadLogs83AA0EF2: 'AWS::Logs::LogGroup',
        WriteLogs19F476F5: 'AWS::Logs::LogGroup',
        DecryptLogsD1FE9B6D: 'AWS::Logs::LogGroup',
        AssignmentConsumerLogs5A58B13D: 'AWS::Logs::LogGroup',
        ExpiryScanLogs4BCF26D5: 'AWS::Logs::LogGroup',
        HttpApiAccessLogs4B419BF6: 'AWS::Logs::LogGroup',
        HttpApiF5A9A8A7: 'AWS::ApiGatewayV2::Api',
        ReadFunction9BA9B3F3: 'AWS::Lambda::Function',
        ExpiryScanFunction90EA5BD1: 'AWS::Lambda::Function',
        AssignmentConsumerFunctionSqsEventSourceReccertAssignmentQueue8BDC8076ADAD6047:
          'AWS::Lambda::EventSourceMapping',
      };

      const types = Object.fromEntries(Object.keys(pinned).map((id) => [id, raw.Resources[id]?.Type]));

      expect(types).toEqual(pinned);
      // The bus's name, which CDK derives from its path, is kept too (a new name replaces it).
      expect(raw.Resources.BusEA82B648?.Properties.Name).toBe('ReccertBus86DB8A4F');
    });
  });

  describe('functions', () => {
    it('runs every function on arm64 Node.js 22 with X-Ray tracing and a JSON log group kept 90 days', () => {
      for (const name of FUNCTION_NAMES) {
        const props = fnProps(name);
        expect(props).toMatchObject({
          Runtime: 'nodejs22.x',
          Architectures: ['arm64'],
          TracingConfig: { Mode: 'Active' },
          LoggingConfig: { LogFormat: 'JSON' },
        });
        const logGroup = (props.LoggingConfig as { LogGroup: { Ref: string } }).LogGroup.Ref;
        expect(raw.Resources[logGroup]).toMatchObject({
          Properties: { RetentionInDays: 90 },
          DeletionPolicy: 'Retain',
        });
      }
    });

    it('gives each function its own role without managed policies', () => {
      const roles = FUNCTION_NAMES.map(roleOf);

      expect(new Set(roles).size).toBe(FUNCTION_NAMES.length);
      for (const role of roles)
        expect(raw.Resources[role ?? '']?.Properties.ManagedPolicyArns).toBeUndefined();
    });

    it('passes each function only the configuration it uses', () => {
      const envOf = (name: FunctionName) =>
        Object.keys(((fnProps(name).Environment as Json).Variables as Json) ?? {}).sort();

      expect(envOf('read')).toEqual(['NODE_OPTIONS', 'TABLE_NAME']);
      expect(envOf('decrypt')).toEqual(['BUCKET_NAME', 'KMS_KEY_ID', 'NODE_OPTIONS', 'TABLE_NAME']);
      // The scan's orphan-key sweep builds the key store (it lists and deletes; it has no KMS grant).
      expect(envOf('expiry-scan')).toEqual([
        'BUCKET_NAME',
        'DUE_INDEX_NAME',
        'EVENT_BUS_NAME',
        'KMS_KEY_ID',
        'NODE_OPTIONS',
        'RECCERT_WEBHOOK_URL',
        'TABLE_NAME',
        'TOPIC_ARN',
      ]);
      // The delivery function gets the secret's name, never its value (besides the settings CDK
      // gives the Parameters and Secrets extension).
      const extension = /^(PARAMETERS_SECRETS_EXTENSION|SECRETS_MANAGER|SSM_PARAMETER_STORE)_/;
      expect(envOf('webhook-delivery').filter((name) => !extension.test(name))).toEqual([
        'DUE_INDEX_NAME',
        'NODE_OPTIONS',
        'RECCERT_WEBHOOK_SECRET_ID',
        'RECCERT_WEBHOOK_URL',
        'TABLE_NAME',
      ]);
    });
  });

  describe('least privilege', () => {
    it('lets read only read the table', () => {
      expect(actionsOf('read')).toEqual(['dynamodb:GetItem', 'dynamodb:Query', ...LOGGING].sort());
    });

    it('lets write change metadata, create, read back and delete key objects, use bound data keys and publish events', () => {
      expect(actionsOf('write')).toEqual(
        [
          'dynamodb:ConditionCheckItem',
          'dynamodb:DeleteItem',
          'dynamodb:GetItem',
          'dynamodb:PutItem',
          'dynamodb:Query',
          'dynamodb:UpdateItem',
          'events:PutEvents',
          'kms:Decrypt',
          'kms:GenerateDataKey',
          's3:DeleteObject',
          's3:GetObject',
          's3:PutObject',
          ...LOGGING,
        ].sort(),
      );
    });

    it('lets write open a key only as the upload-time custody check does: bound context, or SSE-KMS via S3', () => {
      const decrypts = statementsOf('write').filter((s) => s.Action === 'kms:Decrypt');
      const reads = statementsOf('write').filter((s) => s.Action === 's3:GetObject');

      expect(decrypts).toHaveLength(2);
      for (const statement of decrypts) expect(JSON.stringify(statement.Resource)).toContain('KeystoreKey');
      expect(decrypts).toEqual(
        expect.arrayContaining([
          expect.objectContaining({
            Condition: {
              'ForAllValues:StringEquals': { 'kms:EncryptionContextKeys': ['tenantId', 'certificateId'] },
              Null: {
                'kms:EncryptionContext:tenantId': 'false',
                'kms:EncryptionContext:certificateId': 'false',
              },
            },
          }),
          expect.objectContaining({
            Condition: {
              StringEquals: {
                'kms:ViaService': expect.anything(),
                'kms:EncryptionContext:aws:s3:arn': expect.anything(),
              },
            },
          }),
        ]),
      );
      expect(reads).toHaveLength(1);
      expect(JSON.stringify(reads[0]?.Resource)).toMatch(/KeyBucket.*\/tenants\/\*\/keys\/\*/);
    });

    it('binds data-key generation to the {tenantId, certificateId} encryption context or to SSE-KMS via S3', () => {
      const kms = statementsOf('write').filter((s) => s.Action === 'kms:GenerateDataKey');

      expect(kms).toHaveLength(2);
      expect(kms).toEqual(
        expect.arrayContaining([
          expect.objectContaining({
            Condition: {
              'ForAllValues:StringEquals': { 'kms:EncryptionContextKeys': ['tenantId', 'certificateId'] },
              Null: {
                'kms:EncryptionContext:tenantId': 'false',
                'kms:EncryptionContext:certificateId': 'false',
              },
            },
          }),
          expect.objectContaining({
            Condition: { StringEquals: expect.objectContaining({ 'kms:ViaService': expect.anything() }) },
          }),
        ]),
      );
    });

    it('gives only decrypt and write (its custody check) the right to read key objects and decrypt data keys', () => {
      for (const name of FUNCTION_NAMES) {
        const actions = actionsOf(name);
        const canOpenKeys = actions.includes('s3:GetObject') || actions.includes('kms:Decrypt');
        expect({ name, canOpenKeys }).toEqual({
          name,
          canOpenKeys: name === 'decrypt' || name === 'write' || name === 'expiry-scan',
        });
      }
      expect(actionsOf('decrypt')).toEqual(
        [
          'dynamodb:GetItem',
          'dynamodb:PutItem',
          'dynamodb:Query',
          'kms:Decrypt',
          's3:GetObject',
          ...LOGGING,
        ].sort(),
      );
      // The scan's kms:Decrypt is on the messaging key, through SNS only.
      const scanKms = statementsOf('expiry-scan').find(
        (s) => Array.isArray(s.Action) && s.Action.includes('kms:Decrypt'),
      );
      expect(JSON.stringify(scanKms?.Resource)).toContain('MessagingKey');
      expect(JSON.stringify(scanKms?.Condition)).toContain('sns.');
    });

    it('scopes key-object access to the tenants/*/keys/* prefix of the key bucket', () => {
      const s3 = [...statementsOf('write'), ...statementsOf('decrypt')].filter((s) =>
        JSON.stringify(s.Action).includes('s3:'),
      );

      for (const statement of s3) {
        expect(JSON.stringify(statement.Resource)).toMatch(/KeyBucket.*\/tenants\/\*\/keys\/\*/);
      }
    });

    it('lets the consumer and the scan do only their jobs', () => {
      expect(actionsOf('assignment-consumer')).toEqual(
        [
          'dynamodb:GetItem',
          'dynamodb:PutItem',
          'dynamodb:Query',
          'events:PutEvents',
          'sqs:ChangeMessageVisibility',
          'sqs:DeleteMessage',
          'sqs:GetQueueAttributes',
          'sqs:GetQueueUrl',
          'sqs:ReceiveMessage',
          ...LOGGING,
        ].sort(),
      );
      expect(actionsOf('expiry-scan')).toEqual(
        [
          'dynamodb:BatchGetItem',
          'dynamodb:GetItem',
          'dynamodb:PutItem',
          'dynamodb:Query',
          'dynamodb:UpdateItem',
          'events:PutEvents',
          'kms:Decrypt',
          'kms:GenerateDataKey',
          's3:DeleteObject',
          's3:ListBucket',
          'sns:Publish',
          ...LOGGING,
        ].sort(),
      );
    });

    it('lets the scan list only the key prefix and delete only key objects (the orphan sweep)', () => {
      const statements = statementsOf('expiry-scan');
      const list = statements.find((s) => s.Action === 's3:ListBucket');
      const del = statements.find((s) => s.Action === 's3:DeleteObject');

      expect(list?.Condition).toEqual({ StringLike: { 's3:prefix': ['tenants/*'] } });
      expect(JSON.stringify(del?.Resource)).toContain('/tenants/*/keys/*');
    });

    it('grants no wildcard action anywhere but in the role CDK writes for copying the admin page', () => {
      const actions = resourcesOf('AWS::IAM::Policy')
        .filter(([id]) => !id.startsWith('CustomCDKBucketDeployment'))
        .flatMap(([, p]) =>
          (p.Properties.PolicyDocument as { Statement: Statement[] }).Statement.flatMap((s) =>
            Array.isArray(s.Action) ? s.Action : [s.Action],
          ),
        );

      expect(actions.filter((a) => a.includes('*'))).toEqual([]);
    });

    it('lets the webhook delivery only claim, mark and reschedule outbox items and read its secret', () => {
      expect(actionsOf('webhook-delivery')).toEqual(
        ['dynamodb:Query', 'dynamodb:UpdateItem', 'secretsmanager:GetSecretValue', ...LOGGING].sort(),
      );
      const secret = statementsOf('webhook-delivery').find(
        (s) => s.Action === 'secretsmanager:GetSecretValue',
      );
      expect(JSON.stringify(secret?.Resource)).toContain(':secret:');
      expect(JSON.stringify(secret?.Resource)).toContain('WebhookSigningKeyName');
      expect(JSON.stringify(secret?.Resource)).toContain('-??????');
    });
  });

  describe('data', () => {
    it('keeps the table with PITR, deletion protection and the sparse keys-only expiry index', () => {
      template.hasResource('AWS::DynamoDB::GlobalTable', {
        DeletionPolicy: 'Retain',
        Properties: Match.objectLike({
          KeySchema: [
            { AttributeName: 'pk', KeyType: 'HASH' },
            { AttributeName: 'sk', KeyType: 'RANGE' },
          ],
          GlobalSecondaryIndexes: [
            {
              IndexName: 'due',
              KeySchema: [
                { AttributeName: 'dueShard', KeyType: 'HASH' },
                { AttributeName: 'dueAt', KeyType: 'RANGE' },
              ],
              Projection: { ProjectionType: 'KEYS_ONLY' },
            },
          ],
          SSESpecification: { SSEEnabled: true },
          Replicas: [
            Match.objectLike({
              DeletionProtectionEnabled: true,
              PointInTimeRecoverySpecification: { PointInTimeRecoveryEnabled: true },
            }),
          ],
        }),
      });
    });

    it('keeps the key bucket private, versioned, KMS-encrypted, TLS-only and retained', () => {
      template.hasResource('AWS::S3::Bucket', {
        DeletionPolicy: 'Retain',
        Properties: Match.objectLike({
          VersioningConfiguration: { Status: 'Enabled' },
          PublicAccessBlockConfiguration: {
            BlockPublicAcls: true,
            BlockPublicPolicy: true,
            IgnorePublicAcls: true,
            RestrictPublicBuckets: true,
          },
          BucketEncryption: {
            ServerSideEncryptionConfiguration: [
              Match.objectLike({
                BucketKeyEnabled: true,
                ServerSideEncryptionByDefault: Match.objectLike({ SSEAlgorithm: 'aws:kms' }),
              }),
            ],
          },
          LoggingConfiguration: Match.anyValue(),
        }),
      });
      const denyInsecure = resourcesOf('AWS::S3::BucketPolicy').filter(([, p]) =>
        JSON.stringify(p.Properties).includes('"aws:SecureTransport":"false"'),
      );
      // The key bucket, its access-log bucket and the admin page's bucket.
      expect(denyInsecure).toHaveLength(3);
    });

    it('rotates both KMS keys and retains them', () => {
      const keys = resourcesOf('AWS::KMS::Key');

      expect(keys).toHaveLength(2);
      for (const [, key] of keys) {
        expect(key.Properties.EnableKeyRotation).toBe(true);
        expect(key.DeletionPolicy).toBe('Retain');
      }
    });
  });

  describe('events and schedule', () => {
    it('routes IvrAssignmentRequested from the bus to the assignment queue', () => {
      template.hasResourceProperties('AWS::Events::Rule', {
        EventPattern: { source: ['reccert'], 'detail-type': ['IvrAssignmentRequested'] },
        Targets: [
          Match.objectLike({ Arn: { 'Fn::GetAtt': [Match.stringLikeRegexp('^AssignmentQueue'), 'Arn'] } }),
        ],
      });
    });

    it('feeds the consumer from SQS with partial batch failures, and dead-letters after 5 tries with an alarm', () => {
      template.hasResourceProperties('AWS::Lambda::EventSourceMapping', {
        FunctionName: { Ref: logicalIds['assignment-consumer'] },
        FunctionResponseTypes: ['ReportBatchItemFailures'],
      });
      template.hasResourceProperties('AWS::SQS::Queue', {
        RedrivePolicy: { maxReceiveCount: 5, deadLetterTargetArn: Match.anyValue() },
        SqsManagedSseEnabled: true,
      });
      template.hasResourceProperties('AWS::CloudWatch::Alarm', {
        MetricName: 'ApproximateNumberOfMessagesVisible',
        Threshold: 1,
        Dimensions: [
          {
            Name: 'QueueName',
            Value: { 'Fn::GetAtt': [Match.stringLikeRegexp('^AssignmentDeadLetterQueue'), 'QueueName'] },
          },
        ],
      });
    });

    it('runs the expiry scan daily at 02:00 UTC from EventBridge Scheduler, as every runtime does (DESIGN 5)', () => {
      template.hasResourceProperties('AWS::Scheduler::Schedule', {
        ScheduleExpression: 'cron(0 2 * * ? *)',
        ScheduleExpressionTimezone: 'Etc/UTC',
        Target: Match.objectLike({ Arn: { 'Fn::GetAtt': [logicalIds['expiry-scan'], 'Arn'] } }),
      });
    });

    it('runs the scan at the hour given as the scanHourUtc context, and refuses one that is no hour', () => {
      // No bundling: only the schedule is looked at.
      const quick = { 'aws:cdk:bundling-stacks': [] };
      const hourOutdir = () => fs.mkdtempSync(path.join(outdir, 'hour-'));
      const { stack } = buildApp({
        outdir: hourOutdir(),
        context: { ...quick, scanHourUtc: '5' },
      });

      Template.fromStack(stack).hasResourceProperties('AWS::Scheduler::Schedule', {
        ScheduleExpression: 'cron(0 5 * * ? *)',
      });
      for (const bad of ['24', '-1', '2.5', 'two']) {
        expect(() => buildApp({ outdir: hourOutdir(), context: { ...quick, scanHourUtc: bad } })).toThrow(
          /scanHourUtc must be a whole hour/,
        );
      }
    });

    it('encrypts the notification topic with a customer-managed key', () => {
      template.hasResourceProperties('AWS::SNS::Topic', {
        KmsMasterKeyId: { 'Fn::GetAtt': [Match.stringLikeRegexp('^MessagingKey'), 'Arn'] },
      });
    });
  });

  describe('HTTP API', () => {
    it("validates JWTs from the stack's Cognito user pool, or from the issuer and audience given as parameters", () => {
      template.hasParameter('JwtIssuer', { Type: 'String', Default: '' });
      template.hasParameter('JwtAudience', { Type: 'String', Default: '' });
      const pool = Object.keys(template.findResources('AWS::Cognito::UserPool'))[0];
      const client = Object.keys(template.findResources('AWS::Cognito::UserPoolClient'))[0];
      template.hasResourceProperties('AWS::ApiGatewayV2::Authorizer', {
        AuthorizerType: 'JWT',
        JwtConfiguration: {
          Issuer: {
            'Fn::If': [
              'OwnJwtIssuer',
              { Ref: 'JwtIssuer' },
              {
                'Fn::Join': [
                  '',
                  ['https://cognito-idp.', { Ref: 'AWS::Region' }, '.amazonaws.com/', { Ref: pool }],
                ],
              },
            ],
          },
          // Cognito access tokens carry client_id instead of aud; API Gateway checks it against these.
          Audience: [{ 'Fn::If': ['OwnJwtIssuer', { Ref: 'JwtAudience' }, { Ref: client }] }],
        },
      });
      expect(raw.Conditions?.OwnJwtIssuer).toEqual({
        'Fn::Not': [{ 'Fn::Equals': [{ Ref: 'JwtIssuer' }, ''] }],
      });
      expect(JSON.stringify(raw.Rules?.JwtAudienceWithIssuer)).toContain('JwtAudience');
    });

    it('requires the JWT on every route except health, the OpenAPI document and $default', () => {
      const routes = resourcesOf('AWS::ApiGatewayV2::Route').map(([, r]) => r.Properties);
      const open = routes.filter((r) => r.AuthorizationType !== 'JWT').map((r) => r.RouteKey);

      // Every v1 route of the table + the OpenAPI document + $default.
      expect(routes).toHaveLength(ROUTE_SPECS.length + 2);
      expect(open.sort()).toEqual(['$default', 'GET /v1/health', 'GET /v1/openapi.json']);
    });

    it('sends unmatched requests ($default) to the read function, which answers 404/405 bodies', () => {
      const routes = resourcesOf('AWS::ApiGatewayV2::Route').map(([, r]) => r.Properties);
      const fallback = routes.find((r) => r.RouteKey === '$default');
      const health = routes.find((r) => r.RouteKey === 'GET /v1/health');

      if (fallback === undefined) throw new Error('no $default route');
      // Same integration as health, which the read function serves.
      expect(fallback.Target).toEqual(health?.Target);
      const integration = (fallback.Target as { 'Fn::Join': [string, unknown[]] })['Fn::Join'][1];
      const integrationId = (integration[1] as { Ref: string }).Ref;
      expect(JSON.stringify(raw.Resources[integrationId]?.Properties.IntegrationUri)).toContain(
        logicalIds.read,
      );
    });

    it('has no corsConfiguration when no origins are given (no CORS headers at all)', () => {
      template.hasResourceProperties('AWS::ApiGatewayV2::Api', { CorsConfiguration: Match.absent() });
    });

    it('takes the origins of the corsOrigins context into corsConfiguration, with the headers of the contract', () => {
      const origins = ['https://admin.example.com', 'http://localhost:5173'];
      const { stack } = buildApp({
        context: { corsOrigins: origins.join(','), 'aws:cdk:bundling-stacks': [] },
      });
      const apis = Object.values(Template.fromStack(stack).findResources('AWS::ApiGatewayV2::Api'));
      expect(apis).toHaveLength(1);
      const cors = apis[0]?.Properties.CorsConfiguration as { AllowMethods: string[] };
      expect({ ...cors, AllowMethods: [...cors.AllowMethods].sort() }).toEqual({
        AllowOrigins: origins,
        AllowMethods: ['DELETE', 'GET', 'PATCH', 'POST', 'PUT'],
        AllowHeaders: ['Authorization', 'Content-Type', 'X-Request-Id'],
        ExposeHeaders: ['Location', 'X-Request-Id'],
        MaxAge: 600,
        AllowCredentials: false,
      });
    });

    it('refuses a wildcard origin at synth, naming why', () => {
      expect(() => buildApp({ context: { corsOrigins: '*', 'aws:cdk:bundling-stacks': [] } })).toThrow(
        /corsOrigins.*credentials/,
      );
    });

    it('throttles the default stage and writes access logs', () => {
      template.hasResourceProperties('AWS::ApiGatewayV2::Stage', {
        StageName: '$default',
        DefaultRouteSettings: Match.objectLike({ ThrottlingRateLimit: 50, ThrottlingBurstLimit: 100 }),
        AccessLogSettings: Match.objectLike({ DestinationArn: Match.anyValue() }),
      });
    });
  });

  describe('sign-in (Cognito)', () => {
    it('keeps admins in a Plus pool with enforced threat protection, TOTP MFA, a strong password policy and no self sign-up', () => {
      template.resourceCountIs('AWS::Cognito::UserPool', 1);
      template.hasResource('AWS::Cognito::UserPool', {
        DeletionPolicy: 'Retain',
        Properties: Match.objectLike({
          UserPoolTier: 'PLUS',
          UserPoolAddOns: { AdvancedSecurityMode: 'ENFORCED' },
          MfaConfiguration: 'ON',
          EnabledMfas: ['SOFTWARE_TOKEN_MFA'],
          AdminCreateUserConfig: { AllowAdminCreateUserOnly: true },
          DeletionProtection: 'ACTIVE',
          Policies: {
            PasswordPolicy: Match.objectLike({
              MinimumLength: 12,
              RequireLowercase: true,
              RequireUppercase: true,
              RequireNumbers: true,
              RequireSymbols: true,
            }),
          },
          Schema: [Match.objectLike({ Name: 'tenant', AttributeDataType: 'String', Mutable: true })],
        }),
      });
    });

    it('gives the admin page a public app client: authorization code only, no secret, its URLs, and no write to the tenant', () => {
      template.hasResourceProperties('AWS::Cognito::UserPoolClient', {
        GenerateSecret: false,
        AllowedOAuthFlows: ['code'],
        AllowedOAuthFlowsUserPoolClient: true,
        AllowedOAuthScopes: ['openid', 'email', 'profile'],
        CallbackURLs: ['http://localhost:8080/'],
        LogoutURLs: ['http://localhost:8080/'],
        SupportedIdentityProviders: ['COGNITO'],
        PreventUserExistenceErrors: 'ENABLED',
        EnableTokenRevocation: true,
      });
      const client = Object.values(template.findResources('AWS::Cognito::UserPoolClient'))[0];
      expect(client?.Properties.WriteAttributes).not.toContain('custom:tenant');
      expect(client?.Properties.ReadAttributes).toContain('custom:tenant');
    });

    it('takes the page addresses from the adminPageUrls context and refuses a plain-http one', () => {
      const { stack } = buildApp({
        context: { adminPageUrls: 'https://admin.example.com/', 'aws:cdk:bundling-stacks': [] },
      });
      Template.fromStack(stack).hasResourceProperties('AWS::Cognito::UserPoolClient', {
        CallbackURLs: ['https://admin.example.com/'],
        LogoutURLs: ['https://admin.example.com/'],
      });
      expect(() =>
        buildApp({ context: { adminPageUrls: 'http://admin.example.com/', 'aws:cdk:bundling-stacks': [] } }),
      ).toThrow(/adminPageUrls must be https/);
    });

    it('has the groups admin, decrypt and operator', () => {
      const groups = Object.values(template.findResources('AWS::Cognito::UserPoolGroup')).map(
        (g) => g.Properties.GroupName,
      );
      expect(groups.sort()).toEqual(['admin', 'decrypt', 'operator']);
    });

    it('runs the V2_0 pre token generation trigger, a function that may only write its own logs', () => {
      const [pool] = resourcesOf('AWS::Cognito::UserPool');
      if (pool === undefined) throw new Error('no user pool');
      const trigger = (pool[1].Properties.LambdaConfig as { PreTokenGenerationConfig: Json })
        .PreTokenGenerationConfig;
      expect(trigger.LambdaVersion).toBe('V2_0');
      const fnId = (trigger.LambdaArn as { 'Fn::GetAtt': [string, string] })['Fn::GetAtt'][0];
      const fn = raw.Resources[fnId];
      if (fn === undefined) throw new Error('no trigger function');
      expect(fn.Properties).toMatchObject({ Runtime: 'nodejs22.x', Architectures: ['arm64'], Timeout: 5 });
      const role = (fn.Properties.Role as { 'Fn::GetAtt': [string, string] })['Fn::GetAtt'][0];
      const actions = resourcesOf('AWS::IAM::Policy')
        .filter(([, p]) => (p.Properties.Roles as { Ref: string }[]).some((r) => r.Ref === role))
        .flatMap(([, p]) => (p.Properties.PolicyDocument as { Statement: Statement[] }).Statement)
        .flatMap((s) => s.Action);
      expect(actions.sort()).toEqual(['logs:CreateLogStream', 'logs:PutLogEvents']);
      template.hasResourceProperties('AWS::Lambda::Permission', {
        Principal: 'cognito-idp.amazonaws.com',
        FunctionName: { 'Fn::GetAtt': [fnId, 'Arn'] },
      });
    });

    it('outputs what the admin page needs: issuer, client id and the sign-in domain', () => {
      for (const name of ['UserPoolId', 'AuthIssuer', 'AdminPageClientId', 'AuthDomainUrl']) {
        template.hasOutput(name, {});
      }
    });
  });

  describe('cfn-lint', () => {
    it('reports no errors on the synthesized template', () => {
      const file = path.join(outdir, 'Reccert.template.json');

      const run = spawnSync('bash', [path.join(ROOT, 'scripts', 'tools', 'cfn-lint.sh'), file], {
        encoding: 'utf8',
      });

      // cfn-lint's exit code is a bit mask: 2 = errors, 4 = warnings, 8 = informational.
      expect({ errors: (run.status ?? 2) & 2, output: run.stdout }).toEqual({
        errors: 0,
        output: expect.any(String),
      });
      expect(run.stdout).not.toMatch(/^E\d{4}/m);
    });
  });
});
