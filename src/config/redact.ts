import type { Settings } from './settings.js';
import { VARIABLES, VARIABLE_NAMES } from './variables.js';

/**
 * Every secret value present in the settings, for the logger and the notifiers
 * to scrub from free text. Which settings are secret is the schema's word: the
 * rows of ./variables.ts marked `secret`, each saying where its value lands in
 * `Settings` (the database password and the Slack webhook key also in the URL
 * that carries them). Longest first, so that a secret containing another is
 * scrubbed whole; de-duplicated.
 */
export function secretValues(settings: Settings): string[] {
  const present = VARIABLE_NAMES.flatMap((name) => VARIABLES[name].secretsIn(settings)).filter(
    (value): value is string => value !== undefined && value.length > 0,
  );
  return [...new Set(present)].sort((a, b) => b.length - a.length);
}
