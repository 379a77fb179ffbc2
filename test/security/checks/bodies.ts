/**
 * Threat model, "bodies": a caller controls every byte of a body and when (or whether) it arrives.
 * Truncation at every byte offset (a dense sample for bodies over 1 KiB) of each body kind of each
 * route of the route table, connections aborted mid-body, and bodies that stop arriving.
 */
import { routes } from '../../../shared/http/routes';
import { BOUNDARY, type Ctx, type SampleBody, sampleBodies, tokenFor } from '../context';
import { BODY_IDLE_MS, HEALTH_BUDGET_MS, pathOf, rawPartial } from '../harness';
import { node, walk } from '../material';

/**
 * Every offset of a small body (up to 1 KiB); for a larger one the first and last 64 bytes and an
 * even sample of the bytes where parsers change state (±1), `budget` offsets in all.
 * RECCERT_SECURITY_EVERY_OFFSET=1 tries every offset of every body (a soak: minutes per runtime).
 */
export function truncationOffsets(body: Buffer, budget = 240): number[] {
  if (body.length <= 1024 || process.env.RECCERT_SECURITY_EVERY_OFFSET === '1')
    return Array.from({ length: body.length }, (_, i) => i);
  const edges = new Set<number>();
  for (let i = 0; i < 64; i++) {
    edges.add(i);
    edges.add(body.length - 1 - i);
  }
  const structural: number[] = [];
  for (let i = 0; i < body.length; i++) {
    const c = body[i]!;
    // CR, LF, quote, braces, colon, comma, dash, equals, semicolon: where parsers change state.
    if (
      [0x0d, 0x0a, 0x22, 0x7b, 0x7d, 0x3a, 0x2c, 0x2d, 0x3d, 0x3b].includes(c) &&
      (i === 0 || body[i - 1] !== c)
    )
      for (const d of [-1, 0, 1]) structural.push(i + d);
  }
  const rest = [...new Set(structural)]
    .filter((i) => i > 0 && i < body.length && !edges.has(i))
    .sort((a, b) => a - b);
  const room = Math.max(0, budget - edges.size);
  const step = rest.length / Math.max(1, room);
  const picked =
    rest.length <= room ? rest : Array.from({ length: room }, (_, k) => rest[Math.floor(k * step)]!);
  return [...new Set([...edges, ...picked])].sort((a, b) => a - b);
}

const BODY_ROUTES = routes.filter((r) => r.body || r.streamBody);

/**
 * The first length at which a body is complete: a multipart form ends with its close delimiter
 * (the CRLF after it is padding, RFC 2046), every other body with its last byte.
 */
function completeAt(sample: SampleBody): number {
  if (sample.kind !== 'multipart') return sample.body.length;
  const close = Buffer.from(`--${BOUNDARY}--`);
  return sample.body.lastIndexOf(close) + close.length;
}

/**
 * The truncation offsets of a sample. A recording is cut at every offset up to the end of its
 * recipients (where it is parsed); past them each cut costs a session-key unwrap through custody
 * (a KMS call on AWS) and every cut takes the same path through the content, so there the first
 * and last 32 offsets and every 8th between are tried.
 */
function offsetsOf(sample: SampleBody): number[] {
  const all = truncationOffsets(sample.body).filter((o) => o < completeAt(sample));
  if (sample.kind !== 'cms' || process.env.RECCERT_SECURITY_EVERY_OFFSET === '1') return all;
  const recipientsEnd = node(walk(sample.body), 'r.1.0.1').end;
  const last = sample.body.length;
  return all.filter((o) => o <= recipientsEnd + 32 || o >= last - 32 || (o - recipientsEnd) % 8 === 0);
}

