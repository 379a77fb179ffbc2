import { emfMetrics, lambdaMetrics } from '../../functions/aws/adapters/emf-metrics';
import { METRIC_NAMES, NO_METRICS } from '../../shared/metrics';

const AT = Date.UTC(2026, 11, 6, 2, 0, 0);

/** The lines an EMF adapter wrote, parsed. */
function capture(): { lines: Record<string, unknown>[]; write: (line: string) => void } {
  const lines: Record<string, unknown>[] = [];
  return { lines, write: (line) => lines.push(JSON.parse(line) as Record<string, unknown>) };
}

describe('emfMetrics (functions/aws/adapters/emf-metrics.ts)', () => {
  it('writes one CloudWatch EMF line per count: namespace reccert, the Function dimension, Count units', () => {
    const { lines, write } = capture();

    emfMetrics('expiry-scan', write, () => AT).count({
      ScanRuns: 1,
      CertificatesScanned: 12,
      NoticesCreated: 3,
    });

    expect(lines).toEqual([
      {
        _aws: {
          Timestamp: AT,
          CloudWatchMetrics: [
            {
              Namespace: 'reccert',
              Dimensions: [['Function']],
              Metrics: [
                { Name: 'ScanRuns', Unit: 'Count' },
                { Name: 'CertificatesScanned', Unit: 'Count' },
                { Name: 'NoticesCreated', Unit: 'Count' },
              ],
            },
          ],
        },
        Function: 'expiry-scan',
        ScanRuns: 1,
        CertificatesScanned: 12,
        NoticesCreated: 3,
      },
    ]);
  });

  it('writes nothing for no value, and leaves out values that are not finite numbers', () => {
    const { lines, write } = capture();
    const metrics = emfMetrics('write', write, () => AT);

    metrics.count({});
    metrics.count({ Uploads: Number.NaN, Decrypts: 1 });

    expect(lines).toHaveLength(1);
    expect(lines[0]).not.toHaveProperty('Uploads');
    expect(lines[0]).toMatchObject({ Decrypts: 1 });
  });

  it('never throws when the line cannot be written (a count must not fail the request)', () => {
    const metrics = emfMetrics('write', () => {
      throw new Error('EPIPE');
    });

    expect(() => metrics.count({ Uploads: 1 })).not.toThrow();
  });

  it('emits only inside Lambda, where CloudWatch reads stdout', () => {
    expect(lambdaMetrics('read', {})).toBe(NO_METRICS);
    expect(lambdaMetrics('read', { AWS_LAMBDA_FUNCTION_NAME: 'Reccert-Read' })).not.toBe(NO_METRICS);
  });

  it('names every metric the alarms and the dashboard read', () => {
    expect([...METRIC_NAMES].sort()).toEqual(
      [
        'CertificatesScanned',
        'Decrypts',
        'NoticesCreated',
        'NoticesDelivered',
        'NoticesFailed',
        'Rewraps',
        'ScanRuns',
        'Uploads',
      ].sort(),
    );
  });
});
