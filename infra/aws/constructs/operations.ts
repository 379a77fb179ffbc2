/**
 * Operations on AWS (issue 17): an operations SNS topic that pages people (an e-mail address
 * subscribed by a deploy parameter), the alarms that notify it, and a CloudWatch dashboard with
 * the same figures. The reccert metrics come from the functions as EMF lines
 * (functions/aws/adapters/emf-metrics.ts, names in shared/metrics.ts).
 */
import { Aws, Duration, Stack } from 'aws-cdk-lib';
import type { HttpApi } from 'aws-cdk-lib/aws-apigatewayv2';
import {
  Alarm,
  ComparisonOperator,
  Dashboard,
  GraphWidget,
  type IMetric,
  MathExpression,
  Metric,
  SingleValueWidget,
  TextWidget,
  TreatMissingData,
} from 'aws-cdk-lib/aws-cloudwatch';
import { SnsAction } from 'aws-cdk-lib/aws-cloudwatch-actions';
import { PolicyStatement, ServicePrincipal } from 'aws-cdk-lib/aws-iam';
import type { Key } from 'aws-cdk-lib/aws-kms';
import type { NodejsFunction } from 'aws-cdk-lib/aws-lambda-nodejs';
import { Topic } from 'aws-cdk-lib/aws-sns';
import { EmailSubscription } from 'aws-cdk-lib/aws-sns-subscriptions';
import type { Construct } from 'constructs';
import { FUNCTION_DIMENSION, METRICS_NAMESPACE } from '../../../functions/aws/adapters/emf-metrics';
import type { MetricName } from '../../../shared/metrics';
import { StackPart } from '../logical-ids';
import { FUNCTION_NAMES, type FunctionName, pascal } from './functions';

/** The API's 5xx share (percent of requests in 5 minutes) that alarms, twice in a row. */
export const API_5XX_PERCENT = 5;
/** The API's p99 latency (ms) that alarms, three 5-minute periods in a row. */
export const API_P99_MS = 5000;
/** Hours without a finished scheduled scan after which the missed-scan alarm fires. */
export const MISSED_SCAN_HOURS = 26;

/** What the operations part watches. */
export interface OperationsProps {
  functions: Record<FunctionName, NodejsFunction>;
  httpApi: HttpApi;
  /** Alarms that exist already (the assignment dead-letter queue's) and notify the topic too. */
  existingAlarms: Alarm[];
  /** Encrypts the operations topic (the messaging key; CloudWatch is allowed to use it). */
  messagingKey: Key;
  /** An e-mail address subscribed to the operations topic (none if unset). */
  email?: string | undefined;
}

/** The operations topic, the alarms on it and the dashboard. */
export class Operations extends StackPart {
  /** Alarm notifications (people subscribe to it). */
  readonly topic: Topic;
  /** Every alarm that notifies the topic. */
  readonly alarms: Alarm[] = [];
  /** The reccert dashboard. */
  readonly dashboard: Dashboard;

