// An order the CA accepted is never paid for twice: a run that dies after the
// order was created (before the certificate was stored) leaves its key behind,
// and the next run finishes that same order. Names under z18.test.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ChallengePublisher, PublishedChallenge } from '../../src/dns/challenge.js';
import type { SecretsStore } from '../../src/secrets/provider.js';
import { FileSecretsStore } from '../../src/secrets/file.js';
import { createChallengePublisher, createDnsProvider } from '../../src/dns/index.js';
import { loadSettings } from '../../src/config/index.js';
import { createLogger } from '../../src/logger.js';
import { baseEnv, challengeRecords, createDeployment, startHarness, stopDeployment, type Harness, type SharedDeployment } from './harness.js';

/** Fails the next `put` whose name ends with `suffix` (a secrets outage, or a crash, right after issuance). */
class FailingOnce implements SecretsStore {
  readonly name = 'failing-once';
  private armed = new Set<string>();
  constructor(private readonly inner: SecretsStore) {}
  failNext(suffix: string): void {
    this.armed.add(suffix);
  }
  get(name: string) {
    return this.inner.get(name);
  }
  async put(name: string, value: string, tags?: Record<string, string>) {
    for (const suffix of this.armed) {
      if (name.endsWith(suffix)) {
        this.armed.delete(suffix);
        throw new Error(`injected failure storing ${name}`);
      }
    }
    return this.inner.put(name, value, tags);
  }
  delete(name: string) {
    return this.inner.delete(name);
  }
}

/** Throws once the challenge is published, as a process dying mid-validation would stop. */
class FailingAfterPublish implements ChallengePublisher {
  armed = false;
  /** Publish wrong values once, so the CA invalidates the order. */
  wrongOnce = false;
  constructor(private readonly inner: ChallengePublisher) {}
  clearStale(domain: string, zone: string) {
    return this.inner.clearStale(domain, zone);
  }
  async publish(domain: string, zone: string, values: string[]): Promise<PublishedChallenge> {
    const wrong = this.wrongOnce;
    this.wrongOnce = false;
    const published = await this.inner.publish(domain, zone, wrong ? values.map((v) => `${v.slice(0, -4)}AAAA`) : values);
    if (this.armed) {
      this.armed = false;
      await this.inner.cleanup(published);
      throw new Error('injected failure after publishing the challenge');
    }
    return published;
  }
  cleanup(published: PublishedChallenge) {
    return this.inner.cleanup(published);
  }
}

let shared: SharedDeployment;
let h: Harness;
let secrets: FailingOnce;
let publisher: FailingAfterPublish;

beforeAll(async () => {
  shared = await createDeployment('sqlite');
  const settings = loadSettings(baseEnv(shared));
  const logger = createLogger({ level: 'silent' });
  secrets = new FailingOnce(new FileSecretsStore(shared.secretsDir));
  publisher = new FailingAfterPublish(createChallengePublisher(settings, createDnsProvider(settings, logger), logger));
  h = await startHarness({ shared, compose: { overrides: { secrets, publisher } } });
});
afterAll(async () => {
  await h?.stop();
  if (shared) await stopDeployment(shared);
});

const orders = (domain: string) => h.components.database.client.acmeOrder.count({ where: { domain } });
const phase = async (domain: string) => (await h.components.database.client.domainState.findFirstOrThrow({ where: { domain: { name: domain } } })).phase;

describe('resuming an unfinished ACME order', () => {
  it('downloads the certificate a finished order holds when storing it failed', async () => {
    const domain = 'resume1.z18.test';
    await h.addDomain(domain, 'z18.test');
    secrets.failNext(`${domain}/fullchain`);
    const failed = await h.run('/process');
    expect(failed.status).toBe(502);
    expect(failed.doc.results[0]).toMatchObject({ domain, outcome: 'failed' });
    expect(await phase(domain)).toBe('ordered');
    expect(await orders(domain)).toBe(1);

    const resumed = await h.run(`/single/${domain}`);
    expect(resumed.status, JSON.stringify(resumed.doc)).toBe(200);
    expect(resumed.doc.results[0]).toMatchObject({ domain, outcome: 'issued' });
    expect(resumed.doc.results[0]?.messages.join(' ')).toMatch(/Resumed the ACME order/);
    expect(await orders(domain)).toBe(1);
    expect(await phase(domain)).toBe('recorded');
    expect([...shared.fastly.certs.values()].filter((c) => c.domains.includes(domain))).toHaveLength(1);
    expect(await challengeRecords(domain)).toEqual([]);
  });

  it('validates and finalizes an order that was left pending', async () => {
    const domain = 'resume2.z18.test';
    await h.addDomain(domain, 'z18.test');
    publisher.armed = true;
    const failed = await h.run('/process');
    expect(failed.doc.results.find((r) => r.domain === domain)).toMatchObject({ outcome: 'failed' });
    expect(await phase(domain)).toBe('ordered');

    const resumed = await h.run(`/single/${domain}`);
    expect(resumed.status, JSON.stringify(resumed.doc)).toBe(200);
    expect(resumed.doc.results[0]?.messages.join(' ')).toMatch(/Resumed the ACME order/);
    expect(await orders(domain)).toBe(1);
    expect(await challengeRecords(domain)).toEqual([]);
  });

  it('orders anew when the unfinished order can no longer be completed', async () => {
    const domain = 'resume3.z18.test';
    await h.addDomain(domain, 'z18.test');
    publisher.wrongOnce = true;
    const failed = await h.run('/process');
    const result = failed.doc.results.find((r) => r.domain === domain);
    expect(result?.outcome).toBe('failed');
    expect(result?.errors.join(' ')).toMatch(/Correct value not found|unauthorized/);
    expect(await phase(domain)).toBe('ordered');

    const retried = await h.run(`/single/${domain}`);
    expect(retried.status, JSON.stringify(retried.doc)).toBe(200);
    expect(retried.doc.results[0]).toMatchObject({ domain, outcome: 'issued' });
    expect(await orders(domain)).toBe(2);
    // The in-flight copy of the key is gone once the certificate is stored.
    expect(await h.components.secrets.get(`pem-secret/${domain}/pending`)).toBeUndefined();
    expect(await challengeRecords(domain)).toEqual([]);
  });
});
