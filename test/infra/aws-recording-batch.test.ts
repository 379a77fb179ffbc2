import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Template } from 'aws-cdk-lib/assertions';
import { buildApp } from '../../infra/aws/app';

interface Statement {
  Effect: string;
  Action: string | string[];
  Resource: unknown;
  Condition?: Record<string, unknown>;
}

// No bundling: only the function's configuration and IAM are looked at.
const quick = { 'aws:cdk:bundling-stacks': [] };
const dirs: string[] = [];
const outdir = () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'reccert-cdk-batch-'));
  dirs.push(dir);
  return dir;
};

afterAll(() => {
  for (const dir of dirs) fs.rmSync(dir, { recursive: true, force: true });
});
const BUCKET = 'acme-recordings';

function statementsOfRole(template: Template, roleId: string): Statement[] {
  return Object.values(template.findResources('AWS::IAM::Policy'))
    .filter((p) => (p.Properties.Roles as { Ref: string }[]).some((r) => r.Ref === roleId))
    .flatMap((p) => (p.Properties.PolicyDocument as { Statement: Statement[] }).Statement);
}

const actions = (statements: Statement[]) =>
  [...new Set(statements.flatMap((s) => (Array.isArray(s.Action) ? s.Action : [s.Action])))].sort();

/** A resource as the template writes it, flattened to a string for matching. */
const text = (resource: unknown) => JSON.stringify(resource);

describe('the recording-batch function and the S3 Batch Operations job role (infra/aws)', () => {
  const dir = outdir();
  const { app, stack } = buildApp({ outdir: dir, context: { ...quick, recordingsBucket: BUCKET } });
  // Synthesis runs cdk-nag (AwsSolutions); an unacknowledged error finding throws here.
  app.synth();
  const template = Template.fromStack(stack);
  const batch = stack.recordingBatch!;
  const fnRole = stack.getLogicalId(batch.fn.role!.node.defaultChild as never);
  const jobRole = stack.getLogicalId(batch.jobRole.node.defaultChild as never);

  it('synthesizes with no unacknowledged cdk-nag finding, errors or warnings', () => {
    const report = JSON.parse(fs.readFileSync(path.join(dir, 'validation-report.json'), 'utf8')) as {
      pluginReports: { pluginName: string; violations: { ruleName: string }[] }[];
    };

    expect(
      report.pluginReports.flatMap((p) => p.violations.map((v) => `${p.pluginName}: ${v.ruleName}`)),
    ).toEqual([]);
  });

  it('deploys the function with the longest Lambda timeout and only custody, table and recordings settings', () => {
    const fn =
      template.findResources('AWS::Lambda::Function')[
        stack.getLogicalId(batch.fn.node.defaultChild as never)
      ];

    expect(fn?.Properties.Timeout).toBe(900);
    expect(fn?.Properties.MemorySize).toBe(1024);
    expect(Object.keys(fn?.Properties.Environment.Variables).sort()).toEqual([
      'BUCKET_NAME',
      'KMS_KEY_ID',
      'NODE_OPTIONS',
      'TABLE_NAME',
    ]);
  });

  it('lets the function read and write recordings, open sealed keys and read certificates, nothing more', () => {
    const statements = statementsOfRole(template, fnRole);

    expect(actions(statements)).toEqual([
      'dynamodb:GetItem',
      'dynamodb:Query',
      'kms:Decrypt',
      'logs:CreateLogStream',
      'logs:PutLogEvents',
      's3:AbortMultipartUpload',
      's3:GetObject',
      's3:GetObjectVersion',
      's3:ListBucket',
      's3:PutObject',
      'xray:PutTelemetryRecords',
      'xray:PutTraceSegments',
    ]);
    const writes = statements.filter((s) => actions([s]).includes('s3:PutObject'));
    expect(writes).toHaveLength(1);
    expect(text(writes[0]?.Resource)).toContain(`:s3:::${BUCKET}/*`);
    // Every KMS grant is bound: to a tenant/certificate context, or to S3 on the key bucket.
    for (const s of statements.filter((s) => actions([s]).includes('kms:Decrypt'))) {
      expect(s.Condition).toBeDefined();
    }
  });

  it('gives S3 Batch Operations a role that invokes this function and reads manifests and writes reports under the batch prefix', () => {
    const role = template.findResources('AWS::IAM::Role')[jobRole];
    const statements = statementsOfRole(template, jobRole);

    expect(role?.Properties.AssumeRolePolicyDocument.Statement).toEqual([
      expect.objectContaining({
        Principal: { Service: 'batchoperations.s3.amazonaws.com' },
        Action: 'sts:AssumeRole',
      }),
    ]);
    expect(actions(statements)).toEqual([
      'lambda:InvokeFunction',
      's3:GetBucketLocation',
      's3:GetObject',
      's3:GetObjectVersion',
      's3:PutObject',
    ]);
    const byAction = (a: string) =>
      statements.filter((s) => actions([s]).includes(a)).map((s) => text(s.Resource));
    expect(byAction('lambda:InvokeFunction')).toEqual([
      text({ 'Fn::GetAtt': [stack.getLogicalId(batch.fn.node.defaultChild as never), 'Arn'] }),
    ]);
    expect(byAction('s3:GetObject').join()).toContain(`${BUCKET}/reccert-batch/*`);
    expect(byAction('s3:PutObject').join()).toContain(`${BUCKET}/reccert-batch/reports/*`);
  });

  it('is left out without a recordings bucket, and refuses a name that is no bucket name', () => {
    const { stack: plain } = buildApp({ outdir: outdir(), context: quick });
    expect(plain.recordingBatch).toBeUndefined();

    expect(() =>
      buildApp({ outdir: outdir(), context: { ...quick, recordingsBucket: 'Not A Bucket' } }),
    ).toThrow(/recordingsBucket must be an S3 bucket name/);
  });
});