export function bodyChecks(get: () => Ctx): void {
  describe('bodies (threat model: request bodies)', () => {
    beforeAll(async () => {
      await get().t.ensureUp('before body checks');
    });

    it('drives every route of the route table that takes a body', () => {
      const ctx = get();
      // sampleBodies throws for a route without a sample: a new route cannot slip past.
      const kinds = BODY_ROUTES.flatMap((r) => sampleBodies(ctx, r).map((s) => `${r.operationId}:${s.kind}`));
      expect(kinds).toEqual(
        expect.arrayContaining([
          'uploadCertificate:json',
          'uploadCertificate:multipart',
          'decryptRecording:cms',
        ]),
      );
    });

    describe.each(BODY_ROUTES.map((r) => [`${r.method} ${r.path}`, r] as const))(
      'truncated bodies of %s',
      (_label, route) => {
        it(`${route.body?.multipart ? 'regression #1: ' : ''}answers every truncation with a 4xx and a documented code, and stays up`, async () => {
          const ctx = get();
          await ctx.t.ensureUp(`before truncating ${route.operationId}`);
          const token = await tokenFor(ctx, route);
          const path = pathOf(route, ctx.values);
          const problems: string[] = [];
          let sent = 0;
          for (const sample of sampleBodies(ctx, route)) {
            for (const offset of offsetsOf(sample)) {
              const reply = await ctx.t.request(route.method, path, {
                token,
                contentType: sample.contentType,
                body: sample.body.subarray(0, offset),
              });
              sent++;
              const code = reply.json?.error?.code as string | undefined;
              // An empty body is a complete request of its own: the route's own answer to it (a 2xx where
              // nothing is required, else a documented 4xx such as PRIVATE_KEY_REQUIRED).
              const empty = offset === 0;
              if (reply.status === 0) {
                if (!Number.isFinite(await ctx.t.health(5_000))) {
                  problems.push(
                    `${sample.kind} cut at ${offset}/${sample.body.length}: the process died (${reply.error})`,
                  );
                  await ctx.t.ensureUp(`${route.operationId} ${sample.kind} truncated at ${offset}`);
                  break;
                }
                problems.push(`${sample.kind} cut at ${offset}: no answer (${reply.error})`);
              } else if (empty && reply.status < 300 && !route.streamBody) {
                // accepted as a request without content
              } else if (
                reply.status < 400 ||
                reply.status >= 500 ||
                !code ||
                !route.errors.includes(code as never)
              ) {
                problems.push(
                  `${sample.kind} cut at ${offset}/${sample.body.length}: ${reply.status} ${code ?? reply.body.subarray(0, 60).toString()}`,
                );
              } else if (!empty && sample.kind !== 'cms' && code !== 'VALIDATION_ERROR') {
                problems.push(`${sample.kind} cut at ${offset}: ${code}, want VALIDATION_ERROR`);
              }
              if (problems.length > 10) break;
            }
          }
          expect(problems).toEqual([]);
          expect(sent).toBeGreaterThan(0);
          expect(await ctx.t.health()).toBeLessThan(HEALTH_BUDGET_MS);
        });
      },
    );

    it('stays up when connections are aborted mid-body, for every body kind (health within 1 s after)', async () => {
      const ctx = get();
      await ctx.t.ensureUp('before aborted bodies');
      for (const route of BODY_ROUTES) {
        const token = await tokenFor(ctx, route);
        for (const sample of sampleBodies(ctx, route)) {
          const exchanges = await Promise.all(
            [0.1, 0.5, 0.9].map((share) =>
              rawPartial(
                ctx.t,
                route.method,
                pathOf(route, ctx.values),
                {
                  authorization: `Bearer ${token}`,
                  'content-type': sample.contentType,
                  'content-length': String(sample.body.length),
                },
                sample.body.subarray(0, Math.floor(sample.body.length * share)),
              ),
            ),
          );
          await new Promise((r) => setTimeout(r, 50));
          for (const e of exchanges) e.socket.destroy();
        }
      }
      await new Promise((r) => setTimeout(r, 300));
      expect(await ctx.t.health()).toBeLessThan(HEALTH_BUDGET_MS);
      // Still serving real work, not just health.
      const list = await ctx.t.request('GET', `/v1/tenants/${ctx.tenant}/certificates`, {
        token: await ctx.t.token([ctx.tenant], ['decrypt']),
      });
      expect(list.status).toBe(200);
    });

    it('keeps answering health within 1 s while 60 bodies stall mid-way', async () => {
      const ctx = get();
      await ctx.t.ensureUp('before stalled bodies');
      const upload = BODY_ROUTES.find((r) => r.operationId === 'uploadCertificate')!;
      const decrypt = BODY_ROUTES.find((r) => r.streamBody)!;
      const exchanges = [];
      for (const route of [upload, decrypt]) {
        const token = await tokenFor(ctx, route);
        for (const sample of sampleBodies(ctx, route)) {
          for (let i = 0; i < 20; i++) {
            exchanges.push(
              await rawPartial(
                ctx.t,
                route.method,
                pathOf(route, ctx.values),
                {
                  authorization: `Bearer ${token}`,
                  'content-type': sample.contentType,
                  'content-length': String(sample.body.length),
                },
                sample.body.subarray(0, Math.floor(sample.body.length / 2)),
              ),
            );
          }
        }
      }
      try {
        const latencies: number[] = [];
        for (let i = 0; i < 5; i++) {
          latencies.push(await ctx.t.health());
          await new Promise((r) => setTimeout(r, 200));
        }
        expect(Math.max(...latencies)).toBeLessThan(HEALTH_BUDGET_MS);
      } finally {
        for (const e of exchanges) e.socket.destroy();
      }
    });
  });
}

