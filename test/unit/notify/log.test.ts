import { describe, expect, it } from 'vitest';
import { Redactor } from '../../../src/notify/format.js';
import { LogNotifier } from '../../../src/notify/log.js';
import { captureLogger, domainReport, PRIVATE_KEY, runReport } from './helpers.js';

describe('LogNotifier', () => {
  it('writes the domain line with its fields; failures at warn level', async () => {
    const log = captureLogger();
    const n = new LogNotifier(log.logger);
    await n.domainFinished(domainReport(), false);
    await n.domainFinished(domainReport({ domain: 'bad.example', outcome: 'failed', errors: ['boom'] }), false);
    const [ok, bad] = log.entries;
    expect(ok).toMatchObject({ level: 30, notification: 'domain', domain: 'example.com', outcome: 'renewed', messages: ['Certificate issued by Lets Encrypt', 'Uploaded to Fastly'] });
    expect(bad).toMatchObject({ level: 40, domain: 'bad.example', errors: ['boom'] });
    expect(String(bad?.msg)).toContain(':x: *bad.example*: failed');
  });

  it('writes the run summary with counts, and alerts at warn level', async () => {
    const log = captureLogger();
    const n = new LogNotifier(log.logger);
    await n.runFinished(runReport({ status: 'succeeded' }));
    await n.alert('bad API key');
    const [run, alert] = log.entries;
    expect(run).toMatchObject({ level: 30, notification: 'run', runId: 'run-123', counts: { total: 4, issued: 1, renewed: 1, skipped: 1, failed: 1 } });
    expect(alert).toMatchObject({ level: 40, notification: 'alert', alert: 'bad API key' });
  });

  it('redacts private keys and secrets', async () => {
    const log = captureLogger();
    const n = new LogNotifier(log.logger, new Redactor(['sekret-value-42']));
    await n.domainFinished(domainReport({ errors: [PRIVATE_KEY, 'with sekret-value-42'] }), false);
    expect(log.raw()).not.toContain('MIIEvQIBADANBgkqhkiG9w0BAQEFAASC');
    expect(log.raw()).not.toContain('sekret-value-42');
  });
});
