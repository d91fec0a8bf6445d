// acme-client's private internals that src/certificates/acme-internals.ts relies
// on. This fails when an acme-client upgrade moves them, instead of production.
import { generateKeyPairSync, KeyObject } from 'node:crypto';
import acme from 'acme-client';
import { describe, expect, it } from 'vitest';
import { configureSharedAxios, internalsProblems, isPostAsGet, readInternals } from '../../../src/certificates/acme-internals.js';

const accountKeyPem = generateKeyPairSync('ec', { namedCurve: 'P-256' }).privateKey.export({ type: 'pkcs8', format: 'pem' }).toString();
const newClient = () => new acme.Client({ directoryUrl: 'http://127.0.0.1:9/dir', accountKey: accountKeyPem });

describe('acme-client internals', () => {
  it('are all where AutoTLS expects them on the installed acme-client', () => {
    expect(internalsProblems(newClient())).toEqual([]);
    const client = newClient() as unknown as Record<string, Record<string, unknown>>;
    for (const name of ['request', 'getDirectory', 'getNonce', 'signedRequest']) expect(typeof client.http?.[name], `http.${name}`).toBe('function');
    for (const name of ['apiRequest', 'apiResourceRequest']) expect(typeof client.api?.[name], `api.${name}`).toBe('function');
    expect(client.http).toHaveProperty('directoryCache', null);
    expect(client.api).toHaveProperty('accountUrl');
    // The request signature we wrap: (url, method, opts) with opts passed on to axios.
    expect((client.http?.request as (...args: unknown[]) => unknown).length).toBe(2);
  });

  it('include the shared axios retry settings and an error interceptor', () => {
    const defaults = acme.axios.defaults as unknown as { acmeSettings?: { retryMaxAttempts: unknown; retryDefaultDelay: unknown } };
    expect(typeof defaults.acmeSettings?.retryMaxAttempts).toBe('number');
    expect(typeof defaults.acmeSettings?.retryDefaultDelay).toBe('number');
    const handlers = (acme.axios.interceptors.response as unknown as { handlers: Array<{ rejected?: unknown } | null> }).handlers;
    expect(handlers.some((h) => typeof h?.rejected === 'function')).toBe(true);
  });

  it('are reported by name when one moves', () => {
    const client = newClient() as unknown as { http: Record<string, unknown> };
    client.http.getNonce = undefined;
    expect(internalsProblems(client as unknown as acme.Client)).toEqual(['client.http.getNonce() is gone']);
    expect(() => readInternals(client as unknown as acme.Client, accountKeyPem)).toThrow(/acme-client client\.http\.getNonce\(\) is gone: AutoTLS needs updating/);
  });

  it('take a parsed account key, and the patched axios no longer retries on its own', () => {
    const internals = readInternals(newClient(), accountKeyPem);
    expect(internals.http.accountKey).toBeInstanceOf(KeyObject);
    configureSharedAxios();
    expect((acme.axios.defaults as unknown as { acmeSettings: { retryMaxAttempts: number } }).acmeSettings.retryMaxAttempts).toBe(0);
  });

  it('tell a POST-as-GET (empty JWS payload, RFC 8555 §6.3) from a POST with a payload', () => {
    expect(isPostAsGet({ data: { protected: 'x', payload: '', signature: 'y' } })).toBe(true);
    expect(isPostAsGet({ data: { protected: 'x', payload: 'e30', signature: 'y' } })).toBe(false);
    expect(isPostAsGet({})).toBe(false);
  });
});
