import { createHash, timingSafeEqual } from 'node:crypto';
import type { NextFunction, Request, Response } from 'express';
import type { Notifier } from '../notify/notifier.js';
import type { Logger } from '../logger.js';

/**
 * Compares a presented key with the configured one in constant time: both are
 * hashed first, so neither the content nor the length leaks through timing.
 */
export function keysMatch(presented: string, expected: string): boolean {
  const a = createHash('sha256').update(presented).digest();
  const b = createHash('sha256').update(expected).digest();
  return timingSafeEqual(a, b);
}

/** The key from `Flask-Key` (existing cron lines) or `Authorization: Bearer`. */
export function presentedKey(req: Request): string | undefined {
  const flask = req.headers['flask-key'];
  if (typeof flask === 'string' && flask.length > 0) return flask;
  const auth = req.headers.authorization;
  if (typeof auth === 'string' && auth.startsWith('Bearer ')) return auth.slice('Bearer '.length);
  return undefined;
}

export interface AuthOptions {
  apiKey: string | undefined;
  notifier: Notifier;
  logger: Logger;
  /** Failed attempts allowed per client per window before 429. */
  maxFailures?: number;
  windowMs?: number;
  now?: () => number;
}

/**
 * API-key middleware. Failed attempts are counted per client address: past the
 * limit the client gets 429 until the window ends. Operators hear about bad keys
 * through `notifier.alert`, which aggregates, so nobody can flood the channel.
 */
export function requireApiKey(options: AuthOptions) {
  const maxFailures = options.maxFailures ?? 10;
  const windowMs = options.windowMs ?? 60_000;
  const now = options.now ?? Date.now;
  const failures = new Map<string, { count: number; resetAt: number }>();

  return (req: Request, res: Response, next: NextFunction): void => {
    const client = req.ip ?? 'unknown';
    const t = now();
    const entry = failures.get(client);
    if (entry && entry.resetAt <= t) failures.delete(client);
    const current = failures.get(client);
    if (current && current.count >= maxFailures) {
      res.setHeader('Retry-After', String(Math.ceil((current.resetAt - t) / 1000)));
      res.status(429).json({ error: 'Too many requests with a missing or wrong API key; try again later' });
      return;
    }
    const key = presentedKey(req);
    if (options.apiKey && key !== undefined && keysMatch(key, options.apiKey)) {
      next();
      return;
    }
    const reason = key === undefined ? 'Missing key value' : 'Incorrect key value';
    const record = current ?? { count: 0, resetAt: t + windowMs };
    record.count += 1;
    failures.set(client, record);
    if (failures.size > 10_000) failures.clear(); // bounded memory under a spray of addresses
    options.logger.warn({ client, path: req.path, reason }, 'rejected request with a bad API key');
    // The text names no client: identical texts are aggregated by the notifier, so a
    // spray from many addresses still makes one message per window (addresses are logged).
    void options.notifier.alert(`Certificate flow refused a request: ${reason}`);
    res.status(401).json({ error: options.apiKey ? `Unauthorized: ${reason}` : 'Unauthorized: no API key is configured (set API_KEY)' });
  };
}
