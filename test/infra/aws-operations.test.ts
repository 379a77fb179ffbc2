import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Match, Template } from 'aws-cdk-lib/assertions';
import { webContentSecurityPolicy } from '../../functions/common/web-csp';
import { buildApp } from '../../infra/aws/app';
import { FUNCTION_NAMES, type FunctionName } from '../../infra/aws/reccert-stack';
import { generatedConfigJs } from '../../infra/web-page';

type Json = Record<string, unknown>;
interface Resource {
  Type: string;
  Properties: Json;
  Condition?: string;
}

// No bundling: the functions' code is not looked at here (aws-stack.test.ts bundles).
const quick = { 'aws:cdk:bundling-stacks': [] };
let outdir: string;
let template: Template;
let resources: Record<string, Resource>;
let fnIds: Record<FunctionName, string>;

beforeAll(() => {
  outdir = fs.mkdtempSync(path.join(os.tmpdir(), 'reccert-cdk-ops-'));
  const { stack } = buildApp({ outdir, context: { ...quick, operationsEmail: 'oncall@example.com' } });
  template = Template.fromStack(stack);
  resources = template.toJSON().Resources as Record<string, Resource>;
  fnIds = Object.fromEntries(
    FUNCTION_NAMES.map((name) => [
      name,
      stack.getLogicalId(stack.functions[name].node.defaultChild as never),
    ]),
  ) as Record<FunctionName, string>;
});

afterAll(() => {
  fs.rmSync(outdir, { recursive: true, force: true });
});

function ofType(type: string): [string, Resource][] {
  return Object.entries(resources).filter(([, r]) => r.Type === type);
}

/** The logical id of the operations topic. */
function operationsTopicId(): string {
  const topic = ofType('AWS::SNS::Topic').find(([id]) => id.startsWith('OperationsTopic'));
  if (topic === undefined) throw new Error('no operations topic');
  return topic[0];
}

/** The alarms whose metric is `metricName` (in the alarm itself or in its math expression). */
function alarmsOn(metricName: string): Json[] {
  return ofType('AWS::CloudWatch::Alarm')
    .map(([, r]) => r.Properties)
    .filter((p) => JSON.stringify(p).includes(`"MetricName":"${metricName}"`));
}

