import {
  CreateSecretCommand,
  DeleteSecretCommand,
  GetSecretValueCommand,
  PutSecretValueCommand,
  RestoreSecretCommand,
  SecretsManagerClient,
  type SecretsManagerClientConfig,
  type Tag,
} from '@aws-sdk/client-secrets-manager';
import type { AwsCredentialsProvider } from '../aws/credentials.js';
import { scrubSecrets, type Logger } from '../logger.js';
import { assertSafeSecretName, SecretsStoreError, type SecretsStore } from './provider.js';

export interface AwsSecretsStoreOptions {
  region: string;
  /** Custom endpoint (moto in tests); undefined means the AWS default for the region. */
  endpoint?: string | undefined;
  /**
   * What signs the calls (src/aws/credentials.ts: the default chain, static keys
   * with their session token, assumed roles). Takes precedence over the keys below.
   */
  credentials?: AwsCredentialsProvider | undefined;
  /** Static keys: both set, or both undefined (then the SDK's default credential chain applies). */
  accessKeyId?: string | undefined;
  secretAccessKey?: string | undefined;
  /** Sent with the static keys when they are temporary. */
  sessionToken?: string | undefined;
  /** Per-request socket timeout. */
  requestTimeoutMs?: number;
  connectionTimeoutMs?: number;
  /** Attempts per call, including the first; the SDK retries throttling and 5xx. */
  maxAttempts?: number;
  logger?: Logger;
  /** Tags added to every secret this store creates (before the caller's own). */
  defaultTags?: Record<string, string>;
  /** For tests: a ready client instead of one built from the options above. */
  client?: SecretsManagerClient;
}

const DEFAULT_TAGS: Record<string, string> = { Application: 'autotls' };

/**
 * Secrets in AWS Secrets Manager, one secret per name.
 *
 * `put` stores a new version (PutSecretValue) and creates the secret, tagged
 * `Application=autotls` plus the caller's tags, the first time. `delete` skips
 * the recovery window, so a name can be used again at once. A secret that is
 * scheduled for deletion (by someone else) reads as missing, and `put` restores it.
 *
 * SDK errors are never passed through as they are: a service error message may
 * quote the request, which for `put` holds the secret value. The thrown
 * `SecretsStoreError` carries the error name, the HTTP status and a scrubbed message.
 */
export class AwsSecretsStore implements SecretsStore {
  readonly name = 'aws';
  private readonly client: SecretsManagerClient;
  private readonly logger: Logger | undefined;
  private readonly defaultTags: Record<string, string>;

  constructor(options: AwsSecretsStoreOptions) {
    this.logger = options.logger;
    this.defaultTags = options.defaultTags ?? DEFAULT_TAGS;
    this.client =
      options.client ??
      new SecretsManagerClient({
        region: options.region,
        ...(options.endpoint ? { endpoint: options.endpoint } : {}),
        ...credentialsOption(options),
        maxAttempts: options.maxAttempts ?? 3,
        requestHandler: {
          requestTimeout: options.requestTimeoutMs ?? 10_000,
          connectionTimeout: options.connectionTimeoutMs ?? 5_000,
        },
      });
  }

  async get(name: string): Promise<string | undefined> {
    assertSafeSecretName(name);
    try {
      const out = await this.client.send(new GetSecretValueCommand({ SecretId: name }));
      if (out.SecretString !== undefined) return out.SecretString;
      if (out.SecretBinary !== undefined) return Buffer.from(out.SecretBinary).toString('utf8');
      return undefined;
    } catch (err) {
      if (errorName(err) === 'ResourceNotFoundException') return undefined;
      if (isMarkedForDeletion(err)) return undefined;
      throw wrap('GetSecretValue', name, err, []);
    }
  }

  async put(name: string, value: string, tags?: Record<string, string>): Promise<void> {
    assertSafeSecretName(name);
    try {
      await this.putValue(name, value);
    } catch (err) {
      if (errorName(err) === 'ResourceNotFoundException') {
        await this.create(name, value, tags);
      } else if (isMarkedForDeletion(err)) {
        await this.restore(name, value);
        await this.putValueOrThrow(name, value);
      } else {
        throw wrap('PutSecretValue', name, err, [value]);
      }
    }
    this.logger?.debug({ secretName: name, store: this.name }, 'secret stored');
  }

