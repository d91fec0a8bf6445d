// The API-key check: constant time (both sides hashed to equal-length digests
// before timingSafeEqual), every near miss rejected, and the per-client limiter.
import * as crypto from 'node:crypto';
import type { NextFunction, Request, Response } from 'express';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { keysMatch, presentedKey, requireApiKey } from '../../../src/http/auth.js';
import { createLogger } from '../../../src/logger.js';
import type { Notifier } from '../../../src/notify/notifier.js';

vi.mock('node:crypto', async (importOriginal) => {
  const actual = await importOriginal<typeof import('node:crypto')>();
  return { ...actual, createHash: vi.fn(actual.createHash), timingSafeEqual: vi.fn(actual.timingSafeEqual) };
});

const KEY = 'correct-horse-battery-staple-42';

afterEach(() => {
  vi.mocked(crypto.createHash).mockClear();
  vi.mocked(crypto.timingSafeEqual).mockClear();
});

describe('keysMatch', () => {
  it('hashes both sides and compares equal-length digests, whatever the input lengths', () => {
    for (const presented of ['x', KEY.slice(0, -1), `${KEY}x`, 'y'.repeat(10_000), '']) {
      vi.mocked(crypto.createHash).mockClear();
      vi.mocked(crypto.timingSafeEqual).mockClear();
      expect(keysMatch(presented, KEY)).toBe(false);
      expect(vi.mocked(crypto.createHash).mock.calls.map((c) => c[0])).toEqual(['sha256', 'sha256']);
      const [a, b] = vi.mocked(crypto.timingSafeEqual).mock.calls[0] as [Buffer, Buffer];
      expect(a.length).toBe(32);
      expect(b.length).toBe(32);
    }
  });

  it('accepts only the exact key', () => {
    expect(keysMatch(KEY, KEY)).toBe(true);
    const sameLength = KEY.slice(0, -1) + (KEY.endsWith('2') ? '3' : '2');
    const rejected = [
      sameLength, // equal length, one character off
      KEY.toUpperCase(),
      KEY.slice(0, -1), // a prefix
      `${KEY} `,
      ` ${KEY}`,
      `${KEY}\u0000`,
      KEY.normalize('NFD') === KEY ? `${KEY}\u0301` : KEY.normalize('NFD'),
      '',
    ];
    for (const k of rejected) expect(keysMatch(k, KEY), JSON.stringify(k)).toBe(false);
  });

  it('takes the time of a hash, not of a prefix match (both sides always fully processed)', () => {
    // A structural check rather than a timing measurement: with a string compare, a
    // wrong first character would return before hashing anything.
    keysMatch('z', KEY);
    expect(vi.mocked(crypto.createHash)).toHaveBeenCalledTimes(2);
    expect(vi.mocked(crypto.timingSafeEqual)).toHaveBeenCalledTimes(1);
  });
});

function fakeReq(headers: Record<string, string>, ip = '10.0.0.1'): Request {
  return { headers, ip, path: '/process' } as unknown as Request;
}

interface Answer {
  status?: number;
  body?: unknown;
  headers: Record<string, string>;
  next: boolean;
}

function call(mw: (req: Request, res: Response, next: NextFunction) => void, req: Request): Answer {
  const answer: Answer = { headers: {}, next: false };
  const res = {
    setHeader(name: string, value: string) {
      answer.headers[name.toLowerCase()] = value;
      return res;
    },
    status(code: number) {
      answer.status = code;
      return res;
    },
    json(body: unknown) {
      answer.body = body;
      return res;
    },
  } as unknown as Response;
  mw(req, res, () => {
    answer.next = true;
  });
  return answer;
}

function recordingNotifier(): Notifier & { alerts: string[] } {
  const alerts: string[] = [];
  return {
    name: 'recording',
    alerts,
    domainFinished: async () => undefined,
    runFinished: async () => undefined,
    alert: async (m: string) => void alerts.push(m),
  };
}

describe('presentedKey', () => {
  it('reads Flask-Key or Authorization: Bearer, nothing else', () => {
    expect(presentedKey(fakeReq({ 'flask-key': KEY }))).toBe(KEY);
    expect(presentedKey(fakeReq({ authorization: `Bearer ${KEY}` }))).toBe(KEY);
    expect(presentedKey(fakeReq({ authorization: `Basic ${Buffer.from(`user:${KEY}`).toString('base64')}` }))).toBeUndefined();
    expect(presentedKey(fakeReq({ authorization: KEY }))).toBeUndefined();
    expect(presentedKey(fakeReq({ 'x-api-key': KEY }))).toBeUndefined();
  });
});

describe('requireApiKey', () => {
  const logger = createLogger({ level: 'silent' });

  it('answers 401 for near misses, then 429 with Retry-After once a client passes the limit; other clients are unaffected', () => {
    let t = 1_000_000;
    const notifier = recordingNotifier();
    const mw = requireApiKey({ apiKey: KEY, notifier, logger, maxFailures: 3, windowMs: 30_000, now: () => t });
    expect(call(mw, fakeReq({ 'flask-key': `${KEY}x` })).status).toBe(401);
    expect(call(mw, fakeReq({ authorization: 'Bearer nope' })).status).toBe(401);
    expect(call(mw, fakeReq({})).status).toBe(401);
    const limited = call(mw, fakeReq({ 'flask-key': KEY }));
    expect(limited.status).toBe(429);
    expect(limited.next).toBe(false); // even the right key waits out the window
    expect(limited.headers['retry-after']).toBe('30');
    expect(limited.body).toEqual({ error: expect.stringMatching(/Too many requests/) });
    expect(call(mw, fakeReq({ 'flask-key': KEY }, '10.0.0.2')).next).toBe(true);
    t += 20_000;
    expect(call(mw, fakeReq({}, '10.0.0.1')).headers['retry-after']).toBe('10');
    t += 10_001;
    expect(call(mw, fakeReq({ 'flask-key': KEY })).next).toBe(true);
  });

  it('alerts with a text that names no client, so the notifier can aggregate a spray from many addresses', () => {
    const notifier = recordingNotifier();
    const mw = requireApiKey({ apiKey: KEY, notifier, logger });
    for (let i = 0; i < 20; i++) call(mw, fakeReq({ 'flask-key': 'wrong' }, `10.0.1.${i}`));
    expect(new Set(notifier.alerts).size).toBe(1);
    expect(notifier.alerts[0]).not.toMatch(/10\.0\.1\./);
  });

  it('refuses every request when no key is configured', () => {
    const mw = requireApiKey({ apiKey: undefined, notifier: recordingNotifier(), logger });
    const answer = call(mw, fakeReq({ 'flask-key': '' }));
    expect(answer.status).toBe(401);
    expect(answer.body).toEqual({ error: 'Unauthorized: no API key is configured (set API_KEY)' });
  });
});

describe('keysMatch: exact key only', () => {
  it('matches only the exact key', () => {
    expect(keysMatch('correct-horse-battery', 'correct-horse-battery')).toBe(true);
    expect(keysMatch('correct-horse-batter', 'correct-horse-battery')).toBe(false);
    expect(keysMatch('correct-horse-battery-staple', 'correct-horse-battery')).toBe(false);
    expect(keysMatch('', 'correct-horse-battery')).toBe(false);
  });
});
