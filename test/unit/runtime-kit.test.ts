/**
 * What the runtimes share (issue 14): the path template compiler every router matches through,
 * the expiry-threshold setting, build-on-first-use and the daily scan's clock.
 */
import { functionFor } from '../../functions/aws/routing';
import { once, onceOrRetry } from '../../functions/common/once';
import { msUntilNextScan } from '../../functions/common/schedule';
import { matchRoute } from '../../scripts/hosts/functions-host';
import { DEFAULT_THRESHOLDS_DAYS, parseExpiryThresholds } from '../../shared/domain/expiry';
import { compilePathTemplate } from '../../shared/http/path-template';
import { routes } from '../../shared/http/routes';

describe('compilePathTemplate', () => {
  it('captures each {name} as one segment, in order, with or without a trailing slash', () => {
    const { pattern, names } = compilePathTemplate('/v1/tenants/{tenantId}/certificates/{certificateId}');

    expect(names).toEqual(['tenantId', 'certificateId']);
    expect(pattern.exec('/v1/tenants/acme/certificates/c-1')?.slice(1)).toEqual(['acme', 'c-1']);
    expect(pattern.test('/v1/tenants/acme/certificates/c-1/')).toBe(true);
    expect(pattern.test('/v1/tenants/acme/x/certificates/c-1')).toBe(false);
  });

  it('matches literal text literally (a dot is not any character)', () => {
    const { pattern } = compilePathTemplate('/v1/openapi.json');

    expect(pattern.test('/v1/openapi.json')).toBe(true);
    expect(pattern.test('/v1/openapiXjson')).toBe(false);
  });

  it('refuses a trailing slash when asked to, as API Gateway does', () => {
    const { pattern } = compilePathTemplate('/v1/health', { trailingSlash: false });

    expect(pattern.test('/v1/health')).toBe(true);
    expect(pattern.test('/v1/health/')).toBe(false);
  });

  it('takes the rest of the path for {*name} and ignores case when asked to, as the Functions host does', () => {
    const { pattern, names } = compilePathTemplate('/v1/{*path}', { ignoreCase: true });

    expect(names).toEqual(['path']);
    expect(pattern.exec('/V1/a/b/c')?.[1]).toBe('a/b/c');
  });

  it('sends every route of the table to the same route in the API, on AWS and in the Functions host', () => {
    for (const route of routes) {
      const concrete = route.path.replace(/\{\w+\}/g, 'x-1');
      expect(compilePathTemplate(route.path).pattern.test(concrete)).toBe(true);
      expect(functionFor(route.method, concrete)).toBeDefined();
      expect(matchRoute(route.method, concrete)?.registration.name).toBe(route.operationId);
    }
  });
});

describe('parseExpiryThresholds', () => {
  it('gives the defaults when unset or blank', () => {
    expect(parseExpiryThresholds(undefined)).toEqual([...DEFAULT_THRESHOLDS_DAYS]);
    expect(parseExpiryThresholds(' ')).toEqual([...DEFAULT_THRESHOLDS_DAYS]);
  });

  it('reads comma-separated whole days', () => {
    expect(parseExpiryThresholds('90, 30,7')).toEqual([90, 30, 7]);
  });

  it.each(['0', '-1', '1.5', 'ninety', '3651', '90,,7'])('refuses %p, naming the setting', (raw) => {
    expect(() => parseExpiryThresholds(raw)).toThrow(/RECCERT_EXPIRY_THRESHOLDS/);
  });
});

describe('once', () => {
  it('builds on the first call only', () => {
    let builds = 0;
    const get = once(() => ({ build: ++builds }));

    const first = get();

    expect(get()).toBe(first);
    expect(builds).toBe(1);
  });
});

describe('onceOrRetry', () => {
  it('reuses a successful build', async () => {
    let builds = 0;
    const get = onceOrRetry(async () => ({ build: ++builds }));

    const first = await get();

    expect(await get()).toBe(first);
    expect(builds).toBe(1);
  });

  it('tries again after a failed build instead of failing forever', async () => {
    let builds = 0;
    const get = onceOrRetry(async () => {
      builds++;
      if (builds === 1) throw new Error('setting missing');
      return 'built';
    });

    await expect(get()).rejects.toThrow('setting missing');

    expect(await get()).toBe('built');
    expect(builds).toBe(2);
  });
});

describe('msUntilNextScan', () => {
  it('waits until the hour today when it is still ahead', () => {
    expect(msUntilNextScan(new Date('2026-03-01T01:30:00Z'), 2)).toBe(30 * 60_000);
  });

  it('waits until tomorrow once the hour has begun', () => {
    expect(msUntilNextScan(new Date('2026-03-01T02:00:00Z'), 2)).toBe(24 * 3_600_000);
    expect(msUntilNextScan(new Date('2026-12-31T23:00:00Z'), 2)).toBe(3 * 3_600_000);
  });
});