/** The local server's own connection limits (the clouds' gateways own theirs). */
export function idleChecks(get: () => Ctx): void {
  describe('bodies that stop arriving on the local server (DESIGN 9: idle limit)', () => {
    it(`regression #9: closes a connection whose body stalls for the idle limit (${BODY_IDLE_MS} ms here), with 408 where it can`, async () => {
      const ctx = get();
      await ctx.t.ensureUp('before idle limit');
      const route = BODY_ROUTES.find((r) => r.operationId === 'uploadCertificate')!;
      const decrypt = BODY_ROUTES.find((r) => r.streamBody)!;
      const started = Date.now();
      const exchanges = [];
      for (const r of [route, decrypt]) {
        const token = await tokenFor(ctx, r);
        for (const sample of sampleBodies(ctx, r)) {
          for (let i = 0; i < 10; i++) {
            exchanges.push(
              await rawPartial(
                ctx.t,
                r.method,
                pathOf(r, ctx.values),
                {
                  authorization: `Bearer ${token}`,
                  'content-type': sample.contentType,
                  'content-length': String(sample.body.length),
                },
                sample.body.subarray(0, Math.floor(sample.body.length / 3)),
              ),
            );
          }
        }
      }
      const limit = BODY_IDLE_MS + 5_000;
      await Promise.race([
        Promise.all(exchanges.map((e) => e.closed)),
        new Promise((r) => setTimeout(r, limit)),
      ]);
      const open = exchanges.filter((e) => e.closedAt() === undefined).length;
      for (const e of exchanges) e.socket.destroy();
      expect({ stillOpenAfterMs: limit, open }).toEqual({ stillOpenAfterMs: limit, open: 0 });
      for (const e of exchanges) {
        const head = e.response().split('\r\n')[0] ?? '';
        if (head !== '') expect(head).toMatch(/^HTTP\/1\.1 408/);
        expect(e.closedAt()! - started).toBeGreaterThanOrEqual(BODY_IDLE_MS - 200);
      }
      expect(await ctx.t.health()).toBeLessThan(HEALTH_BUDGET_MS);
    });

    it('regression #9: answers a request without a token at once and closes it, without waiting for its body', async () => {
      const ctx = get();
      await ctx.t.ensureUp('before unauthenticated stall');
      const route = BODY_ROUTES.find((r) => r.operationId === 'uploadCertificate')!;
      const e = await rawPartial(
        ctx.t,
        route.method,
        pathOf(route, ctx.values),
        { 'content-type': 'application/json', 'content-length': '60000' },
        Buffer.from('{"certificate":"'),
      );
      await Promise.race([e.closed, new Promise((r) => setTimeout(r, BODY_IDLE_MS - 300))]);
      const answered = e.response();
      const closed = e.closedAt() !== undefined;
      e.socket.destroy();
      expect(answered.split('\r\n')[0]).toMatch(/^HTTP\/1\.1 401/);
      expect(closed).toBe(true);
    });
  });
}
