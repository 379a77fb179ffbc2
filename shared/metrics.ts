/**
 * Operational metrics (issue 17, "Operations"): a small port the runtimes count through, so the
 * core names the figures once and each cloud publishes them its own way (CloudWatch embedded
 * metric format on AWS, functions/aws/adapters/emf-metrics.ts). The alarms and the dashboard of
 * infra/aws read these names.
 */

/** Every figure reccert counts; the CloudWatch metric names in the `reccert` namespace. */
export const METRIC_NAMES = [
  /** A certificate (and its key) stored. */
  'Uploads',
  /** A recording decrypted and returned (its tag verified). */
  'Decrypts',
  /** A recording rewrapped for other certificates. */
  'Rewraps',
  /** A scheduled expiry scan finished; its absence for 26 hours is the missed-scan alarm. */
  'ScanRuns',
  /** Certificates a scheduled scan looked at. */
  'CertificatesScanned',
  /** Notices a scheduled scan created. */
  'NoticesCreated',
  /** Webhook notices acknowledged with a 2xx. */
  'NoticesDelivered',
  /** Webhook attempts that failed (and will be retried). */
  'NoticesFailed',
] as const;

/** One of {@link METRIC_NAMES}. */
export type MetricName = (typeof METRIC_NAMES)[number];

/** Where counts go. Counting never throws and never waits: it must not fail the request. */
export interface Metrics {
  /** Adds `value` to the metric (several at once share one timestamp). */
  count(values: Partial<Record<MetricName, number>>): void;
}

/** Counts nothing: the runtimes and tests that publish no metrics. */
export const NO_METRICS: Metrics = { count: () => undefined };

/**
 * The metric a successful (2xx) answer of a route counts in, by operationId; routes not listed
 * count nothing.
 */
export const ROUTE_METRICS: ReadonlyMap<string, MetricName> = new Map<string, MetricName>([
  ['uploadCertificate', 'Uploads'],
  ['decryptRecording', 'Decrypts'],
  ['rewrapRecording', 'Rewraps'],
]);
