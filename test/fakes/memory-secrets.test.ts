import { describe, expect, it } from 'vitest';
import { describeSecretsStoreContract } from '../secrets/contract.js';
import { TestClock } from './clock.js';
import { MemorySecretsStore } from './memory-secrets.js';

describeSecretsStoreContract('memory', () => ({ store: new MemorySecretsStore({ clock: new TestClock() }) }));

describe('MemorySecretsStore faults', () => {
  it('fails the next call, then works again', async () => {
    const store = new MemorySecretsStore({ clock: new TestClock() });
    store.faults.failNext = 1;
    await expect(store.put('a/b', 'v')).rejects.toThrow(/injected fault/);
    await store.put('a/b', 'v', { Domain: 'b' });
    await store.put('a/b', 'w');
    expect(store.secrets.get('a/b')).toMatchObject({ value: 'w', versions: 2, tags: { Domain: 'b' } });
  });
});
