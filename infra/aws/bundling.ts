/**
 * How the Lambda functions are bundled: one list of entry points and one set of esbuild options,
 * used by the CDK stack (infra/aws/reccert-stack.ts) and by the cold-start benchmark
 * (bench/coldstart.ts), so the benchmark measures exactly the bundles that are deployed.
 *
 * Keep the exports stable: the benchmark imports them.
 */
import type { BuildOptions } from 'esbuild';

const PACKAGE_VERSION: string = (require('../../package.json') as { version: string }).version;

/** The Node.js version the functions run on (Lambda runtime nodejs22.x) as an esbuild target. */
export const ESBUILD_TARGET = 'node22';

/**
 * Modules left out of every bundle: the AWS SDK v3, which the Lambda Node.js runtime ships.
 *
 * Why (measured with esbuild metafiles, minified, node22): a bundled SDK is most of a bundle. The
 * DynamoDB client alone bundles to 528 KB (@smithy/core 196 KB, the client 86 KB, nested
 * credential clients 59 KB, @aws-sdk/core 52 KB, bowser 34 KB, ...), over the 200 KB read-path
 * budget before any of our code; the write function's four clients were ~0.8 MB. Our own code,
 * once each function imports only its route groups and zod is imported as a namespace
 * (`import * as z`, which esbuild can tree-shake; `import { z }` pulls in all of zod, 444 KB),
 * is 18-190 KB.
 *
 * What it costs, and how it is kept safe: the functions then run the runtime's SDK version, not
 * the one the tests ran. The one behaviour that depends on a recent SDK is the key store's
 * create-only write (PutObject `IfNoneMatch: '*'`, S3 conditional writes, in the SDK since
 * August 2024): an older SDK would leave the parameter out silently and turn create-only into
 * overwrite. The key store therefore sets the `If-None-Match: *` header on the serialized
 * request itself (`createOnly` in functions/aws/adapters/kms-s3-keystore.ts, a build-step
 * middleware, an SDK v3 interface since its first release), so the write is create-only on the
 * wire whatever SDK serialized it; test/aws/kms-s3-keystore.test.ts sends a PutObject without
 * IfNoneMatch through it and gets the 412. Everything else the adapters use (conditional puts,
 * transactions, GenerateDataKey with an encryption context, PutEvents, Publish) predates SDK v3.
 *
 * Issue 18 measured the alternative side by side (bench/coldstart.ts, BENCHMARKS.md): the SDK
 * bundled in as ESM (`mainFields: module,main`, minified, the credential chain replaced by the
 * three variables Lambda sets) loads faster than the runtime's copy, but the read function is
 * then ~440 KB and write/decrypt ~770-790 KB, over the bundle budgets (read 200 KB, every function
 * 300 KB). So the SDK stays external, and the HTTP functions load it on their first request
 * instead (functions/aws/handlers/<fn>-deps.ts, `require()`d inside `loadDeps`), which esbuild keeps
 * lazy in the bundle: the require time carries only our code.
 */
export const EXTERNAL_MODULES: readonly string[] = ['@aws-sdk/*'];

/**
 * The Lambda functions: name (the CDK function group), entry file relative to the repository
 * root, and whether it is on the read path (tighter cold-start budget: read-path functions serve
 * the GET routes users wait on).
 */
export const LAMBDA_ENTRIES: ReadonlyArray<{ name: string; entry: string; readPath: boolean }> = [
  { name: 'read', entry: 'functions/aws/handlers/read.ts', readPath: true },
  { name: 'write', entry: 'functions/aws/handlers/write.ts', readPath: false },
  { name: 'decrypt', entry: 'functions/aws/handlers/decrypt.ts', readPath: false },
  { name: 'assignment-consumer', entry: 'functions/aws/handlers/assignment-consumer.ts', readPath: false },
  { name: 'expiry-scan', entry: 'functions/aws/handlers/expiry-scan.ts', readPath: false },
  { name: 'webhook-delivery', entry: 'functions/aws/handlers/webhook-delivery.ts', readPath: false },
  // Cognito's pre token generation trigger (infra/aws/constructs/identity.ts), not an API function.
  { name: 'pre-token', entry: 'functions/aws/handlers/pre-token.ts', readPath: false },
  { name: 'recording-batch', entry: 'functions/aws/handlers/recording-batch.ts', readPath: false },
];

/**
 * The esbuild options of every function bundle, without entryPoints/outfile. These are the
 * options CDK's NodejsFunction passes to esbuild for the stack's `bundling` settings
 * (bundle, platform node, CJS, minify, target, externals); the stack derives its `bundling`
 * from them.
 */
export function esbuildOptions(): BuildOptions {
  return {
    bundle: true,
    platform: 'node',
    format: 'cjs',
    minify: true,
    target: ESBUILD_TARGET,
    external: [...EXTERNAL_MODULES],
    // The version as a literal, so a bundle does not carry the whole package.json.
    define: { __RECCERT_VERSION__: JSON.stringify(PACKAGE_VERSION) },
  };
}
