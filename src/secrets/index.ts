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
        accessKeyId: settings.aws.accessKeyId,
        secretAccessKey: settings.aws.secretAccessKey,
        logger: log,
      };
      // The AWS SDK is loaded only by deployments that use Secrets Manager.
      return lazySecretsStore('aws', () => import('./aws.js').then(({ AwsSecretsStore }) => new AwsSecretsStore(options)));
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
