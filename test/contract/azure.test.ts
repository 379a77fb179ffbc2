/**
 * The HTTP contract on the Azure runtime: `npm run start:azure` (the real Azure Functions handlers
 * behind an emulated Functions host) over Azurite, which the runtime starts with its data in the
 * data directory, so the durability test's restart finds it again. Key custody is the file
 * keystore there, as no Key Vault emulator can be installed here (see scripts/start-azure.ts).
 */
import { describeContract } from './suite';

describeContract({ name: 'azure', entry: 'scripts/start-azure.ts', flow: 'azure', startTimeoutMs: 120_000 });
