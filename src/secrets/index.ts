import type { Settings } from '../config/settings.js';
import type { Logger } from '../logger.js';
import { FileSecretsStore } from './file.js';
import type { SecretsStore } from './provider.js';

export { SecretsStoreError, assertSafeSecretName, type SecretsStore } from './provider.js';
export { AwsSecretsStore, type AwsSecretsStoreOptions } from './aws.js';
export { FileSecretsStore } from './file.js';

/** The secrets store chosen by `SECRETS_PROVIDER`. */
export function createSecretsStore(settings: Pick<Settings, 'secrets' | 'aws'>, logger: Logger): SecretsStore {
  const log = logger.child({ component: 'secrets' });
  switch (settings.secrets.provider) {
    case 'file':
      return new FileSecretsStore(settings.secrets.dir, log);
    case 'aws': {
      const options = {
        region: settings.aws.region,
        endpoint: settings.aws.secretsManagerEndpoint,
        logger: log,
      };
      // The AWS SDK is loaded only by deployments that use Secrets Manager.
      // Credentials: the default chain or the configured keys (with their session
      // token), then AWS_ASSUME_ROLE_ARN; shared with Route 53 (src/aws/credentials.ts).
      return lazySecretsStore('aws', async () => {
        const [{ AwsSecretsStore }, { credentialSourceFor }] = await Promise.all([import('./aws.js'), import('../aws/credentials.js')]);
        return new AwsSecretsStore({ ...options, credentials: credentialSourceFor(settings.aws).service().provider });
      });
    }
  }
}

/** A store whose implementation module is loaded on first use. */
function lazySecretsStore(name: string, load: () => Promise<SecretsStore>): SecretsStore {
  let loaded: Promise<SecretsStore> | undefined;
  const get = (): Promise<SecretsStore> => (loaded ??= load());
  return {
    name,
    get: async (secret) => (await get()).get(secret),
    put: async (secret, value, tags) => (await get()).put(secret, value, tags),
    delete: async (secret) => (await get()).delete(secret),
  };
}
