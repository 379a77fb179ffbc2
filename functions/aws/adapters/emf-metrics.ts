/**
 * The metrics port on AWS: one CloudWatch embedded metric format (EMF) line per count, written to
 * stdout, which CloudWatch Logs turns into metrics in the `reccert` namespace with a `Function`
 * dimension. Written directly rather than with Powertools Metrics: the figures in BENCHMARKS.md
 * ("Lambda bundles and Powertools") show why.
 *
 * The line goes to process.stdout, not console.log: with the functions' JSON log format Lambda
 * wraps console output in its own JSON object, and CloudWatch then no longer sees the `_aws`
 * member at the top level of the event.
 */
import { type MetricName, type Metrics, NO_METRICS } from '../../../shared/metrics';

/** The CloudWatch namespace of every reccert metric (the alarms and dashboard read it). */
export const METRICS_NAMESPACE = 'reccert';
/** The dimension every metric carries: the function group that emitted it. */
export const FUNCTION_DIMENSION = 'Function';

/** Counts as EMF lines for the function `fn`; `write` and `now` for tests. */
export function emfMetrics(
  fn: string,
  write: (line: string) => void = (line) => process.stdout.write(`${line}\n`),
  now: () => number = Date.now,
): Metrics {
  return {
    count(values) {
      const entries = Object.entries(values).filter(
        (entry): entry is [MetricName, number] => typeof entry[1] === 'number' && Number.isFinite(entry[1]),
      );
      if (entries.length === 0) return;
      try {
        write(
          JSON.stringify({
            _aws: {
              Timestamp: now(),
              CloudWatchMetrics: [
                {
                  Namespace: METRICS_NAMESPACE,
                  Dimensions: [[FUNCTION_DIMENSION]],
                  Metrics: entries.map(([name]) => ({ Name: name, Unit: 'Count' })),
                },
              ],
            },
            [FUNCTION_DIMENSION]: fn,
            ...Object.fromEntries(entries),
          }),
        );
      } catch {
        // A metric that cannot be written is lost; the request it counts is not failed for it.
      }
    },
  };
}

/**
 * The metrics of a function: EMF inside Lambda (the runtime sets `AWS_LAMBDA_FUNCTION_NAME`),
 * none elsewhere (`npm run start:aws`, tests), where no CloudWatch reads stdout.
 */
export function lambdaMetrics(fn: string, env: NodeJS.ProcessEnv = process.env): Metrics {
  return env.AWS_LAMBDA_FUNCTION_NAME ? emfMetrics(fn) : NO_METRICS;
}
