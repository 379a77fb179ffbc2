/**
 * Events and schedules on AWS (DESIGN section 5): the domain event bus, the assignment queue with
 * its dead-letter queue and alarm, the expiry notification topic under its own KMS key, and the
 * daily EventBridge Scheduler schedule of the expiry scan.
 */
import { Aws, type CfnCondition, Duration, Fn, Lazy, RemovalPolicy, Stack, Validations } from 'aws-cdk-lib';
import { Alarm, ComparisonOperator, TreatMissingData } from 'aws-cdk-lib/aws-cloudwatch';
import { EventBus, Rule } from 'aws-cdk-lib/aws-events';
import { SqsQueue } from 'aws-cdk-lib/aws-events-targets';
import { Role, ServicePrincipal } from 'aws-cdk-lib/aws-iam';
import { Key } from 'aws-cdk-lib/aws-kms';
import type { CfnFunction, IFunction } from 'aws-cdk-lib/aws-lambda';
import { type CfnSchedule, Schedule, ScheduleExpression } from 'aws-cdk-lib/aws-scheduler';
import { LambdaInvoke } from 'aws-cdk-lib/aws-scheduler-targets';
import { Topic } from 'aws-cdk-lib/aws-sns';
import { EmailSubscription } from 'aws-cdk-lib/aws-sns-subscriptions';
import { Queue, QueueEncryption } from 'aws-cdk-lib/aws-sqs';
import type { Construct } from 'constructs';
import { flatUniqueId, StackPart } from '../logical-ids';

/** The bus, the queues, the topic and (once the function exists) the schedule. */
export class Events extends StackPart {
  /** Domain events (`source: reccert`). */
  readonly bus: EventBus;
  /** IvrAssignmentRequested events, for the assignment consumer. */
  readonly assignments: Queue;
  /** Fires on the first assignment request that failed five times. */
  readonly deadLetterAlarm: Alarm;
  /** Expiry notifications (DESIGN section 5: people subscribe to it). */
  readonly topic: Topic;
  /** Encrypts the topic; the expiry scan uses it through SNS only. */
  readonly messagingKey: Key;

  constructor(scope: Construct, id: string) {
    super(scope, id);

    // Notifications and alarms use their own key, so the expiry scan never holds the keystore key.
    this.messagingKey = new Key(this, 'MessagingKey', {
      description: 'reccert: encrypts the expiry notification topic',
      enableKeyRotation: true,
      removalPolicy: RemovalPolicy.RETAIN,
    });

    this.bus = new EventBus(this, 'Bus', {
      description: 'reccert domain events',
      // The name CDK generated when the bus sat directly in the stack: a new name would replace
      // the bus (logical-ids.ts).
      eventBusName: Lazy.string({ produce: () => flatUniqueId(this.bus) }),
    });
    const deadLetters = new Queue(this, 'AssignmentDeadLetterQueue', {
      encryption: QueueEncryption.SQS_MANAGED,
      enforceSSL: true,
      retentionPeriod: Duration.days(14),
    });
    this.assignments = new Queue(this, 'AssignmentQueue', {
      encryption: QueueEncryption.SQS_MANAGED,
      enforceSSL: true,
      // Six times the consumer's timeout, as Lambda recommends for SQS event sources.
      visibilityTimeout: Duration.seconds(180),
      deadLetterQueue: { queue: deadLetters, maxReceiveCount: 5 },
    });
    new Rule(this, 'IvrAssignmentRequestedRule', {
      eventBus: this.bus,
      description: 'IvrAssignmentRequested -> assignment queue',
      eventPattern: { source: ['reccert'], detailType: ['IvrAssignmentRequested'] },
      targets: [new SqsQueue(this.assignments)],
    });
    this.deadLetterAlarm = new Alarm(this, 'AssignmentDeadLetterAlarm', {
      alarmDescription: 'Assignment requests failed five times and wait in the dead-letter queue.',
      metric: deadLetters.metricApproximateNumberOfMessagesVisible({ period: Duration.minutes(5) }),
      threshold: 1,
      evaluationPeriods: 1,
      comparisonOperator: ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
      treatMissingData: TreatMissingData.NOT_BREACHING,
    });
    this.topic = new Topic(this, 'ExpiryTopic', {
      displayName: 'reccert certificate expiry',
      masterKey: this.messagingKey,
      enforceSSL: true,
    });
  }

  /**
   * Runs the expiry scan daily at `hourUtc`:00 UTC. Scheduler retries, then the run of the next
   * day catches up (the scan reads everything due up to now, so nothing is skipped).
   */
  scheduleExpiryScan(expiryScan: IFunction, hourUtc: number): void {
    const schedulerRole = new Role(this, 'ExpiryScheduleRole', {
      assumedBy: new ServicePrincipal('scheduler.amazonaws.com', {
        conditions: { StringEquals: { 'aws:SourceAccount': Aws.ACCOUNT_ID } },
      }),
      description: 'Lets the daily schedule invoke the expiry scan.',
    });
    // AwsSolutions-IAM5: CDK's LambdaInvoke target grants the function and its versions/aliases
    // (`<arn>:*`); the role can invoke nothing but the expiry scan.
    Validations.of(schedulerRole).acknowledge({
      id: `AwsSolutions-IAM5[Resource::<${Stack.of(this).getLogicalId(expiryScan.node.defaultChild as CfnFunction)}.Arn>:*]`,
      reason: 'Invoke permission on the expiry-scan function and its qualified versions only.',
    });
    new Schedule(this, 'ExpirySchedule', {
      description: 'reccert daily expiry scan',
      schedule: ScheduleExpression.cron({ minute: '0', hour: String(hourUtc) }),
      target: new LambdaInvoke(expiryScan, { role: schedulerRole, retryAttempts: 3 }),
    });
  }

  /**
   * Runs the webhook delivery every minute while `enabled` holds (a webhook URL is set); the
   * schedule exists either way, disabled without one, so setting the URL later is an update.
   * A missed run loses nothing: the outbox items wait for the next one.
   */
  scheduleWebhookDelivery(delivery: IFunction, enabled: CfnCondition): void {
    const role = new Role(this, 'WebhookScheduleRole', {
      assumedBy: new ServicePrincipal('scheduler.amazonaws.com', {
        conditions: { StringEquals: { 'aws:SourceAccount': Aws.ACCOUNT_ID } },
      }),
      description: 'Lets the minutely schedule invoke the webhook delivery.',
    });
    // AwsSolutions-IAM5: as for the expiry schedule, the grant covers the delivery function and its
    // qualified versions only.
    Validations.of(role).acknowledge({
      id: `AwsSolutions-IAM5[Resource::<${Stack.of(this).getLogicalId(delivery.node.defaultChild as CfnFunction)}.Arn>:*]`,
      reason: 'Invoke permission on the webhook-delivery function and its qualified versions only.',
    });
    const schedule = new Schedule(this, 'WebhookDeliverySchedule', {
      description: 'reccert webhook delivery from the outbox',
      schedule: ScheduleExpression.rate(Duration.minutes(1)),
      target: new LambdaInvoke(delivery, { role, retryAttempts: 0 }),
    });
    (schedule.node.defaultChild as CfnSchedule).state = Fn.conditionIf(
      enabled.logicalId,
      'ENABLED',
      'DISABLED',
    ).toString();
  }

  /**
   * Subscribes an e-mail address to the expiry topic (DESIGN section 5: notices reach people).
   * SNS mails a confirmation link first; nothing is delivered until it is followed.
   */
  subscribeEmail(address: string): void {
    this.topic.addSubscription(new EmailSubscription(address));
  }
}
