import { randomBytes } from 'node:crypto';
import { chmodSync, existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname } from 'node:path';
import type { Settings } from '../config/settings.js';
import type { Logger } from '../logger.js';

export const LOCAL_KEY_FILE = './data/api-key';

/**
 * Outside production an API key is optional: when none is configured, the
 * service generates one on first start and keeps it in ./data/api-key (mode
 * 0600), so the quickstart works without configuration and the key never
 * appears in a log. Production refuses to start without API_KEY (config).
 */
export function withLocalApiKey(settings: Settings, logger: Logger, path = LOCAL_KEY_FILE): Settings {
  if (settings.apiKey || settings.appEnv === 'production') return settings;
  let key = existsSync(path) ? readFileSync(path, 'utf8').trim() : '';
  if (key.length < 16) {
    key = randomBytes(24).toString('base64url');
    mkdirSync(dirname(path), { recursive: true, mode: 0o700 });
    writeFileSync(path, `${key}\n`, { mode: 0o600 });
    chmodSync(path, 0o600);
    logger.info({ path }, 'no API_KEY configured: generated one; send it as Flask-Key (curl -H "Flask-Key: $(cat data/api-key)" ...)');
  } else {
    logger.info({ path }, 'no API_KEY configured: using the generated key in this file');
  }
  return { ...settings, apiKey: key };
}
