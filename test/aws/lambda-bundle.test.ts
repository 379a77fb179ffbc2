/**
 * The HTTP functions as deployed: bundles built with infra/aws/bundling.ts's options (what CDK's
 * NodejsFunction builds), loaded in a fresh node process as Lambda loads them. The other tests
 * run the handler sources through jest; these check what the bundling changes: the AWS SDK is
 * not loaded at require time but on the first request, and the bundle then serves it against
 * moto with the SDK's own credentials and endpoint resolution from the environment.
 */
import { spawnSync } from 'node:child_process';
import crypto from 'node:crypto';
import { mkdirSync, rmSync } from 'node:fs';
import path from 'node:path';
import { build } from 'esbuild';
import { esbuildOptions, LAMBDA_ENTRIES } from '../../infra/aws/bundling';
import { type AwsResources, provisionAwsResources } from '../../scripts/emulators/moto-resources';
import { uniqueTenantId } from '../ports/fixtures';
import { motoEndpoint } from './moto';

const ROOT = path.resolve(__dirname, '..', '..');
// Inside the repository, so that the bundle finds the SDK in node_modules as Lambda finds its own.
const OUT_DIR = path.join(ROOT, 'test-artifacts', `lambda-bundle-${crypto.randomBytes(4).toString('hex')}`);
let resources: AwsResources;

beforeAll(async () => {
  resources = await provisionAwsResources(motoEndpoint(), {
    prefix: `bundle-${crypto.randomBytes(4).toString('hex')}`,
  });
  mkdirSync(OUT_DIR, { recursive: true });
  for (const name of ['read', 'write', 'decrypt']) {
    const entry = LAMBDA_ENTRIES.find((e) => e.name === name)!;
    await build({
      ...esbuildOptions(),
      entryPoints: [path.join(ROOT, entry.entry)],
      outfile: path.join(OUT_DIR, `${name}.js`),
      absWorkingDir: ROOT,
      logLevel: 'silent',
    });
  }
});

afterAll(() => rmSync(OUT_DIR, { recursive: true, force: true }));

/**
 * Runs `script` in a fresh node process after requiring the bundle of `fn` as `m`, with the
 * environment Lambda gives a function (its settings, region, the role's credentials), pointed at
 * moto; `sdkLoaded()` tells whether any AWS SDK module has been loaded. Returns what it prints.
 */
function inFreshProcess(fn: string, script: string): unknown {
  const bundle = JSON.stringify(path.join(OUT_DIR, `${fn}.js`));
  const run = spawnSync(
    process.execPath,
    [
      '-e',
      `const sdkLoaded=()=>Object.keys(require.cache).some((f)=>f.includes('/node_modules/@aws-sdk/'));const m=require(${bundle});(async()=>{${script}})().then((r)=>process.stdout.write(JSON.stringify(r)),(e)=>{console.error(e);process.exit(1)});`,
    ],
    {
      cwd: ROOT,
      encoding: 'utf8',
      env: {
        PATH: process.env.PATH,
        ...resources.env,
        AWS_ENDPOINT_URL: motoEndpoint(),
        AWS_REGION: 'us-east-1',
        AWS_ACCESS_KEY_ID: 'testing',
        AWS_SECRET_ACCESS_KEY: 'testing',
        AWS_SESSION_TOKEN: 'testing',
        AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: 'true',
        LOG_LEVEL: 'silent',
      },
    },
  );
  if (run.status !== 0) throw new Error(`the ${fn} bundle failed: ${run.stderr}`);
  return JSON.parse(run.stdout);
}

/** A GET as API Gateway sends it, with the JWT authorizer's claims for `tenant`. */
function getEvent(path: string, tenant: string, routeKey = `GET ${path}`) {
  return {
    version: '2.0',
    routeKey,
    rawPath: path,
    rawQueryString: '',
    headers: { host: 'api.example' },
    isBase64Encoded: false,
    requestContext: {
      http: { method: 'GET', path, protocol: 'HTTP/1.1', sourceIp: '10.0.0.1', userAgent: 'jest' },
      requestId: crypto.randomUUID(),
      routeKey,
      stage: '$default',
      authorizer: {
        jwt: {
          claims: {
            sub: 'bundle-test',
            exp: String(Math.floor(Date.now() / 1000) + 3600),
            tenant,
            roles: '[admin]',
          },
          scopes: null,
        },
      },
    },
  };
}

describe('HTTP function bundles (infra/aws/bundling.ts options)', () => {
  it('loads no AWS SDK module at require time, and loads it on the first request that reaches a route', () => {
    const tenant = uniqueTenantId();
    const listPath = `/v1/tenants/${tenant}/certificates`;

    const result = inFreshProcess(
      'read',
      `const atRequire=sdkLoaded();
       const unmatched=await m.handler(${JSON.stringify(getEvent('/v1/nothing', tenant, '$default'))});
       const afterUnmatched=sdkLoaded();
       const listed=await m.handler(${JSON.stringify(getEvent(listPath, tenant))});
       return {atRequire,unmatched:unmatched.statusCode,afterUnmatched,listed:listed.statusCode,body:JSON.parse(listed.body),afterListed:sdkLoaded()};`,
    );

    expect(result).toMatchObject({
      atRequire: false,
      unmatched: 404,
      afterUnmatched: false,
      listed: 200,
      afterListed: true,
    });
  });

  it.each(['write', 'decrypt'])('%s: loads the SDK in loadDeps(), not at require time', (fn) => {
    const result = inFreshProcess(
      fn,
      'const atRequire=sdkLoaded();const deps=await m.loadDeps();return {atRequire,afterInit:sdkLoaded(),ports:Object.keys(deps).sort()};',
    );

    expect(result).toMatchObject({ atRequire: false, afterInit: true });
    expect((result as { ports: string[] }).ports).toEqual(expect.arrayContaining(['custody', 'repo']));
  });
});
