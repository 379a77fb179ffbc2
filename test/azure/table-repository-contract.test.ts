import { TableCertificateRepository } from '../../functions/azure/adapters/table-repository';
import { describeEscrowStoreContract } from '../ports/escrow-store-contract';
import { describeRepositoryContract } from '../ports/repository-contract';
import { freshTables } from './clients';

describeRepositoryContract('Azure Table storage (Azurite)', async () => {
  const { tables, drop } = await freshTables();
  return { repo: new TableCertificateRepository(tables), cleanup: drop };
});

describeEscrowStoreContract('Azure Table storage (Azurite)', async () => {
  const { tables, drop } = await freshTables();
  return { store: new TableCertificateRepository(tables), cleanup: drop };
});