describe('ReccertStack operations (AWS CDK)', () => {
  describe('the webhook delivery', () => {
    it('takes the URL and the secret name as parameters, the secret itself from Secrets Manager', () => {
      template.hasParameter('WebhookUrl', { Type: 'String', Default: '' });
      template.hasParameter('WebhookSigningKeyName', { Type: 'String' });
      const fn = resources[fnIds['webhook-delivery']]?.Properties ?? {};
      const env = (fn.Environment as { Variables: Json }).Variables;

      expect(env.RECCERT_WEBHOOK_URL).toEqual({ Ref: 'WebhookUrl' });
      expect(env.RECCERT_WEBHOOK_SECRET_ID).toEqual({ Ref: 'WebhookSigningKeyName' });
      expect(env.RECCERT_WEBHOOK_SECRET).toBeUndefined();
      // The Parameters and Secrets extension serves the secret to the function on localhost.
      expect(JSON.stringify(fn.Layers)).toMatch(/Paramsandsecretslayer/);
      expect(JSON.stringify(template.toJSON().Mappings)).toMatch(
        /AWS-Parameters-and-Secrets-Lambda-Extension/,
      );
      // Nothing in the template names a secret value.
      expect(JSON.stringify(template.toJSON())).not.toMatch(/resolve:secretsmanager|resolve:ssm-secure/);
    });

    it('runs the delivery every minute from EventBridge Scheduler, enabled only with a webhook URL', () => {
      template.hasResourceProperties('AWS::Scheduler::Schedule', {
        ScheduleExpression: 'rate(1 minute)',
        State: { 'Fn::If': ['WebhookEnabled', 'ENABLED', 'DISABLED'] },
        Target: Match.objectLike({ Arn: { 'Fn::GetAtt': [fnIds['webhook-delivery'], 'Arn'] } }),
      });
      expect(template.toJSON().Conditions.WebhookEnabled).toEqual({
        'Fn::Not': [{ 'Fn::Equals': [{ Ref: 'WebhookUrl' }, ''] }],
      });
    });
  });

  describe('alarms', () => {
    it('notifies the operations topic, to which the operationsEmail address is subscribed, from every alarm', () => {
      const topic = operationsTopicId();
      const alarms = ofType('AWS::CloudWatch::Alarm').map(([, r]) => r.Properties);

      expect(alarms.length).toBeGreaterThanOrEqual(FUNCTION_NAMES.length * 2 + 5);
      for (const alarm of alarms) expect(alarm.AlarmActions).toEqual([{ Ref: topic }]);
      template.hasResourceProperties('AWS::SNS::Subscription', {
        Protocol: 'email',
        Endpoint: 'oncall@example.com',
        TopicArn: { Ref: topic },
      });
      // Encrypted with the messaging key, which CloudWatch may use to publish to it.
      expect(resources[topic]?.Properties.KmsMasterKeyId).toEqual({
        'Fn::GetAtt': [expect.stringMatching(/^MessagingKey/), 'Arn'],
      });
      const keyPolicy = JSON.stringify(ofType('AWS::KMS::Key').find(([id]) => id.startsWith('MessagingKey')));
      expect(keyPolicy).toContain('cloudwatch.amazonaws.com');
    });

    it('watches errors and throttles of every function', () => {
      for (const metric of ['Errors', 'Throttles']) {
        const watched = alarmsOn(metric).map(
          (a) => ((a.Dimensions as { Value: { Ref: string } }[])[0] ?? { Value: { Ref: '' } }).Value.Ref,
        );
        expect(watched.sort()).toEqual(Object.values(fnIds).sort());
      }
    });

    it('watches the assignment dead-letter queue', () => {
      expect(alarmsOn('ApproximateNumberOfMessagesVisible')).toHaveLength(1);
    });

    it('watches the API 5xx rate and its p99 latency', () => {
      const [rate] = alarmsOn('5xx');
      expect(JSON.stringify(rate?.Metrics)).toContain('100 * errors / requests');
      expect(rate).toMatchObject({ Threshold: 5, EvaluationPeriods: 2 });
      expect(alarmsOn('Latency')).toEqual([
        expect.objectContaining({ ExtendedStatistic: 'p99', Threshold: 5000, EvaluationPeriods: 3 }),
      ]);
    });

    it('fires when no scheduled scan has finished for 26 hours, missing data counting as breaching', () => {
      expect(alarmsOn('ScanRuns')).toEqual([
        expect.objectContaining({
          Namespace: 'reccert',
          Dimensions: [{ Name: 'Function', Value: 'expiry-scan' }],
          Statistic: 'Sum',
          Period: 3600,
          EvaluationPeriods: 26,
          Threshold: 1,
          ComparisonOperator: 'LessThanThreshold',
          TreatMissingData: 'breaching',
        }),
      ]);
    });

    it('fires when webhook deliveries keep failing', () => {
      expect(alarmsOn('NoticesFailed')).toEqual([
        expect.objectContaining({
          Namespace: 'reccert',
          Dimensions: [{ Name: 'Function', Value: 'webhook-delivery' }],
          EvaluationPeriods: 3,
        }),
      ]);
    });

    it('refuses an operationsEmail that is no e-mail address', () => {
      expect(() =>
        buildApp({
          outdir: fs.mkdtempSync(path.join(outdir, 'bad-')),
          context: { ...quick, operationsEmail: 'oncall at example' },
        }),
      ).toThrow(/operationsEmail must be an e-mail address/);
    });
  });

  describe('the dashboard', () => {
    it('shows the figures the alarms watch and the product metrics', () => {
      const dashboards = ofType('AWS::CloudWatch::Dashboard');
      expect(dashboards).toHaveLength(1);
      const body = JSON.stringify(dashboards[0]?.[1].Properties.DashboardBody);

      for (const figure of [
        '5xx',
        'Latency',
        'Errors',
        'Throttles',
        'ApproximateNumberOfMessagesVisible',
        'Uploads',
        'Decrypts',
        'Rewraps',
        'ScanRuns',
        'CertificatesScanned',
        'NoticesCreated',
        'NoticesDelivered',
        'NoticesFailed',
      ]) {
        expect({ figure, shown: body.includes(`\\"${figure}\\"`) }).toEqual({ figure, shown: true });
      }
    });
  });

  describe('the admin page', () => {
    it('keeps its bucket private, versioned, TLS-only and access-logged', () => {
      const [bucket] = ofType('AWS::S3::Bucket').filter(([id]) => id.startsWith('WebBucket'));
      expect(bucket?.[1].Properties).toMatchObject({
        VersioningConfiguration: { Status: 'Enabled' },
        PublicAccessBlockConfiguration: {
          BlockPublicAcls: true,
          BlockPublicPolicy: true,
          IgnorePublicAcls: true,
          RestrictPublicBuckets: true,
        },
        LoggingConfiguration: { LogFilePrefix: 'web-bucket/' },
      });
      const policy = ofType('AWS::S3::BucketPolicy').find(
        ([, p]) => JSON.stringify(p.Properties.Bucket) === JSON.stringify({ Ref: bucket?.[0] }),
      );
      const text = JSON.stringify(policy?.[1].Properties);
      expect(text).toContain('"aws:SecureTransport":"false"');
      // Only CloudFront, for this distribution, may read it (OAC).
      expect(text).toContain('cloudfront.amazonaws.com');
      expect(text).toContain('AWS:SourceArn');
    });

    it('serves it through CloudFront with Origin Access Control, HTTPS only', () => {
      template.resourceCountIs('AWS::CloudFront::Distribution', 1);
      template.hasResourceProperties('AWS::CloudFront::OriginAccessControl', {
        OriginAccessControlConfig: Match.objectLike({
          OriginAccessControlOriginType: 's3',
          SigningBehavior: 'always',
          SigningProtocol: 'sigv4',
        }),
      });
      template.hasResourceProperties('AWS::CloudFront::Distribution', {
        DistributionConfig: Match.objectLike({
          DefaultRootObject: 'index.html',
          Origins: [Match.objectLike({ OriginAccessControlId: Match.anyValue() })],
          DefaultCacheBehavior: Match.objectLike({
            ViewerProtocolPolicy: 'redirect-to-https',
            ResponseHeadersPolicyId: Match.anyValue(),
          }),
        }),
      });
    });

    it('sends a strict CSP that lets the page reach only itself, the API and the issuer, with HSTS', () => {
      const policies = ofType('AWS::CloudFront::ResponseHeadersPolicy');
      expect(policies).toHaveLength(1);
      const security = (
        policies[0]![1].Properties.ResponseHeadersPolicyConfig as {
          SecurityHeadersConfig: Record<string, Json>;
        }
      ).SecurityHeadersConfig;
      const csp = JSON.stringify(security.ContentSecurityPolicy?.ContentSecurityPolicy);

      for (const directive of [
        "default-src 'self'",
        "script-src 'self'",
        "frame-ancestors 'none'",
        "object-src 'none'",
        "connect-src 'self' ",
      ]) {
        expect(csp).toContain(directive);
      }
      expect(csp).toContain('HttpApi');
      expect(csp).toContain('JwtIssuer');
      expect(csp).not.toMatch(/unsafe-inline|unsafe-eval|\*/);
      expect(security.StrictTransportSecurity).toMatchObject({
        AccessControlMaxAgeSec: 730 * 86_400,
        IncludeSubdomains: true,
        Override: true,
      });
      expect(security.FrameOptions).toMatchObject({ FrameOption: 'DENY' });
      expect(security.ContentTypeOptions).toMatchObject({ Override: true });
    });

    it('deploys web/ with a config.js that points the page at the API of the stack', () => {
      const deployments = ofType('Custom::CDKBucketDeployment');
      expect(deployments).toHaveLength(1);
      const props = JSON.stringify(deployments[0]?.[1].Properties);

      // Two sources: the web/ asset without config.js, and the generated config.js.
      expect(deployments[0]![1].Properties.SourceObjectKeys).toHaveLength(2);
      expect(props).toContain('HttpApi');
      expect(props).toContain('max-age=300');
    });

    it('keeps the wildcard actions of the copying role on the asset bucket and the page bucket', () => {
      const policies = ofType('AWS::IAM::Policy').filter(([id]) =>
        id.startsWith('CustomCDKBucketDeployment'),
      );
      const resourcesGranted = policies.flatMap(([, p]) =>
        (p.Properties.PolicyDocument as { Statement: { Resource: unknown }[] }).Statement.flatMap((s) =>
          Array.isArray(s.Resource) ? s.Resource : [s.Resource],
        ),
      );

      for (const resource of resourcesGranted) {
        expect(JSON.stringify(resource)).toMatch(/cdk-[a-z0-9]+-assets-|WebBucket/);
      }
    });
  });
});

