/**
 * The contract every Store must keep for the OpenID Connect provider (OidcStore in
 * server/store/types.ts). Run against each implementation: lowdb here; another adapter calls
 * `oidcStoreContract` with its own opener.
 */
import { readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import type { Store } from '../../server/store/types';
import { makeApplication } from './store-fixtures';

export interface ContractTarget {
  /** A fresh, open, empty store. */
  open(): Promise<Store>;
  /** The same data opened again (a restart), closing the first. */
  reopen(store: Store): Promise<Store>;
  /** Where the store keeps its data, when it is files: checked for bearer values in plain text. */
  files?(store: Store): string | null;
}

const app = makeApplication;

async function listFiles(dir: string): Promise<string[]> {
  const entries = await readdir(dir, { withFileTypes: true, recursive: true });
  return entries.filter((e) => e.isFile()).map((e) => join(e.parentPath, e.name));
}

export function oidcStoreContract(name: string, target: ContractTarget) {
  describe(`${name}: OpenID Connect store contract`, () => {
    it('keeps applications: create, find by client id, update, delete, across a reopen', async () => {
      let store = await target.open();
      const grafana = app();
      await store.createApplication(grafana);
      await expect(store.createApplication({ ...app(), clientId: grafana.clientId })).rejects.toThrow();
      const renamed = await store.updateApplication(grafana.id, (a) => ({ ...a, name: 'Grafana 2' }));
      expect(renamed?.name).toBe('Grafana 2');
      expect(await store.updateApplication('missing', (a) => a)).toBeNull();
      store = await target.reopen(store);
      expect(await store.findApplicationByClientId(grafana.clientId)).toEqual({
        ...grafana,
        name: 'Grafana 2',
      });
      expect(await store.listApplications()).toHaveLength(1);
      expect((await store.deleteApplication(grafana.id))?.id).toBe(grafana.id);
      expect(await store.deleteApplication(grafana.id)).toBeNull();
      expect(await store.getApplication(grafana.id)).toBeNull();
    });

    it('creates the key set once when two callers race, and keeps it across a reopen', async () => {
      let store = await target.open();
      let created = 0;
      const make = () =>
        store.updateOidcKeys((current) => {
          if (current) return null;
          created++;
          return {
            signing: [{ kid: `k${created}`, jwk: { kty: 'RSA' }, createdAt: 'x', retiredAt: null }],
            cookieSecrets: ['s'],
          };
        });
      const [a, b] = await Promise.all([make(), make()]);
      expect(created).toBe(1);
      expect(a).toEqual(b);
      store = await target.reopen(store);
      expect(await store.getOidcKeys()).toEqual(a);
    });

    it('stores, finds by uid and expires provider records, giving back the jti', async () => {
      let store = await target.open();
      const future = Date.now() + 60_000;
      await store.oidcPut(
        'Session',
        'cookie-value',
        { jti: 'cookie-value', uid: 'u1', accountId: 'alice' },
        future,
      );
      expect(await store.oidcGet('Session', 'cookie-value')).toMatchObject({
        jti: 'cookie-value',
        accountId: 'alice',
      });
      expect(await store.oidcGet('AccessToken', 'cookie-value')).toBeNull();
      expect(await store.oidcFindByUid('Session', 'u1')).toMatchObject({ uid: 'u1', accountId: 'alice' });
      expect(await store.oidcFindByUid('Session', 'u2')).toBeNull();
      await store.oidcPut('AccessToken', 'gone', { accountId: 'alice' }, Date.now() - 1);
      expect(await store.oidcGet('AccessToken', 'gone')).toBeNull();
      store = await target.reopen(store);
      expect(await store.oidcGet('Session', 'cookie-value')).toMatchObject({ accountId: 'alice' });
      await store.oidcDestroy('Session', 'cookie-value');
      expect(await store.oidcGet('Session', 'cookie-value')).toBeNull();
      expect(await store.oidcFindByUid('Session', 'u1')).toBeNull();
    });

    it('lets exactly one of many concurrent consumers consume a code', async () => {
      const store = await target.open();
      await store.oidcPut('AuthorizationCode', 'code-1', { grantId: 'g1' }, Date.now() + 60_000);
      const results = await Promise.all(
        Array.from({ length: 8 }, () => store.oidcConsume('AuthorizationCode', 'code-1', 1000)),
      );
      expect(results.filter(Boolean)).toHaveLength(1);
      expect((await store.oidcGet('AuthorizationCode', 'code-1'))?.consumed).toBe(1000);
      expect(await store.oidcConsume('AuthorizationCode', 'missing', 1000)).toBe(false);
    });

    it('revokes every record of a grant and nothing else', async () => {
      const store = await target.open();
      const later = Date.now() + 60_000;
      await store.oidcPut('AuthorizationCode', 'c', { grantId: 'g1' }, later);
      await store.oidcPut('AccessToken', 'at', { grantId: 'g1' }, later);
      await store.oidcPut('RefreshToken', 'rt', { grantId: 'g1' }, later);
      await store.oidcPut('AccessToken', 'other', { grantId: 'g2' }, later);
      await store.oidcRevokeByGrantId('g1');
      expect(await store.oidcGet('AuthorizationCode', 'c')).toBeNull();
      expect(await store.oidcGet('AccessToken', 'at')).toBeNull();
      expect(await store.oidcGet('RefreshToken', 'rt')).toBeNull();
      expect(await store.oidcGet('AccessToken', 'other')).not.toBeNull();
    });

    it('never writes a record id (a bearer value) in plain text', async () => {
      const store = await target.open();
      const dir = target.files?.(store);
      if (!dir) return;
      const token = 'bearer-value-that-must-not-be-on-disk';
      await store.oidcPut(
        'AccessToken',
        token,
        { jti: token, grantId: 'g', accountId: 'alice' },
        Date.now() + 60_000,
      );
      for (const file of await listFiles(dir)) {
        expect(file).not.toContain(token);
        expect(await readFile(file, 'utf8')).not.toContain(token);
      }
    });
  });
}
