/**
 * Promises only the local server makes (the clouds' front doors own these): the Host check
 * against DNS rebinding (regression class of #13) on every route, /dev/token and the static
 * admin page; and the modes of every file under DATA_DIR (regression class of #14).
 */
import { readdirSync, statSync } from 'node:fs';
import { join, relative } from 'node:path';
import { routes } from '../../../shared/http/routes';
import { type Ctx, sampleBodies, tokenFor } from '../context';
import { pathOf } from '../harness';

const STATIC = ['/', '/index.html', '/app.js', '/styles.css', '/config.js'];

function walkModes(root: string): { path: string; mode: number; dir: boolean }[] {
  const out: { path: string; mode: number; dir: boolean }[] = [];
  for (const entry of readdirSync(root, { withFileTypes: true })) {
    const full = join(root, entry.name);
    const info = statSync(full);
    out.push({ path: full, mode: info.mode & 0o777, dir: info.isDirectory() });
    if (info.isDirectory()) out.push(...walkModes(full));
  }
  return out;
}

export function localServerChecks(get: () => Ctx): void {
  describe('Host header on the local server (threat model: network, DNS rebinding)', () => {
    beforeAll(async () => {
      await get().t.ensureUp('before host checks');
    });

    it('regression #13: answers 421 MISDIRECTED_REQUEST to a foreign Host on every route, /dev/token and static files', async () => {
      const ctx = get();
      const targets: { method: string; path: string; token?: string; contentType?: string; body?: Buffer }[] =
        [
          { method: 'GET', path: '/dev/token' },
          ...STATIC.map((path) => ({ method: 'GET', path })),
          { method: 'GET', path: '/v1/openapi.json' },
        ];
      for (const route of routes) {
        const sample = sampleBodies(ctx, route).find((s) => s.kind !== 'multipart');
        targets.push({
          method: route.method,
          path: pathOf(route, ctx.values),
          ...(route.access === 'public' ? {} : { token: await tokenFor(ctx, route) }),
          ...(sample ? { contentType: sample.contentType, body: sample.body } : {}),
        });
      }
      const problems: string[] = [];
      for (const host of [
        'attacker.example',
        `attacker.example:${ctx.t.port}`,
        `127.0.0.1.attacker.example:${ctx.t.port}`,
        'localhost.attacker.example',
      ]) {
        for (const target of targets) {
          const reply = await ctx.t.request(target.method, target.path, { ...target, headers: { host } });
          if (reply.status !== 421 || reply.json?.error?.code !== 'MISDIRECTED_REQUEST')
            problems.push(
              `Host ${host} ${target.method} ${target.path}: ${reply.status} ${reply.json?.error?.code ?? ''}`,
            );
          if (target.path === '/dev/token' && reply.body.includes('"token"'))
            problems.push(`Host ${host} ${target.path}: handed out a token`);
        }
      }
      expect(problems.slice(0, 20)).toEqual([]);
    });

    it('serves its own address and localhost', async () => {
      const ctx = get();
      for (const host of [`127.0.0.1:${ctx.t.port}`, `localhost:${ctx.t.port}`]) {
        for (const path of ['/v1/health', '/dev/token', '/']) {
          const reply = await ctx.t.request('GET', path, { headers: { host } });
          expect({ host, path, status: reply.status }).toEqual({ host, path, status: 200 });
        }
      }
    });
  });

  describe('the admin page served by the local server (threat model: the admin page)', () => {
    it('sends the policy the clouds host the page with: no plugins, no <base> or form posts elsewhere, no framing', async () => {
      const ctx = get();
      const policies = new Map<string, string | undefined>();

      for (const path of STATIC) {
        const reply = await ctx.t.request('GET', path);
        policies.set(path, reply.headers['content-security-policy'] as string | undefined);
      }

      for (const [path, policy] of policies) {
        const directives = new Set((policy ?? '').split(';').map((d) => d.trim()));
        for (const wanted of [
          "default-src 'self'",
          "script-src 'self'",
          "object-src 'none'",
          "base-uri 'self'",
          "form-action 'self'",
          "frame-ancestors 'none'",
        ])
          expect({ path, has: wanted, present: directives.has(wanted) }).toEqual({
            path,
            has: wanted,
            present: true,
          });
      }
    });
  });

  describe('files under DATA_DIR (threat model: the data directory)', () => {
    it('regression #14: every file is 0600 and every folder 0700 (the database, its -wal and -shm, keys, secrets)', async () => {
      const ctx = get();
      await ctx.t.ensureUp('before file modes');
      const entries = walkModes(ctx.t.h.dataDir);
      const names = entries.map((e) => relative(ctx.t.h.dataDir, e.path));
      // The check is not vacuous: the database (WAL mode) and the keystore are there.
      expect(names).toEqual(
        expect.arrayContaining(['reccert.db', 'reccert.db-wal', 'token.secret', 'master.key', 'keys']),
      );
      const wrong = entries
        .filter((e) => e.mode !== (e.dir ? 0o700 : 0o600))
        .map((e) => `${relative(ctx.t.h.dataDir, e.path)} ${e.mode.toString(8)}`);
      expect(wrong).toEqual([]);
    });
  });
}
