/**
 * SDK clients pointed at the moto server of this jest run. Credentials are moto's dummies; no
 * real account is ever reached.
 */
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { EventBridgeClient } from '@aws-sdk/client-eventbridge';
import { KMSClient } from '@aws-sdk/client-kms';
import { S3Client } from '@aws-sdk/client-s3';
import { SNSClient } from '@aws-sdk/client-sns';
import { SQSClient } from '@aws-sdk/client-sqs';
import { motoEndpoint } from './moto';

const base = () => ({
  endpoint: motoEndpoint(),
  region: 'us-east-1',
  credentials: { accessKeyId: 'testing', secretAccessKey: 'testing' },
  // moto answers at once; retries only slow down failure-path tests.
  maxAttempts: 1,
});

/** One set of clients against moto. */
export function motoClients() {
  return {
    dynamodb: new DynamoDBClient(base()),
    s3: new S3Client({ ...base(), forcePathStyle: true }),
    kms: new KMSClient(base()),
    events: new EventBridgeClient(base()),
    sns: new SNSClient(base()),
    sqs: new SQSClient(base()),
  };
}
