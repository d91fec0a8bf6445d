import type { Settings } from '../config/settings.js';
import type { Logger } from '../logger.js';
import { AwsSecretsStore } from './aws.js';
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
    case 'aws':
      return new AwsSecretsStore({
        region: settings.aws.region,
        endpoint: settings.aws.secretsManagerEndpoint,
        accessKeyId: settings.aws.accessKeyId,
        secretAccessKey: settings.aws.secretAccessKey,
        logger: log,
      });
  }
}