  constructor(scope: Construct, id: string, props: OperationsProps) {
    super(scope, id);
    const { functions, httpApi, messagingKey } = props;

    this.topic = new Topic(this, 'OperationsTopic', {
      displayName: 'reccert operations alarms',
      masterKey: messagingKey,
      enforceSSL: true,
    });
    // CloudWatch publishes alarm notifications to the encrypted topic: it needs the data key, for
    // this account's alarms only.
    messagingKey.addToResourcePolicy(
      new PolicyStatement({
        principals: [new ServicePrincipal('cloudwatch.amazonaws.com')],
        actions: ['kms:GenerateDataKey', 'kms:Decrypt'],
        resources: ['*'],
        conditions: { StringEquals: { 'aws:SourceAccount': Aws.ACCOUNT_ID } },
      }),
    );
    if (props.email !== undefined) this.topic.addSubscription(new EmailSubscription(props.email));
    const notify = new SnsAction(this.topic);

    const alarm = (
      id: string,
      description: string,
      metric: IMetric,
      options: {
        threshold: number;
        evaluationPeriods?: number;
        comparison?: ComparisonOperator;
        missing?: TreatMissingData;
      },
    ) => {
      const created = new Alarm(this, id, {
        alarmDescription: description,
        metric,
        threshold: options.threshold,
        evaluationPeriods: options.evaluationPeriods ?? 1,
        comparisonOperator: options.comparison ?? ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
        treatMissingData: options.missing ?? TreatMissingData.NOT_BREACHING,
      });
      created.addAlarmAction(notify);
      this.alarms.push(created);
      return created;
    };

    for (const existing of props.existingAlarms) {
      existing.addAlarmAction(notify);
      this.alarms.push(existing);
    }

    const fiveMinutes = Duration.minutes(5);
    for (const name of FUNCTION_NAMES) {
      const fn = functions[name];
      alarm(
        `${pascal(name)}ErrorsAlarm`,
        `The ${name} function failed (an uncaught error or a timeout).`,
        fn.metricErrors({ period: fiveMinutes }),
        { threshold: 1 },
      );
      alarm(
        `${pascal(name)}ThrottlesAlarm`,
        `The ${name} function was throttled (account or function concurrency exhausted).`,
        fn.metricThrottles({ period: fiveMinutes }),
        { threshold: 1 },
      );
    }

    const requests = httpApi.metricCount({ period: fiveMinutes });
    const serverErrors = httpApi.metricServerError({ period: fiveMinutes });
    const serverErrorRate = new MathExpression({
      expression: 'IF(requests > 0, 100 * errors / requests, 0)',
      usingMetrics: { requests, errors: serverErrors },
      label: 'API 5xx (% of requests)',
      period: fiveMinutes,
    });
    alarm(
      'Api5xxRateAlarm',
      `More than ${API_5XX_PERCENT}% of API requests answered 5xx, twice in a row (5 minutes each).`,
      serverErrorRate,
      {
        threshold: API_5XX_PERCENT,
        evaluationPeriods: 2,
        comparison: ComparisonOperator.GREATER_THAN_THRESHOLD,
      },
    );
    const p99 = httpApi.metricLatency({ period: fiveMinutes, statistic: 'p99' });
    alarm('ApiLatencyP99Alarm', `The API's p99 latency was over ${API_P99_MS} ms for 15 minutes.`, p99, {
      threshold: API_P99_MS,
      evaluationPeriods: 3,
      comparison: ComparisonOperator.GREATER_THAN_THRESHOLD,
    });

    // No ScanRuns for 26 one-hour periods: missing data counts as breaching, since a scan that
    // never ran emits nothing at all.
    alarm(
      'MissedExpiryScanAlarm',
      `No scheduled expiry scan has finished for ${MISSED_SCAN_HOURS} hours (it runs daily).`,
      reccertMetric('ScanRuns', 'expiry-scan', Duration.hours(1)),
      {
        threshold: 1,
        evaluationPeriods: MISSED_SCAN_HOURS,
        comparison: ComparisonOperator.LESS_THAN_THRESHOLD,
        missing: TreatMissingData.BREACHING,
      },
    );
    // Failures for 15 minutes in a row: the receiver is down or refuses the signature; the
    // notices wait in the outbox and are retried every minute meanwhile.
    alarm(
      'WebhookDeliveriesFailingAlarm',
      'Webhook notices have failed to be delivered for 15 minutes; they wait in the outbox and are retried.',
      reccertMetric('NoticesFailed', 'webhook-delivery', fiveMinutes),
      { threshold: 1, evaluationPeriods: 3 },
    );

    this.dashboard = new Dashboard(this, 'Dashboard', {
      dashboardName: `reccert-${Stack.of(this).stackName}`,
      defaultInterval: Duration.days(7),
    });
    const byFunction = (metric: (fn: NodejsFunction) => IMetric) =>
      FUNCTION_NAMES.map((name) => metric(functions[name]));
    this.dashboard.addWidgets(
      new TextWidget({
        markdown:
          '# reccert\nAlarms notify the operations topic. Figures: API traffic, function health, uploads, decrypts, rewraps, the daily scan and webhook notices.',
        width: 24,
        height: 2,
      }),
    );
    this.dashboard.addWidgets(
      new GraphWidget({ title: 'API requests and 5xx', left: [requests, serverErrors], width: 8 }),
      new GraphWidget({ title: 'API 5xx rate (%)', left: [serverErrorRate], width: 8 }),
      new GraphWidget({ title: 'API latency p99 (ms)', left: [p99], width: 8 }),
    );
    this.dashboard.addWidgets(
      new GraphWidget({
        title: 'Function errors',
        left: byFunction((fn) => fn.metricErrors({ period: fiveMinutes })),
        width: 12,
      }),
      new GraphWidget({
        title: 'Function throttles',
        left: byFunction((fn) => fn.metricThrottles({ period: fiveMinutes })),
        width: 12,
      }),
    );
    const hourly = Duration.hours(1);
    this.dashboard.addWidgets(
      new GraphWidget({
        title: 'Uploads, decrypts, rewraps',
        left: [
          reccertMetric('Uploads', 'write', hourly),
          reccertMetric('Decrypts', 'decrypt', hourly),
          reccertMetric('Rewraps', 'decrypt', hourly),
        ],
        width: 8,
      }),
      new GraphWidget({
        title: 'Daily expiry scan',
        left: [
          reccertMetric('CertificatesScanned', 'expiry-scan', Duration.days(1)),
          reccertMetric('NoticesCreated', 'expiry-scan', Duration.days(1)),
        ],
        right: [reccertMetric('ScanRuns', 'expiry-scan', Duration.days(1))],
        width: 8,
      }),
      new GraphWidget({
        title: 'Webhook notices',
        left: [
          reccertMetric('NoticesDelivered', 'webhook-delivery', hourly),
          reccertMetric('NoticesFailed', 'webhook-delivery', hourly),
        ],
        width: 8,
      }),
    );
    this.dashboard.addWidgets(
      new SingleValueWidget({
        title: 'Assignment dead letters',
        metrics: props.existingAlarms.map((a) => a.metric),
        width: 24,
      }),
    );
  }
}

/** A reccert metric (EMF, namespace `reccert`) of one function, summed over `period`. */
export function reccertMetric(name: MetricName, fn: FunctionName, period: Duration): Metric {
  return new Metric({
    namespace: METRICS_NAMESPACE,
    metricName: name,
    dimensionsMap: { [FUNCTION_DIMENSION]: fn },
    statistic: 'Sum',
    period,
  });
}
