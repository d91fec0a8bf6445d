import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SecretsStoreError, type SecretsStore } from '../../src/secrets/provider.js';

export interface SecretsStoreFixture {
  store: SecretsStore;
  cleanup?: () => Promise<void>;
}

const PEM = [
  '-----BEGIN PRIVATE KEY-----',
  'MIIEvQIBADANBgkqhkiG9w0BAQEFAASCBKcwggSjAgEAAoIBAQC7VJTUt9Us8cKj',
  'MzEfYyjiWA4R4/M2bS1GB4t7NXp98C3SC6dVMvDuictGeurT8jNbvJZHtCSuYEvu',
  '-----END PRIVATE KEY-----',
  '',
].join('\n');

const FULLCHAIN = [
  '-----BEGIN CERTIFICATE-----',
  'MIIDazCCAlOgAwIBAgIUe3vE0Jm5cQ==',
  '-----END CERTIFICATE-----',
  '',
  '-----BEGIN CERTIFICATE-----',
  'MIIDbTCCAlWgAwIBAgIUWQ==',
  '-----END CERTIFICATE-----',
  '',
].join('\n');

/**
 * The behaviour every SecretsStore promises (see src/secrets/provider.ts).
 * Each test works under its own random prefix, so the suite can run against a
 * shared backend (one moto_server for the whole run) without cleaning it first.
 */
export function describeSecretsStoreContract(
  name: string,
  setup: () => Promise<SecretsStoreFixture> | SecretsStoreFixture,
): void {
  describe(`SecretsStore contract: ${name}`, () => {
    let fixture: SecretsStoreFixture;
    let store: SecretsStore;
    const prefix = `contract-${randomBytes(4).toString('hex')}`;
    let n = 0;
    const fresh = (leaf = 'secret'): string => `${prefix}/t${++n}/${leaf}`;

    beforeAll(async () => {
      fixture = await setup();
      store = fixture.store;
    });
    afterAll(async () => {
      await fixture?.cleanup?.();
    });

    it('has a name', () => {
      expect(typeof store.name).toBe('string');
      expect(store.name.length).toBeGreaterThan(0);
    });

    it('get of a missing secret resolves to undefined', async () => {
      await expect(store.get(fresh())).resolves.toBeUndefined();
    });

    it('put then get returns the value', async () => {
      const key = fresh();
      await store.put(key, 'hello');
      await expect(store.get(key)).resolves.toBe('hello');
    });

    it('put on an existing secret replaces the value', async () => {
      const key = fresh();
      await store.put(key, 'first');
      await store.put(key, 'second');
      await expect(store.get(key)).resolves.toBe('second');
    });

    it('accepts tags', async () => {
      const key = fresh();
      await store.put(key, 'tagged', { Domain: 'example.com' });
      await expect(store.get(key)).resolves.toBe('tagged');
    });

    it('round-trips multi-line PEM text byte for byte', async () => {
      const key = fresh('private_key');
      const chain = fresh('fullchain');
      await store.put(key, PEM);
      await store.put(chain, FULLCHAIN);
      await expect(store.get(key)).resolves.toBe(PEM);
      await expect(store.get(chain)).resolves.toBe(FULLCHAIN);
    });

    it('keeps secrets with the names AutoTLS uses apart', async () => {
      const base = `${prefix}/pem-secret/example.com`;
      await store.put(`${base}/private_key`, 'k');
      await store.put(`${base}/fullchain`, 'f');
      await store.put(`${base}/csr`, 'c');
      await expect(store.get(`${base}/private_key`)).resolves.toBe('k');
      await expect(store.get(`${base}/fullchain`)).resolves.toBe('f');
      await expect(store.get(`${base}/csr`)).resolves.toBe('c');
    });

    it('delete removes the secret, and deleting again is not an error', async () => {
      const key = fresh();
      await store.put(key, 'gone soon');
      await store.delete(key);
      await expect(store.get(key)).resolves.toBeUndefined();
      await expect(store.delete(key)).resolves.toBeUndefined();
    });

    it('a deleted name can be written again', async () => {
      const key = fresh();
      await store.put(key, 'one');
      await store.delete(key);
      await store.put(key, 'two');
      await expect(store.get(key)).resolves.toBe('two');
    });

    const unsafe = ['../x', '/abs', 'a//b', 'a/./b', 'a/../b', '', 'a/', 'nul\0byte', 'new\nline', 'a/b\r', 'tab\tname', 'sp ace'];
    for (const bad of unsafe) {
      it(`rejects the unsafe name ${JSON.stringify(bad)} on get, put and delete`, async () => {
        await expect(store.get(bad)).rejects.toBeInstanceOf(SecretsStoreError);
        await expect(store.put(bad, 'v')).rejects.toBeInstanceOf(SecretsStoreError);
        await expect(store.delete(bad)).rejects.toBeInstanceOf(SecretsStoreError);
      });
    }

    it('never puts the value in an error message', async () => {
      const secretValue = `do-not-leak-${randomBytes(8).toString('hex')}`;
      const err = await store.put('../escape', secretValue).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(SecretsStoreError);
      expect(String((err as Error).message)).not.toContain(secretValue);
    });

    it('handles concurrent puts to different names', async () => {
      const keys = Array.from({ length: 10 }, (_, i) => fresh(`c${i}`));
      await Promise.all(keys.map((k, i) => store.put(k, `value-${i}`)));
      const values = await Promise.all(keys.map((k) => store.get(k)));
      expect(values).toEqual(keys.map((_, i) => `value-${i}`));
    });

    it('concurrent puts to one name leave one of the written values', async () => {
      const key = fresh();
      const written = Array.from({ length: 5 }, (_, i) => `v${i}`);
      await Promise.all(written.map((v) => store.put(key, v)));
      expect(written).toContain(await store.get(key));
    });
  });
}