  async delete(name: string): Promise<void> {
    assertSafeSecretName(name);
    try {
      await this.client.send(new DeleteSecretCommand({ SecretId: name, ForceDeleteWithoutRecovery: true }));
    } catch (err) {
      if (errorName(err) === 'ResourceNotFoundException') return;
      throw wrap('DeleteSecret', name, err, []);
    }
  }

  private async putValue(name: string, value: string): Promise<void> {
    await this.client.send(new PutSecretValueCommand({ SecretId: name, SecretString: value }));
  }

  private async putValueOrThrow(name: string, value: string): Promise<void> {
    try {
      await this.putValue(name, value);
    } catch (err) {
      throw wrap('PutSecretValue', name, err, [value]);
    }
  }

  private async create(name: string, value: string, tags: Record<string, string> | undefined): Promise<void> {
    const merged = { ...this.defaultTags, ...(tags ?? {}) };
    const Tags: Tag[] = Object.entries(merged).map(([Key, Value]) => ({ Key, Value }));
    try {
      await this.client.send(new CreateSecretCommand({ Name: name, SecretString: value, Tags }));
    } catch (err) {
      // Another writer created it between our PutSecretValue and CreateSecret.
      if (errorName(err) === 'ResourceExistsException') {
        await this.putValueOrThrow(name, value);
        return;
      }
      throw wrap('CreateSecret', name, err, [value]);
    }
  }

  private async restore(name: string, value: string): Promise<void> {
    try {
      await this.client.send(new RestoreSecretCommand({ SecretId: name }));
      this.logger?.warn({ secretName: name }, 'secret was scheduled for deletion; restored it to store a new value');
    } catch (err) {
      throw wrap('RestoreSecret', name, err, [value]);
    }
  }
}

function credentialsOption(options: AwsSecretsStoreOptions): { credentials?: SecretsManagerClientConfig['credentials'] } {
  if (options.credentials) return { credentials: options.credentials };
  if (options.accessKeyId && options.secretAccessKey) {
    const { accessKeyId, secretAccessKey, sessionToken } = options;
    return { credentials: { accessKeyId, secretAccessKey, ...(sessionToken ? { sessionToken } : {}) } };
  }
  return {};
}

function errorName(err: unknown): string | undefined {
  if (typeof err === 'object' && err !== null && 'name' in err && typeof err.name === 'string') return err.name;
  return undefined;
}

function isMarkedForDeletion(err: unknown): boolean {
  return errorName(err) === 'InvalidRequestException' && /marked for deletion|scheduled for deletion/i.test(rawMessage(err));
}

function rawMessage(err: unknown): string {
  return err instanceof Error ? err.message : '';
}

function httpStatus(err: unknown): number | undefined {
  if (typeof err === 'object' && err !== null && '$metadata' in err) {
    const meta = (err as { $metadata?: { httpStatusCode?: number } }).$metadata;
    return meta?.httpStatusCode;
  }
  return undefined;
}

/**
 * Builds an error that is safe to log: the SDK error is not attached as `cause`
 * (its message and `$response` may quote the request body), and the message it
 * contributes has the value, any PEM private key and anything long removed.
 */
function wrap(operation: string, name: string, err: unknown, values: readonly string[]): SecretsStoreError {
  const code = errorName(err) ?? 'Error';
  const status = httpStatus(err);
  let detail = scrubSecrets(rawMessage(err), values.filter((v) => v.length > 0));
  // A service may quote a truncated request: drop the message if any fragment of a value shows.
  if (values.some((v) => quotesFragment(detail, v))) detail = '[message withheld: it quoted the request]';
  if (detail.length > 300) detail = `${detail.slice(0, 300)}...`;
  const statusText = status === undefined ? '' : `, HTTP ${status}`;
  return new SecretsStoreError(`Secrets Manager ${operation} failed for ${name}: ${code}${statusText}${detail ? `: ${detail}` : ''}`);
}

/** True when `text` contains the value or any 12-character piece of it. */
function quotesFragment(text: string, value: string): boolean {
  if (value.length === 0) return false;
  if (value.length < 12) return text.includes(value);
  for (let i = 0; i + 12 <= value.length; i += 4) {
    if (text.includes(value.slice(i, i + 12))) return true;
  }
  return text.includes(value.slice(-12));
}
