/**
 * An in-memory SecretsStore (src/secrets/provider.ts): names checked by the same
 * `assertSafeSecretName` as the real stores, values and tags kept per name, a
 * version count per name (AWS Secrets Manager keeps versions), and faults.
 * It passes the shared contract suite (test/secrets/contract.ts).
 */
import type { Clock } from '../../src/clock.js';
import { assertSafeSecretName, SecretsStoreError, type SecretsStore } from '../../src/secrets/provider.js';
import { drawFault, noFaults, type FaultSwitches } from './random.js';

export interface StoredSecret {
  value: string;
  tags: Record<string, string>;
  versions: number;
  updatedAt: Date;
}

export class MemorySecretsStore implements SecretsStore {
  readonly name = 'memory';
  readonly secrets = new Map<string, StoredSecret>();
  /** Applies to get, put and delete alike. */
  readonly faults: FaultSwitches = noFaults();
  readonly ops = { get: 0, put: 0, delete: 0 };

  constructor(private readonly options: { clock: Clock; random?: () => number }) {}

  async get(name: string): Promise<string | undefined> {
    this.check('get', name);
    this.ops.get++;
    return this.secrets.get(name)?.value;
  }

  async put(name: string, value: string, tags: Record<string, string> = {}): Promise<void> {
    this.check('put', name);
    this.ops.put++;
    const previous = this.secrets.get(name);
    this.secrets.set(name, { value, tags: { ...previous?.tags, ...tags }, versions: (previous?.versions ?? 0) + 1, updatedAt: this.options.clock.now() });
  }

  async delete(name: string): Promise<void> {
    this.check('delete', name);
    this.ops.delete++;
    this.secrets.delete(name);
  }

  /** Names under a prefix, sorted (for assertions). */
  names(prefix = ''): string[] {
    return [...this.secrets.keys()].filter((n) => n.startsWith(prefix)).sort();
  }

  private check(operation: string, name: string): void {
    assertSafeSecretName(name);
    const fault = drawFault(this.faults, this.options.clock.now(), this.options.random ?? Math.random);
    if (fault) throw new SecretsStoreError(`memory secrets store: ${operation} ${name} failed (${fault === 'outage' ? 'store unreachable' : 'injected fault'})`);
  }
}
