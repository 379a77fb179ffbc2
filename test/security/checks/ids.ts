/**
 * Threat model, "ids": every path parameter (and id in a body or query) is a key a caller picks.
 * Object-prototype names must behave like any other id (regression class of #8): the same answer
 * as an ordinary id nobody used (or a 400 where the id's syntax is refused), never 200 `{}`,
 * never a 5xx, and an assignment to such a profile is applied like any other.
 */
import { randomUUID } from 'node:crypto';
import { routes } from '../../../shared/http/routes';
import { type Ctx, sampleBodies, tokenFor } from '../context';
import { eventually, paramsOf, pathOf, type Reply } from '../harness';

export const PROTOTYPE_NAMES = [
  'constructor',
  '__proto__',
  'toString',
  'hasOwnProperty',
  'valueOf',
  'prototype',
];

const shape = (r: Reply) => `${r.status} ${r.json?.error?.code ?? ''}`;

function problemsOf(label: string, reply: Reply, ordinary: Reply): string[] {
  const out: string[] = [];
  if (reply.status === 0 || reply.status >= 500)
    out.push(`${label}: ${reply.status} ${reply.error ?? reply.body.toString().slice(0, 80)}`);
  if (
    reply.status === 200 &&
    reply.json &&
    typeof reply.json === 'object' &&
    Object.keys(reply.json).length === 0
  )
    out.push(`${label}: 200 {}`);
  const refusedSyntax = reply.status === 400 && reply.json?.error?.code === 'VALIDATION_ERROR';
  if (!refusedSyntax && shape(reply) !== shape(ordinary))
    out.push(`${label}: ${shape(reply)}, an ordinary unknown id: ${shape(ordinary)}`);
  return out;
}

export function idChecks(get: () => Ctx): void {
  describe('prototype names as ids (threat model: ids)', () => {
    const ordinary: Record<string, string> = {
      tenantId: `sec-ordinary-${randomUUID().slice(0, 6)}`,
      certificateId: 'unknown-certificate',
      profileId: `ordinary-${randomUUID().slice(0, 6)}`,
    };

    beforeAll(async () => {
      await get().t.ensureUp('before id checks');
    });

    it('regression #8: every path parameter of every route treats prototype names like any other id', async () => {
      const ctx = get();
      const problems: string[] = [];
      let cells = 0;
      for (const route of routes) {
        const sample = sampleBodies(ctx, route).find((s) => s.kind !== 'multipart');
        for (const param of paramsOf(route)) {
          const send = async (value: string) => {
            const values = { ...ctx.values, [param]: value };
            return ctx.t.request(route.method, pathOf(route, values), {
              token: await tokenFor(ctx, route, values.tenantId),
              ...(sample ? { contentType: sample.contentType, body: sample.body } : {}),
            });
          };
          const ordinaryValue = ordinary[param] ?? `ordinary-${param}`;
          let base = await send(ordinaryValue);
          for (const name of PROTOTYPE_NAMES) {
            cells++;
            const label = `${route.method} ${route.path} {${param}}=${name}`;
            let found = problemsOf(label, await send(name), base);
            // The Azure flow assigns each upload to `record` through the event queue, so a read
            // that follows the uploads above may see the assignment of one tenant before
            // another's (CI, 2026-12-06: GET profile of tenant `prototype` answered 404 while
            // the ordinary tenant's answered 200). A read is compared again once both settle.
            if (found.length > 0 && route.method === 'GET') {
              found = await eventually(
                async () => {
                  base = await send(ordinaryValue);
                  return problemsOf(label, await send(name), base);
                },
                (now) => now.length === 0,
              );
            }
            problems.push(...found);
          }
        }
      }
      expect(problems).toEqual([]);
      expect(cells).toBeGreaterThanOrEqual(PROTOTYPE_NAMES.length * 12);
    });

    it('regression #8: ids in bodies and queries (certificateId) treat prototype names like any other id', async () => {
      const ctx = get();
      const admin = await ctx.t.token([ctx.tenant], ['admin', 'decrypt']);
      const T = `/v1/tenants/${ctx.tenant}`;
      const probes: [string, string, (id: string) => unknown][] = [
        ['PUT', `${T}/ivr-profiles/record/recording-certificate`, (id) => ({ certificateId: id })],
        ['PATCH', `${T}/screen-recording-certificates`, (id) => ({ add: [id] })],
        ['PATCH', `${T}/screen-recording-certificates`, (id) => ({ remove: [id] })],
      ];
      const problems: string[] = [];
      for (const [method, path, body] of probes) {
        const send = (id: string) =>
          ctx.t.request(method, path, {
            token: admin,
            contentType: 'application/json',
            body: JSON.stringify(body(id)),
          });
        const base = await send(ordinary.certificateId!);
        for (const name of PROTOTYPE_NAMES)
          problems.push(
            ...problemsOf(`${method} ${path} ${JSON.stringify(body(name))}`, await send(name), base),
          );
      }
      const audit = (id: string) =>
        ctx.t.request('GET', `${T}/audit?certificateId=${encodeURIComponent(id)}`, { token: admin });
      const base = await audit(ordinary.certificateId!);
      for (const name of PROTOTYPE_NAMES) {
        const reply = await audit(name);
        problems.push(...problemsOf(`GET audit?certificateId=${name}`, reply, base));
        if (reply.status === 200 && (reply.json?.items ?? []).length !== 0)
          problems.push(`audit?certificateId=${name}: entries`);
      }
      expect(problems).toEqual([]);
    });

    it('regression #8: an assignment to a profile named like a prototype property is applied like any other', async () => {
      const ctx = get();
      const admin = await ctx.t.token([ctx.tenant], ['admin', 'decrypt']);
      const T = `/v1/tenants/${ctx.tenant}`;
      const names = ['constructor', 'toString', 'hasOwnProperty'];
      for (const name of names) {
        const put = await ctx.t.request('PUT', `${T}/ivr-profiles/${name}/recording-certificate`, {
          token: admin,
          contentType: 'application/json',
          body: JSON.stringify({ certificateId: ctx.certificateId }),
        });
        expect({ name, status: put.status }).toEqual({ name, status: 202 });
      }
      for (const name of names) {
        const profile = await eventually(
          () => ctx.t.request('GET', `${T}/ivr-profiles/${name}`, { token: admin }),
          (r) => r.status === 200 && r.json?.activeCertificateId === ctx.certificateId,
          20_000,
        );
        expect({
          name,
          status: profile.status,
          id: profile.json?.id,
          active: profile.json?.activeCertificateId,
        }).toEqual({
          name,
          status: 200,
          id: name,
          active: ctx.certificateId,
        });
      }
    });
  });
}
