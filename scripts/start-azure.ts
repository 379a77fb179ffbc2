/**
 * `npm run start:azure`: the Azure deployment on this machine. The v1 API is served on
 * 127.0.0.1:$PORT through the REAL exported Azure Functions handlers (functions/azure/handlers)
 * over the real Table and Queue adapters against Azurite, with this process playing the parts of
 * the Functions host: HTTP (scripts/hosts/functions-host.ts), the queue trigger of
 * `ivr-assignments` and the timer trigger of the daily expiry scan at 02:00 UTC
 * (scripts/hosts/functions-triggers.ts).
 *
 * Callers use the local runtime's HS256 tokens (`RECCERT_AUTH_MODE=local`, secret in $DATA_DIR,
 * `npx reccert token`), and the upload flow is always the Azure one (PKCS#8 only, automatic
 * assignment to the `record` profile).
 *
 * Key custody: Key Vault (the real `KeyVaultCustody` adapter) when `RECCERT_KEY_VAULT_URL` is set,
 * e.g. to a Key Vault emulator you run yourself (with RECCERT_KEY_VAULT_EMULATOR=true and its
 * certificate in NODE_EXTRA_CA_CERTS). Otherwise the local runtime's encrypted file keystore in
 * $DATA_DIR takes its place (built here and handed to the Azure runtime), and a line at start-up
 * says so: no Key Vault emulator can be installed where this project is built, and nothing
 * pretending to be a vault is used instead.
 *
 * Azurite is started on free ports with its data in $DATA_DIR/azurite (so a restart keeps
 * everything) and stopped on SIGTERM/SIGINT, unless RECCERT_STORAGE_CONNECTION_STRING names a
 * storage account or emulator to use instead.
 */
import { join } from 'node:path';
import { ensureQueues, QUEUE_NAMES } from '../functions/azure/adapters/queue-publisher';
import { ensureTables } from '../functions/azure/adapters/table-repository';
import { defaultRuntime, provideDefaultOverrides } from '../functions/azure/runtime';
import { readHttpLimits } from '../functions/common/http-server';
import { FileKeystore, loadOrCreateMasterKey } from '../functions/local/file-keystore';
import { sweepOrphanKeys } from '../shared/usecases/orphan-keys';
import { type AzuriteServer, startAzurite, stopAzurite } from './emulators/azurite-server';
import { startFunctionsHost } from './hosts/functions-host';
import { POISON_QUEUE, startQueueTrigger, startTimerTrigger } from './hosts/functions-triggers';
import { devServerSettings, killOnExit, runDevServer, stopOnSignals } from './hosts/loopback-host';

async function main(): Promise<void> {
  // What this process and its Azurite create in DATA_DIR (keys, token secret) is the owner's alone.
  process.umask(0o077);
  const { logger, port, dataDir } = devServerSettings('azure', './.reccert-data-azure');

  let azurite: AzuriteServer | undefined;
  let connectionString = process.env.RECCERT_STORAGE_CONNECTION_STRING?.trim();
  if (!connectionString) {
    azurite = await startAzurite({ location: join(dataDir, 'azurite') });
    connectionString = azurite.connectionString;
  }
  killOnExit(azurite?.pid);

  if (process.env.RECCERT_FLOW && process.env.RECCERT_FLOW !== 'azure') {
    logger.warn('RECCERT_FLOW is ignored: the Azure runtime plays the azure flow', {
      given: process.env.RECCERT_FLOW,
    });
  }
  const useVault = Boolean(process.env.RECCERT_KEY_VAULT_URL?.trim());
  // The handlers read their settings from the environment, as in a Function App.
  Object.assign(process.env, {
    DATA_DIR: dataDir,
    RECCERT_FLOW: 'azure',
    RECCERT_AUTH_MODE: 'local',
    RECCERT_STORAGE_CONNECTION_STRING: connectionString,
    ...(useVault ? {} : { RECCERT_KEY_CUSTODY: 'file' }),
  });
  if (!useVault) {
    logger.warn(
      'RECCERT_KEY_VAULT_URL is not set: private keys go to the encrypted file keystore in DATA_DIR instead of Key Vault (no Key Vault emulator is available here)',
      { keystore: join(dataDir, 'keys') },
    );
    const masterKey = await loadOrCreateMasterKey(dataDir, process.env.RECCERT_MASTER_KEY || undefined);
    provideDefaultOverrides({ custody: new FileKeystore(dataDir, masterKey) });
    masterKey.fill(0);
  }

  const runtime = await defaultRuntime();
  await ensureTables(runtime.tables);
  await ensureQueues(runtime.queueClient, [
    QUEUE_NAMES.ivrAssignments,
    POISON_QUEUE,
    QUEUE_NAMES.expiryNotifications,
  ]);
  // The file keystore in DATA_DIR is this process's alone and it serves nothing yet, so no upload
  // is in flight: every key without a record goes (the timer's sweep spares young keys).
  if (!useVault) await sweepOrphanKeys(runtime.deps, { minAgeMs: 0 });

  const trigger = startQueueTrigger(
    runtime.queueClient(QUEUE_NAMES.ivrAssignments),
    runtime.queueClient(POISON_QUEUE),
    logger,
  );
  const timer = startTimerTrigger(logger);
  const host = await startFunctionsHost({ port, limits: readHttpLimits(), logger });
  logger.info('reccert (azure runtime) listening', {
    url: host.url,
    storage: azurite ? 'azurite' : 'external',
    keyCustody: useVault ? 'keyvault' : 'file',
    dataDir,
  });

  stopOnSignals(logger, async () => {
    timer.stop();
    host.close();
    await trigger.stop().catch(() => undefined);
    if (azurite) await stopAzurite(azurite);
  });
}

if (require.main === module) runDevServer('azure', main);
