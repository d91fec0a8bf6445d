/**
 * What sits between the real service and the shared in-memory counterparts
 * (test/fakes): a liveness guard per service instance (the crash fault), and a
 * tap on Fastly that tells the simulator which certificate each domain is
 * served, so that its bookkeeping never reads the fleet.
 */
import type { BulkCertificate, FastlyTls } from '../../src/storage/fastly.js';
import type { MemoryFastly } from '../../test/fakes/memory-fastly.js';

/** One service instance's life: once dead, every edge call it makes hangs for ever (the process is gone). */
export class Life {
  dead = false;
  readonly death: Promise<void>;
  private resolveDeath: () => void = () => undefined;

  constructor(readonly instance: number) {
    this.death = new Promise<void>((resolve) => {
      this.resolveDeath = resolve;
    });
  }

  kill(): void {
    if (this.dead) return;
    this.dead = true;
    this.resolveDeath();
  }
}

const never = (): Promise<never> => new Promise<never>(() => undefined);

/**
 * `target` with every method guarded: a dead instance's calls never resolve,
 * and `crashDue()` (asked before each call) may kill the instance at this step.
 */
export function guarded<T extends object>(target: T, life: Life, crashDue: () => boolean): T {
  return new Proxy(target, {
    get(t, property) {
      const value: unknown = Reflect.get(t, property, t);
      if (typeof value !== 'function') return value;
      return (...args: unknown[]): unknown => {
        if (life.dead) return never();
        if (crashDue()) {
          life.kill();
          return never();
        }
        return (value as (...a: unknown[]) => unknown).apply(t, args);
      };
    },
  });
}

export function guardedFunction<A extends unknown[], R>(fn: (...args: A) => Promise<R>, life: Life, crashDue: () => boolean): (...args: A) => Promise<R> {
  return (...args: A) => {
    if (life.dead) return never();
    if (crashDue()) {
      life.kill();
      return never();
    }
    return fn(...args);
  };
}

export interface ServedChange {
  /** Apex names the certificate now serves (its SANs without the `*.` ones). */
  domains: string[];
  serial: string;
  notBefore: Date;
  notAfter: Date;
}

/** MemoryFastly as FastlyTls, reporting every certificate that starts being served. */
export function tappedFastly(fastly: MemoryFastly, onServed: (change: ServedChange) => void): FastlyTls {
  const report = (bulk: BulkCertificate): BulkCertificate => {
    const stored = fastly.certs.get(bulk.id);
    if (stored) {
      onServed({ domains: stored.domains.filter((d) => !d.startsWith('*.')), serial: stored.serial, notBefore: stored.notBefore, notAfter: stored.notAfter });
    }
    return bulk;
  };
  return {
    uploadPrivateKey: (pem, name) => fastly.uploadPrivateKey(pem, name),
    findBulkCertificateForDomain: (domain) => fastly.findBulkCertificateForDomain(domain),
    listBulkCertificatesForDomain: (domain) => fastly.listBulkCertificatesForDomain(domain),
    findUploadedCertificate: (certPem) => fastly.findUploadedCertificate(certPem),
    createBulkCertificate: async (certPem, intermediatesPem, configurationId) => report(await fastly.createBulkCertificate(certPem, intermediatesPem, configurationId)),
    replaceBulkCertificate: async (id, certPem, intermediatesPem) => report(await fastly.replaceBulkCertificate(id, certPem, intermediatesPem)),
    listBulkCertificates: () => fastly.listBulkCertificates(),
    listPrivateKeys: (filter) => fastly.listPrivateKeys(filter),
    deletePrivateKey: (id) => fastly.deletePrivateKey(id),
    deleteUnusedPrivateKeys: (options) => fastly.deleteUnusedPrivateKeys(options),
    getTlsConfiguration: (id) => fastly.getTlsConfiguration(id),
  };
}

/**
 * After a crash: the dead process's database client answers nothing. Prisma
 * reconnects lazily after `$disconnect`, so closing alone would let the dead
 * instance's lease keep-alive (a real-time setInterval in the orchestrator) go
 * on extending its leases; every model delegate and raw method is replaced by
 * one whose calls never settle, as a process that is gone never sends them.
 */
export function severDatabase(client: object): void {
  const hang: ProxyHandler<object> = { get: () => () => never() };
  const target = client as Record<string, unknown>;
  const keys = new Set([...Object.keys(target), ...Object.getOwnPropertyNames(Object.getPrototypeOf(target) as object)]);
  for (const key of keys) {
    if (key === 'constructor' || key.startsWith('_')) continue;
    const value = target[key];
    if (typeof value === 'function') Object.defineProperty(target, key, { configurable: true, value: () => never() });
    else if (value && typeof value === 'object') Object.defineProperty(target, key, { configurable: true, get: () => new Proxy({}, hang) });
  }
}