describe('webContentSecurityPolicy (functions/common/web-csp.ts) / generatedConfigJs (infra/web-page.ts)', () => {
  it('builds the CSP with the given connect sources and nothing looser', () => {
    expect(webContentSecurityPolicy(['https://api.example.com', 'https://login.example.com'])).toBe(
      "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self' https://api.example.com https://login.example.com; frame-ancestors 'none'; base-uri 'self'; form-action 'self'; object-src 'none'",
    );
  });

  it("lays the stack's values over web/config.js's defaults, keeping every field the page reads", () => {
    const generated = generatedConfigJs({ apiBaseUrl: 'https://api.example.com' });
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'reccert-config-'));
    const file = path.join(dir, 'config.mjs');
    fs.writeFileSync(file, generated);

    // The page loads it as an ES module: so does a separate node.
    const printed = execFileSync(
      process.execPath,
      ['-e', `import(${JSON.stringify(file)}).then((m) => process.stdout.write(JSON.stringify(m.default)))`],
      { encoding: 'utf8' },
    );
    const config = JSON.parse(printed) as Record<string, unknown>;
    const repository = fs.readFileSync(path.join(__dirname, '..', '..', 'web', 'config.js'), 'utf8');
    const fields = [...repository.matchAll(/^ {2}(\w+):/gm)].map((m) => m[1]);

    expect(config.apiBaseUrl).toBe('https://api.example.com');
    expect(Object.keys(config).sort()).toEqual([...new Set(fields)].sort());
    fs.rmSync(dir, { recursive: true, force: true });
  });
});
