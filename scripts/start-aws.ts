/**
 * `npm run start:aws`: the AWS deployment on this machine. The v1 API is served on
 * 127.0.0.1:$PORT through the real Lambda handlers (functions/aws/handlers) against a moto
 * server, with this process playing the parts of AWS that moto does not:
 *
 * - API Gateway (HTTP API, payload 2.0) and its JWT authorizer (scripts/hosts/api-gateway.ts;
 *   the local HS256 tokens `npx reccert token` prints, secret in $DATA_DIR);
 * - the SQS event source of the assignment consumer (scripts/hosts/sqs-event-source.ts).
 *
 * moto is started on a free port and stopped on SIGTERM/SIGINT, unless RECCERT_MOTO_ENDPOINT
 * names one to use (then its owner stops it, and its state outlives restarts of this process, as
 * an account outlives its functions). moto keeps state in memory only.
 */
import { SQSClient } from '@aws-sdk/client-sqs';
import { handler as assignmentConsumer } from '../functions/aws/handlers/assignment-consumer';
import { readHttpLimits } from '../functions/common/http-server';
import { loadOrCreateTokenSecret } from '../functions/common/local-tokens';
import {
  MOTO_CREDENTIALS,
  MOTO_REGION,
  motoClientConfig,
  provisionAwsResources,
} from './emulators/moto-resources';
import { ensureMotoInstalled, type MotoServer, startMoto, stopMoto } from './emulators/moto-server';
import { startApiGateway } from './hosts/api-gateway';
import { devServerSettings, killOnExit, runDevServer, stopOnSignals } from './hosts/loopback-host';
import { startSqsEventSource } from './hosts/sqs-event-source';

async function main(): Promise<void> {
  // What this process creates in DATA_DIR (the token secret) is the owner's alone.
  process.umask(0o077);
  const { logger, port, dataDir } = devServerSettings('aws', './.reccert-data-aws');
  const secret = loadOrCreateTokenSecret(dataDir);

  let moto: MotoServer | undefined;
  let endpoint = process.env.RECCERT_MOTO_ENDPOINT;
  if (!endpoint) {
    ensureMotoInstalled();
    moto = await startMoto();
    endpoint = moto.endpoint;
  }
  killOnExit(moto?.pid);

  // The handlers build their SDK clients from the environment, as on Lambda. Point them at
  // moto with fixed dummy credentials, so nothing here can reach a real account.
  for (const name of ['AWS_PROFILE', 'AWS_SESSION_TOKEN', 'AWS_DEFAULT_PROFILE', 'AWS_ROLE_ARN'])
    delete process.env[name];
  Object.assign(process.env, {
    AWS_ENDPOINT_URL: endpoint,
    AWS_REGION: MOTO_REGION,
    AWS_ACCESS_KEY_ID: MOTO_CREDENTIALS.accessKeyId,
    AWS_SECRET_ACCESS_KEY: MOTO_CREDENTIALS.secretAccessKey,
    AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: 'true',
  });
  const resources = await provisionAwsResources(endpoint);
  Object.assign(process.env, resources.env);

  const limits = readHttpLimits();
  const sqs = new SQSClient(motoClientConfig(endpoint));
  const eventSource = startSqsEventSource({
    sqs,
    queueUrl: resources.queueUrl,
    queueArn: resources.queueArn,
    consumer: assignmentConsumer,
    logger,
  });
  const gateway = await startApiGateway({ port, limits, logger, secret });
  logger.info('reccert (aws runtime) listening', { url: gateway.url, moto: endpoint, dataDir });

  stopOnSignals(logger, async () => {
    const polled = eventSource.stop();
    gateway.close();
    await polled;
    sqs.destroy();
    if (moto) await stopMoto(moto.pid);
  });
}

if (require.main === module) runDevServer('aws', main);
