import { spawn, type ChildProcess } from 'node:child_process';
import { createServer } from 'node:net';
import { GetSecretValueCommand, DescribeSecretCommand, SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { AwsSecretsStore } from '../../../src/secrets/aws.js';
import { SecretsStoreError } from '../../../src/secrets/provider.js';
import { describeSecretsStoreContract } from '../../secrets/contract.js';

/**
 * Runs against the suite's moto_server (provided by test/testbed/global-setup.ts
 * as `inject('testbed').moto.endpoint`); when this file runs without that
 * testbed, it starts its own moto_server on a free loopback port.
 */
const credentials = { accessKeyId: 'testing', secretAccessKey: 'testing' };
let endpoint = '';
let ownMoto: ChildProcess | undefined;

function testbedMotoEndpoint(): string | undefined {
  try {
    const testbed = (inject as (key: string) => unknown)('testbed');
    if (typeof testbed === 'object' && testbed !== null && 'moto' in testbed) {
      const moto = (testbed as { moto?: { endpoint?: unknown } }).moto;
      if (typeof moto?.endpoint === 'string') return moto.endpoint;
    }
  } catch {
    // no testbed
  }
  return undefined;
}

async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const addr = srv.address();
      const port = typeof addr === 'object' && addr ? addr.port : 0;
      srv.close(() => resolve(port));
    });
  });
}

async function startMoto(): Promise<string> {
  const port = await freePort();
  ownMoto = spawn('moto_server', ['-H', '127.0.0.1', '-p', String(port)], { stdio: 'ignore' });
  const url = `http://127.0.0.1:${port}`;
  const deadline = Date.now() + 30_000;
  while (Date.now() < deadline) {
    try {
      const res = await fetch(`${url}/moto-api/`);
      if (res.status < 500) return url;
    } catch {
      // not up yet
    }
    await new Promise((r) => setTimeout(r, 200));
  }
  throw new Error('moto_server did not start');
}

beforeAll(async () => {
  endpoint = testbedMotoEndpoint() ?? (await startMoto());
}, 60_000);

afterAll(() => {
  if (ownMoto?.pid) process.kill(ownMoto.pid);
});

const makeStore = (): AwsSecretsStore =>
  new AwsSecretsStore({ region: 'us-east-1', endpoint, ...credentials, requestTimeoutMs: 5_000, maxAttempts: 2 });

describeSecretsStoreContract('aws (moto)', () => ({ store: makeStore() }));

describe('AwsSecretsStore specifics', () => {
  const rawClient = (): SecretsManagerClient => new SecretsManagerClient({ region: 'us-east-1', endpoint, credentials });
  const unique = (): string => `aws-specific-${Math.random().toString(16).slice(2)}`;

  it('tags the secrets it creates with Application=autotls plus the given tags', async () => {
    const store = makeStore();
    const name = `${unique()}/pem-secret/example.com/private_key`;
    await store.put(name, 'value', { Domain: 'example.com' });
    const described = await rawClient().send(new DescribeSecretCommand({ SecretId: name }));
    const tags = Object.fromEntries((described.Tags ?? []).map((t) => [t.Key, t.Value]));
    expect(tags).toMatchObject({ Application: 'autotls', Domain: 'example.com' });
  });

  it('delete skips the recovery window (the secret is gone, not scheduled)', async () => {
    const store = makeStore();
    const name = `${unique()}/x`;
    await store.put(name, 'value');
    await store.delete(name);
    await expect(rawClient().send(new GetSecretValueCommand({ SecretId: name }))).rejects.toMatchObject({
      name: 'ResourceNotFoundException',
    });
  });

  it('fails with SecretsStoreError, within the timeout, when the endpoint does not answer', async () => {
    const port = await freePort();
    const store = new AwsSecretsStore({
      region: 'us-east-1',
      endpoint: `http://127.0.0.1:${port}`,
      ...credentials,
      maxAttempts: 2,
      requestTimeoutMs: 500,
      connectionTimeoutMs: 500,
    });
    const started = Date.now();
    await expect(store.get('nothing/here')).rejects.toBeInstanceOf(SecretsStoreError);
    expect(Date.now() - started).toBeLessThan(10_000);
  });
});
