import { describe, expect, it } from 'vitest';
import { TestClock } from './clock.js';
import { RecordingNotifier } from './recording-notifier.js';

describe('RecordingNotifier', () => {
  it('records every message with its time and counts the ones Slack would refuse', async () => {
    const clock = new TestClock('2027-01-01T00:00:00Z');
    const notifier = new RecordingNotifier({ clock });
    await notifier.alert('one');
    await notifier.alert('two'); // same second
    clock.advance(1000);
    await notifier.domainFinished({ domain: 'a.test', certificateStatus: 'new', outcome: 'issued', notAfter: null, messages: [], errors: [] }, false);
    expect(notifier.alerts).toEqual(['one', 'two']);
    expect(notifier.domains.map((d) => d.domain)).toEqual(['a.test']);
    expect(notifier.rateLimited).toBe(1);
    expect(notifier.messages[2]?.at.toISOString()).toBe('2027-01-01T00:00:01.000Z');
  });
});
