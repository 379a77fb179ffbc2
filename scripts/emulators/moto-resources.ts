/**
 * Creates in a moto server what the CDK stack creates in an account (infra/aws/reccert-stack.ts):
 * the table with its expiry index, the versioned key bucket, the keystore KMS key, the event bus,
 * the assignment queue with its dead-letter queue and the bus rule feeding it, and the expiry
 * topic. Idempotent: on a server that already has them (a restarted `npm run start:aws` attached
 * to the same moto), it only looks them up.
 */
import { DescribeTableCommand, DynamoDBClient } from '@aws-sdk/client-dynamodb';
import {
  CreateEventBusCommand,
  DescribeEventBusCommand,
  EventBridgeClient,
  PutRuleCommand,
  PutTargetsCommand,
} from '@aws-sdk/client-eventbridge';
import { CreateAliasCommand, CreateKeyCommand, DescribeKeyCommand, KMSClient } from '@aws-sdk/client-kms';
import {
  CreateBucketCommand,
  HeadBucketCommand,
  PutBucketVersioningCommand,
  S3Client,
} from '@aws-sdk/client-s3';
import { CreateTopicCommand, SNSClient } from '@aws-sdk/client-sns';
import { CreateQueueCommand, GetQueueAttributesCommand, SQSClient } from '@aws-sdk/client-sqs';
import { DUE_INDEX_NAME } from '../../functions/aws/adapters/dynamodb-repository';
import { createTable } from '../../functions/aws/adapters/dynamodb-schema';
import { EVENT_SOURCE } from '../../functions/aws/adapters/eventbridge-publisher';

/** moto accepts any credentials; these fixed dummies keep real ones out of every request. */
export const MOTO_CREDENTIALS = { accessKeyId: 'reccert-moto', secretAccessKey: 'reccert-moto' } as const;
export const MOTO_REGION = 'us-east-1';

/** SDK client settings for a moto endpoint. */
export function motoClientConfig(endpoint: string) {
  return { endpoint, region: MOTO_REGION, credentials: { ...MOTO_CREDENTIALS } };
}

/** What was created: the functions' environment (as the stack sets it) and the queue to poll. */
export interface AwsResources {
  /** TABLE_NAME, DUE_INDEX_NAME, BUCKET_NAME, KMS_KEY_ID, EVENT_BUS_NAME, TOPIC_ARN. */
  env: Record<string, string>;
  queueUrl: string;
  queueArn: string;
  deadLetterQueueUrl: string;
}

function nameOf(error: unknown): string {
  return typeof error === 'object' && error !== null && 'name' in error ? String(error.name) : '';
}

/**
 * Provisions the resources named after `prefix` (default `reccert`) in the moto at `endpoint`.
 * `visibilityTimeoutSeconds` is short by default so that a failed assignment is retried soon.
 */
export async function provisionAwsResources(
  endpoint: string,
  options: { prefix?: string; visibilityTimeoutSeconds?: number } = {},
): Promise<AwsResources> {
  const prefix = options.prefix ?? 'reccert';
  const config = motoClientConfig(endpoint);
  const dynamodb = new DynamoDBClient(config);
  const s3 = new S3Client({ ...config, forcePathStyle: true });
  const kms = new KMSClient(config);
  const events = new EventBridgeClient(config);
  const sqs = new SQSClient(config);
  const sns = new SNSClient(config);
  try {
    const tableName = `${prefix}-table`;
    try {
      await dynamodb.send(new DescribeTableCommand({ TableName: tableName }));
    } catch (error) {
      if (nameOf(error) !== 'ResourceNotFoundException') throw error;
      await createTable(dynamodb, tableName);
    }

    const bucketName = `${prefix}-keys`;
    try {
      await s3.send(new HeadBucketCommand({ Bucket: bucketName }));
    } catch (error) {
      if (nameOf(error) !== 'NotFound' && nameOf(error) !== 'NoSuchBucket') throw error;
      await s3.send(new CreateBucketCommand({ Bucket: bucketName }));
    }
    await s3.send(
      new PutBucketVersioningCommand({ Bucket: bucketName, VersioningConfiguration: { Status: 'Enabled' } }),
    );

    const alias = `alias/${prefix}-keystore`;
    let keyArn: string | undefined;
    try {
      keyArn = (await kms.send(new DescribeKeyCommand({ KeyId: alias }))).KeyMetadata?.Arn;
    } catch (error) {
      if (nameOf(error) !== 'NotFoundException') throw error;
      const created = await kms.send(new CreateKeyCommand({ Description: 'reccert keystore (moto)' }));
      keyArn = created.KeyMetadata?.Arn;
      await kms.send(new CreateAliasCommand({ AliasName: alias, TargetKeyId: created.KeyMetadata?.KeyId }));
    }
    if (keyArn === undefined) throw new Error('moto returned no KMS key');

    const busName = `${prefix}-bus`;
    try {
      await events.send(new DescribeEventBusCommand({ Name: busName }));
    } catch (error) {
      if (nameOf(error) !== 'ResourceNotFoundException') throw error;
      await events.send(new CreateEventBusCommand({ Name: busName }));
    }

    const queueArnOf = async (url: string) =>
      (await sqs.send(new GetQueueAttributesCommand({ QueueUrl: url, AttributeNames: ['QueueArn'] })))
        .Attributes?.QueueArn ?? '';
    const deadLetterQueueUrl =
      (await sqs.send(new CreateQueueCommand({ QueueName: `${prefix}-assignments-dlq` }))).QueueUrl ?? '';
    const deadLetterArn = await queueArnOf(deadLetterQueueUrl);
    const queueUrl =
      (
        await sqs.send(
          new CreateQueueCommand({
            QueueName: `${prefix}-assignments`,
            Attributes: {
              VisibilityTimeout: String(options.visibilityTimeoutSeconds ?? 5),
              // As in the stack: five receives, then the dead-letter queue.
              RedrivePolicy: JSON.stringify({ deadLetterTargetArn: deadLetterArn, maxReceiveCount: 5 }),
            },
          }),
        )
      ).QueueUrl ?? '';
    const queueArn = await queueArnOf(queueUrl);
    const ruleName = `${prefix}-ivr-assignment-requested`;
    await events.send(
      new PutRuleCommand({
        Name: ruleName,
        EventBusName: busName,
        EventPattern: JSON.stringify({ source: [EVENT_SOURCE], 'detail-type': ['IvrAssignmentRequested'] }),
      }),
    );
    await events.send(
      new PutTargetsCommand({
        Rule: ruleName,
        EventBusName: busName,
        Targets: [{ Id: 'assignments', Arn: queueArn }],
      }),
    );

    const topicArn = (await sns.send(new CreateTopicCommand({ Name: `${prefix}-expiry` }))).TopicArn ?? '';

    return {
      env: {
        TABLE_NAME: tableName,
        DUE_INDEX_NAME,
        BUCKET_NAME: bucketName,
        KMS_KEY_ID: keyArn,
        EVENT_BUS_NAME: busName,
        TOPIC_ARN: topicArn,
      },
      queueUrl,
      queueArn,
      deadLetterQueueUrl,
    };
  } finally {
    for (const client of [dynamodb, s3, kms, events, sqs, sns]) client.destroy();
  }
}
