import { mkdtemp, readdir, rm, stat, writeFile, mkdir } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FileSecretsStore } from '../../../src/secrets/file.js';
import { SecretsStoreError } from '../../../src/secrets/provider.js';
import { describeSecretsStoreContract } from '../../secrets/contract.js';

describeSecretsStoreContract('file', async () => {
  const dir = await mkdtemp(path.join(tmpdir(), 'autotls-secrets-contract-'));
  return { store: new FileSecretsStore(dir), cleanup: () => rm(dir, { recursive: true, force: true }) };
});

async function walk(dir: string): Promise<string[]> {
  const out: string[] = [];
  for (const entry of await readdir(dir, { withFileTypes: true })) {
    const p = path.join(dir, entry.name);
    out.push(p);
    if (entry.isDirectory()) out.push(...(await walk(p)));
  }
  return out;
}

describe('FileSecretsStore on disk', () => {
  let dir: string;
  let store: FileSecretsStore;

  beforeAll(async () => {
    dir = await mkdtemp(path.join(tmpdir(), 'autotls-secrets-'));
    store = new FileSecretsStore(path.join(dir, 'secrets'));
  });
  afterAll(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('maps a name to a nested path, with files 0600 and directories 0700', async () => {
    await store.put('pem-secret/example.com/private_key', 'KEY');
    const file = path.join(dir, 'secrets', 'pem-secret', 'example.com', 'private_key');
    expect((await stat(file)).mode & 0o777).toBe(0o600);
    expect((await stat(path.join(dir, 'secrets', 'pem-secret'))).mode & 0o777).toBe(0o700);
    expect((await stat(path.join(dir, 'secrets', 'pem-secret', 'example.com'))).mode & 0o777).toBe(0o700);
  });

  it('keeps mode 0600 when overwriting', async () => {
    await store.put('pem-secret/example.org/fullchain', 'one');
    await store.put('pem-secret/example.org/fullchain', 'two');
    const file = path.join(dir, 'secrets', 'pem-secret', 'example.org', 'fullchain');
    expect((await stat(file)).mode & 0o777).toBe(0o600);
  });

  it('leaves no temporary files behind, also after many concurrent writes', async () => {
    await Promise.all(Array.from({ length: 20 }, (_, i) => store.put('busy/name', `v${i}`)));
    const files = await walk(path.join(dir, 'secrets'));
    expect(files.filter((f) => f.endsWith('.tmp'))).toEqual([]);
  });

  it('a name cannot be both a secret and the parent of one', async () => {
    await store.put('parent', 'p');
    await expect(store.put('parent/child', 'c')).rejects.toBeInstanceOf(SecretsStoreError);
    await expect(store.get('parent/child')).resolves.toBeUndefined();
    await store.put('dir-only/leaf', 'x');
    await expect(store.get('dir-only')).resolves.toBeUndefined();
    const files = await walk(path.join(dir, 'secrets'));
    expect(files.filter((f) => f.endsWith('.tmp'))).toEqual([]);
  });

  it('rejects dot segments before touching the disk', async () => {
    await expect(store.get('..')).rejects.toBeInstanceOf(SecretsStoreError);
    await expect(store.get('a/..')).rejects.toBeInstanceOf(SecretsStoreError);
  });

  it('surfaces unexpected file system errors as SecretsStoreError without the value', async () => {
    const blocked = path.join(dir, 'blocked');
    await writeFile(blocked, 'not a directory');
    const broken = new FileSecretsStore(blocked);
    const err = await broken.put('x/y', 'super-secret-value').catch((e: unknown) => e);
    expect(err).toBeInstanceOf(SecretsStoreError);
    expect((err as Error).message).not.toContain('super-secret-value');
  });

  it('reads a secret written by another process layout (plain file)', async () => {
    await mkdir(path.join(dir, 'secrets', 'manual'), { recursive: true });
    await writeFile(path.join(dir, 'secrets', 'manual', 'k'), 'by hand');
    await expect(store.get('manual/k')).resolves.toBe('by hand');
  });
});
