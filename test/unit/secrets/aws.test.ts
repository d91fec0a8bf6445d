import { createServer } from 'node:http';
import type { SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { describe, expect, it } from 'vitest';
import { AwsSecretsStore } from '../../../src/secrets/aws.js';
import { SecretsStoreError } from '../../../src/secrets/provider.js';

/** A stand-in for the SDK client: answers each command by its class name. */
function stubClient(handler: (command: string, input: Record<string, unknown>) => unknown): SecretsManagerClient {
  const client = {
    send: async (command: { constructor: { name: string }; input: Record<string, unknown> }) =>
      handler(command.constructor.name, command.input),
  };
  return client as unknown as SecretsManagerClient;
}

function sdkError(name: string, message: string, status = 400): Error {
  const err = new Error(message);
  err.name = name;
  Object.assign(err, { $metadata: { httpStatusCode: status } });
  return err;
}

const PEM = '-----BEGIN PRIVATE KEY-----\nMIIEvQIBADANBgkqhkiG9w0BAQEFAASCBKcwggSjAgEAAoIBAQC7VJTUt9Us8cKj\n-----END PRIVATE KEY-----\n';

describe('AwsSecretsStore error handling', () => {
  it('never echoes the value, even when the service quotes the request', async () => {
    const store = new AwsSecretsStore({
      region: 'us-east-1',
      client: stubClient(() => {
        throw sdkError('ValidationException', `Value '${PEM.slice(0, 60)}' at 'secretString' failed to satisfy constraint`);
      }),
    });
    const err = await store.put('pem-secret/example.com/private_key', PEM).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(SecretsStoreError);
    const message = (err as Error).message;
    expect(message).toContain('ValidationException');
    expect(message).toContain('HTTP 400');
    expect(message).not.toContain('MIIEvQIBADANBgkqhkiG9w0BAQEFAASC');
    expect((err as Error).cause).toBeUndefined();
  });

  it('keeps harmless service messages (no value in them)', async () => {
    const store = new AwsSecretsStore({
      region: 'us-east-1',
      client: stubClient(() => {
        throw sdkError('AccessDeniedException', 'User is not authorized to perform secretsmanager:PutSecretValue', 403);
      }),
    });
    await expect(store.put('a/b', 'value-value-value')).rejects.toThrow(/AccessDeniedException, HTTP 403: User is not authorized/);
  });

  it('creates the secret with tags when it does not exist yet', async () => {
    const calls: Array<[string, Record<string, unknown>]> = [];
    const store = new AwsSecretsStore({
      region: 'us-east-1',
      client: stubClient((command, input) => {
        calls.push([command, input]);
        if (command === 'PutSecretValueCommand') throw sdkError('ResourceNotFoundException', 'not found');
        return {};
      }),
    });
    await store.put('pem-secret/example.com/fullchain', 'chain', { Domain: 'example.com' });
    expect(calls.map((c) => c[0])).toEqual(['PutSecretValueCommand', 'CreateSecretCommand']);
    expect(calls[1]?.[1]).toMatchObject({
      Name: 'pem-secret/example.com/fullchain',
      SecretString: 'chain',
      Tags: [
        { Key: 'Application', Value: 'autotls' },
        { Key: 'Domain', Value: 'example.com' },
      ],
    });
  });

  it('falls back to PutSecretValue when a concurrent writer created the secret first', async () => {
    const calls: string[] = [];
    let puts = 0;
    const store = new AwsSecretsStore({
      region: 'us-east-1',
      client: stubClient((command) => {
        calls.push(command);
        if (command === 'PutSecretValueCommand' && puts++ === 0) throw sdkError('ResourceNotFoundException', 'not found');
        if (command === 'CreateSecretCommand') throw sdkError('ResourceExistsException', 'exists');
        return {};
      }),
    });
    await store.put('a/b', 'v');
    expect(calls).toEqual(['PutSecretValueCommand', 'CreateSecretCommand', 'PutSecretValueCommand']);
  });

  it('restores a secret scheduled for deletion before writing it', async () => {
    const calls: string[] = [];
    let puts = 0;
    const store = new AwsSecretsStore({
      region: 'us-east-1',
      client: stubClient((command) => {
        calls.push(command);
        if (command === 'PutSecretValueCommand' && puts++ === 0) {
          throw sdkError('InvalidRequestException', "You can't perform this operation on the secret because it was marked for deletion.");
        }
        return {};
      }),
    });
    await store.put('a/b', 'v');
    expect(calls).toEqual(['PutSecretValueCommand', 'RestoreSecretCommand', 'PutSecretValueCommand']);
  });

  it('reads a secret scheduled for deletion as missing, and binary secrets as UTF-8', async () => {
    const store = new AwsSecretsStore({
      region: 'us-east-1',
      client: stubClient((_command, input) => {
        if (input.SecretId === 'gone/soon') throw sdkError('InvalidRequestException', 'secret is marked for deletion');
        return { SecretBinary: new TextEncoder().encode('bytes') };
      }),
    });
    await expect(store.get('gone/soon')).resolves.toBeUndefined();
    await expect(store.get('binary/one')).resolves.toBe('bytes');
  });

  it('treats deleting a missing secret as done, and other failures as SecretsStoreError', async () => {
    const missing = new AwsSecretsStore({
      region: 'us-east-1',
      client: stubClient(() => {
        throw sdkError('ResourceNotFoundException', 'not found');
      }),
    });
    await expect(missing.delete('a/b')).resolves.toBeUndefined();
    const failing = new AwsSecretsStore({
      region: 'us-east-1',
      client: stubClient(() => {
        throw sdkError('InternalServiceError', 'boom', 500);
      }),
    });
    await expect(failing.delete('a/b')).rejects.toBeInstanceOf(SecretsStoreError);
    await expect(failing.get('a/b')).rejects.toThrow(/GetSecretValue failed for a\/b: InternalServiceError, HTTP 500/);
  });
});

describe('AwsSecretsStore credentials', () => {
  /** A loopback stand-in for Secrets Manager that records who signed each request (SigV4 headers). */
  async function recordingEndpoint(): Promise<{ url: string; seen: Array<{ key: string | undefined; token: string | undefined }>; close: () => Promise<void> }> {
    const seen: Array<{ key: string | undefined; token: string | undefined }> = [];
    const server = createServer((req, res) => {
      const auth = String(req.headers.authorization ?? '');
      const token = req.headers['x-amz-security-token'];
      seen.push({ key: /Credential=([^/]+)\//.exec(auth)?.[1], token: Array.isArray(token) ? token[0] : token });
      req.resume();
      req.on('end', () => {
        res.writeHead(200, { 'content-type': 'application/x-amz-json-1.1' });
        res.end(JSON.stringify({ Name: 'a/b', SecretString: 'value' }));
      });
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', () => resolve()));
    const address = server.address();
    const port = typeof address === 'object' && address ? address.port : 0;
    return { url: `http://127.0.0.1:${port}`, seen, close: () => new Promise((resolve) => server.close(() => resolve())) };
  }

  it('static keys are sent with their session token', async () => {
    const endpoint = await recordingEndpoint();
    try {
      const store = new AwsSecretsStore({ region: 'us-east-1', endpoint: endpoint.url, accessKeyId: 'ASIASTATIC', secretAccessKey: 's', sessionToken: 'static-token', maxAttempts: 1 });
      expect(await store.get('a/b')).toBe('value');
      expect(endpoint.seen).toEqual([{ key: 'ASIASTATIC', token: 'static-token' }]);
    } finally {
      await endpoint.close();
    }
  });

  it('a credentials provider takes precedence over static keys', async () => {
    const endpoint = await recordingEndpoint();
    try {
      const store = new AwsSecretsStore({
        region: 'us-east-1',
        endpoint: endpoint.url,
        accessKeyId: 'AKIAIGNORED',
        secretAccessKey: 's',
        credentials: async () => ({ accessKeyId: 'ASIAROLE', secretAccessKey: 'r', sessionToken: 'role-token' }),
        maxAttempts: 1,
      });
      await store.get('a/b');
      expect(endpoint.seen).toEqual([{ key: 'ASIAROLE', token: 'role-token' }]);
    } finally {
      await endpoint.close();
    }
  });
});
