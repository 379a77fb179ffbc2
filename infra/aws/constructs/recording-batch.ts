/**
 * Rewrap and verify at cloud scale (DESIGN section 10): the recording-batch function that S3
 * Batch Operations invokes per object of the recordings bucket
 * (functions/aws/handlers/recording-batch.ts), and the role the batch job assumes. How to start a
 * job (`aws s3control create-job`) is in docs/aws.md.
 *
 * The function may read and write the recordings bucket's objects, open sealed keys through the
 * keystore (as the decrypt function does) and read certificates; nothing else. The job role may
 * invoke that function, read the manifest and write the completion report, both under
 * {@link BATCH_PREFIX} of the recordings bucket; nothing else.
 */
import { Arn, Aws, Duration, Stack, Validations } from 'aws-cdk-lib';
import { PolicyStatement, Role, ServicePrincipal } from 'aws-cdk-lib/aws-iam';
import type { NodejsFunction } from 'aws-cdk-lib/aws-lambda-nodejs';
import type { CfnBucket } from 'aws-cdk-lib/aws-s3';
import type { Construct } from 'constructs';
import { StackPart } from '../logical-ids';
import type { Custody } from './custody';
import { boundDataKeys, type Functions, sseKmsThroughS3 } from './functions';
import type { Metadata } from './metadata';

/** Where in the recordings bucket the job's manifests (or inventory reports) and reports live. */
export const BATCH_PREFIX = 'reccert-batch/';

/** What the batch parts reach. */
export interface RecordingBatchProps {
  functions: Functions;
  custody: Custody;
  metadata: Metadata;
  /** The bucket the tenant's recordings live in (its name). */
  recordingsBucketName: string;
  handlersDir?: string | undefined;
}

/** The recording-batch function and the S3 Batch Operations job role. */
export class RecordingBatch extends StackPart {
  readonly fn: NodejsFunction;
  readonly jobRole: Role;

  constructor(scope: Construct, id: string, props: RecordingBatchProps) {
    super(scope, id);
    const { custody, metadata, recordingsBucketName } = props;
    if (!/^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$/.test(recordingsBucketName)) {
      throw new Error(
        `reccert: recordingsBucket must be an S3 bucket name, not ${JSON.stringify(recordingsBucketName)}.`,
      );
    }
    const bucketArn = Arn.format(
      { service: 's3', region: '', account: '', resource: recordingsBucketName },
      Stack.of(this),
    );
    const objectsArn = `${bucketArn}/*`;

    // A rewrap reads the whole object once to check its tag: up to the Lambda maximum.
    this.fn = props.functions.lambda(
      'recording-batch',
      props.handlersDir,
      {
        TABLE_NAME: metadata.table.tableName,
        BUCKET_NAME: custody.keyBucket.bucketName,
        KMS_KEY_ID: custody.keystoreKey.keyArn,
      },
      Duration.minutes(15),
    );
    const allow = (statement: PolicyStatement) => this.fn.addToRolePolicy(statement);
    // Recordings: HEAD/ranged GETs of any version, the new object (PutObject covers the
    // multipart calls and UploadPartCopy's write; the copy's read is GetObject(Version)), and
    // the abort of an upload whose tag failed.
    allow(
      new PolicyStatement({
        actions: ['s3:GetObject', 's3:GetObjectVersion', 's3:PutObject', 's3:AbortMultipartUpload'],
        resources: [objectsArn],
      }),
    );
    // Without ListBucket, S3 answers a missing key 403 rather than 404: the report would say
    // FORBIDDEN where the truth is NOT_FOUND. It lists keys; the function reads objects anyway.
    allow(new PolicyStatement({ actions: ['s3:ListBucket'], resources: [bucketArn] }));
    // Custody, as the decrypt function: one sealed key object, opened with KMS under its
    // {tenantId, certificateId} context; certificates and assignments read from the table.
    allow(new PolicyStatement({ actions: ['s3:GetObject'], resources: [custody.keyObjectsArn()] }));
    allow(boundDataKeys('kms:Decrypt', custody.keystoreKey.keyArn));
    allow(sseKmsThroughS3('kms:Decrypt', custody.keystoreKey.keyArn, custody.keyBucket.bucketArn));
    allow(
      new PolicyStatement({
        actions: ['dynamodb:GetItem', 'dynamodb:Query'],
        resources: [metadata.table.tableArn],
      }),
    );
    // AwsSolutions-IAM5: key objects of every tenant (the tenant is known per job only), each
    // useless without kms:Decrypt under its own context; recordings anywhere in the bucket,
    // because a job's manifest may list any of them.
    const keyObjectsFinding = `AwsSolutions-IAM5[Resource::<${Stack.of(this).getLogicalId(custody.keyBucket.node.defaultChild as CfnBucket)}.Arn>/tenants/*/keys/*]`;
    Validations.of(this.fn.role as Role).acknowledge({
      id: keyObjectsFinding,
      reason:
        'Sealed key objects of any tenant prefix; each opens only with KMS under its own tenant/certificate context.',
    });
    Validations.of(this.fn.role as Role).acknowledge({
      id: `AwsSolutions-IAM5[Resource::arn:<AWS::Partition>:s3:::${recordingsBucketName}/*]`,
      reason:
        'A batch job rewraps or verifies whichever recordings its manifest lists, anywhere in the recordings bucket.',
    });

    // The role S3 Batch Operations assumes to run a job.
    this.jobRole = new Role(this, 'JobRole', {
      assumedBy: new ServicePrincipal('batchoperations.s3.amazonaws.com', {
        conditions: { StringEquals: { 'aws:SourceAccount': Aws.ACCOUNT_ID } },
      }),
      description: 'reccert: S3 Batch Operations jobs that rewrap or verify recordings',
    });
    this.jobRole.addToPolicy(
      new PolicyStatement({ actions: ['lambda:InvokeFunction'], resources: [this.fn.functionArn] }),
    );
    this.jobRole.addToPolicy(
      new PolicyStatement({
        actions: ['s3:GetObject', 's3:GetObjectVersion'],
        resources: [`${bucketArn}/${BATCH_PREFIX}*`],
      }),
    );
    this.jobRole.addToPolicy(
      new PolicyStatement({
        actions: ['s3:PutObject'],
        resources: [`${bucketArn}/${BATCH_PREFIX}reports/*`],
      }),
    );
    this.jobRole.addToPolicy(
      new PolicyStatement({ actions: ['s3:GetBucketLocation'], resources: [bucketArn] }),
    );
    // AwsSolutions-IAM5: manifests and reports are named per job, under the batch prefix only.
    Validations.of(this.jobRole).acknowledge({
      id: `AwsSolutions-IAM5[Resource::arn:<AWS::Partition>:s3:::${recordingsBucketName}/${BATCH_PREFIX}*]`,
      reason: 'Manifests and inventory reports are read from under the batch prefix, whatever their names.',
    });
    Validations.of(this.jobRole).acknowledge({
      id: `AwsSolutions-IAM5[Resource::arn:<AWS::Partition>:s3:::${recordingsBucketName}/${BATCH_PREFIX}reports/*]`,
      reason: 'Completion reports are written under the batch reports prefix, named by S3 per job.',
    });
  }
}
