/** `npm start`: the local runtime on 127.0.0.1:$PORT with data in $DATA_DIR. */

import { ConfigError } from '../common/http-server';
import { mintLocalToken } from '../common/local-tokens';
import { readLocalConfig } from './config';
import { startLocalRuntime } from './server';

async function main(): Promise<void> {
  // Everything this process creates is its owner's alone (DESIGN section 9): the runtime sets
  // 0600/0700 where it creates files itself; the umask also covers what libraries create later.
  process.umask(0o077);
  const config = readLocalConfig();
  const runtime = await startLocalRuntime(config);
  const token = await mintLocalToken(runtime.tokenSecret, {
    subject: 'local-admin',
    tenants: [config.devTenant],
    roles: ['admin', 'decrypt'],
  });
  process.stderr.write(
    [
      `reccert ${config.flow} flow listening on ${runtime.url} (data: ${config.dataDir})`,
      `admin page: ${runtime.url}/#token=${token}`,
      `API token for tenant '${config.devTenant}' (admin, decrypt): ${token}`,
      'more tokens: npx reccert token --tenant <id> --role admin [--role decrypt]',
      '',
    ].join('\n'),
  );
  const stop = async () => {
    await runtime.close();
    process.exit(0);
  };
  process.once('SIGINT', stop);
  process.once('SIGTERM', stop);
}

main().catch((error: unknown) => {
  const message = error instanceof ConfigError || error instanceof Error ? error.message : String(error);
  process.stderr.write(`reccert: ${message}\n`);
  process.exit(1);
});
