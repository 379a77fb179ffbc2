/**
 * The behaviour every `EscrowStore` adapter must show (SQLite, DynamoDB, Table storage). The CMS
 * bytes are stand-ins: stores keep them as opaque bytes and never parse them.
 */
import crypto from 'node:crypto';
import type { EscrowCertificate, EscrowCopy } from '../../shared/domain/types';
import type { EscrowStore } from '../../shared/ports';
import { uniqueTenantId } from './fixtures';

/** What a contract run needs from an adapter: a store and a way to dispose of it. */
export type EscrowStoreFactory = () => Promise<{ store: EscrowStore; cleanup(): Promise<void> }>;

function escrowCertificate(tenantId: string, overrides: Partial<EscrowCertificate> = {}): EscrowCertificate {
  return {
    tenantId,
    certificatePem: '-----BEGIN CERTIFICATE-----\nRVNDUk9XLU9OTFk=\n-----END CERTIFICATE-----\n',
    fingerprintSha256: crypto.randomBytes(32).toString('hex'),
    subjectDN: 'CN=Escrow Zürich,O=Example,C=CH',
    notAfter: '2030-01-01T00:00:00.000Z',
    registeredAt: '2026-12-06T10:00:00.000Z',
    registeredBy: 'admin@example.com',
    ...overrides,
  };
}

function escrowCopy(
  tenantId: string,
  certificateId: string,
  overrides: Partial<EscrowCopy> = {},
): EscrowCopy {
  return {
    tenantId,
    certificateId,
    escrowFingerprintSha256: crypto.randomBytes(32).toString('hex'),
    // Every byte value, so a store that treats the bytes as text shows up.
    cms: Buffer.concat([Buffer.from([0x30, 0x80, 0x00, 0xff]), crypto.randomBytes(3000)]),
    sealedAt: '2026-12-06T10:00:01.000Z',
    ...overrides,
  };
}

/** Declares the escrow store contract suite for one adapter. */
export function describeEscrowStoreContract(name: string, factory: EscrowStoreFactory): void {
  describe(`EscrowStore contract: ${name}`, () => {
    let store: EscrowStore;
    let cleanup: () => Promise<void>;
    let tenantA: string;
    let tenantB: string;

    beforeEach(async () => {
      ({ store, cleanup } = await factory());
      tenantA = uniqueTenantId('ea');
      tenantB = uniqueTenantId('eb');
    });

    afterEach(async () => {
      await cleanup();
    });

    it('has no escrow certificate for a tenant that registered none', async () => {
      expect(await store.getEscrowCertificate(tenantA)).toBeUndefined();
    });

    it('returns the registered escrow certificate exactly, and a replacement after it', async () => {
      const first = escrowCertificate(tenantA);
      const second = escrowCertificate(tenantA, { subjectDN: 'CN=Escrow 2026' });

      await store.putEscrowCertificate(first);
      expect(await store.getEscrowCertificate(tenantA)).toEqual(first);
      await store.putEscrowCertificate(second);

      expect(await store.getEscrowCertificate(tenantA)).toEqual(second);
      expect(await store.getEscrowCertificate(tenantB)).toBeUndefined();
    });

    it('lists a tenant’s escrow copies byte for byte in certificate id order, and no other tenant’s', async () => {
      const b = escrowCopy(tenantA, 'b-cert');
      const a = escrowCopy(tenantA, 'a-cert');
      await store.putEscrowCopy(b);
      await store.putEscrowCopy(a);
      await store.putEscrowCopy(escrowCopy(tenantB, 'a-cert'));

      const listed = await store.listEscrowCopies(tenantA);

      expect(listed.map((c) => c.certificateId)).toEqual(['a-cert', 'b-cert']);
      expect(listed[0]).toEqual(a);
      expect(Buffer.isBuffer(listed[1]!.cms) && listed[1]!.cms.equals(b.cms)).toBe(true);
    });

    it('replaces a certificate’s escrow copy when it is sealed again', async () => {
      await store.putEscrowCopy(escrowCopy(tenantA, 'cert'));
      const again = escrowCopy(tenantA, 'cert', { sealedAt: '2026-12-07T00:00:00.000Z' });

      await store.putEscrowCopy(again);

      expect(await store.listEscrowCopies(tenantA)).toEqual([again]);
    });

    it('removes one certificate’s escrow copy, and removing a missing one is not an error', async () => {
      const kept = escrowCopy(tenantA, 'kept');
      await store.putEscrowCopy(kept);
      await store.putEscrowCopy(escrowCopy(tenantA, 'removed'));

      await store.removeEscrowCopy(tenantA, 'removed');
      await store.removeEscrowCopy(tenantA, 'never-there');

      expect(await store.listEscrowCopies(tenantA)).toEqual([kept]);
    });

    it('treats ids such as constructor and __proto__ like any other', async () => {
      const copy = escrowCopy(tenantA, '__proto__');
      await store.putEscrowCopy(copy);
      await store.putEscrowCopy(escrowCopy(tenantA, 'constructor'));

      expect((await store.listEscrowCopies(tenantA)).map((c) => c.certificateId)).toEqual([
        '__proto__',
        'constructor',
      ]);
    });
  });
}
