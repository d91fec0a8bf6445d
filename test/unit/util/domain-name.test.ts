import { describe, expect, it } from 'vitest';
import { validateDomainName } from '../../../src/util/domain-name.js';

const malformed: Array<[string, string]> = [
  ['', 'empty'],
  ['../etc', 'traversal'],
  ['..', 'dots only'],
  ['a..b.com', 'double dot'],
  ['example.com/evil', 'slash'],
  ['example.com\\evil', 'backslash'],
  ['*.example.com', 'wildcard'],
  ['exa*mple.com', 'star inside'],
  ['example .com', 'space'],
  ['example.com\t', 'tab'],
  ['example.com\n', 'newline'],
  ['exam\u0000ple.com', 'NUL'],
  ['exam\u007fple.com', 'DEL'],
  ['.example.com', 'leading dot'],
  ['example.com.', 'trailing dot'],
  ['-example.com', 'leading hyphen'],
  ['example-.com', 'trailing hyphen'],
  ['exa_mple.com', 'underscore'],
  ['localhost', 'single label'],
  ['com', 'TLD only'],
  [`${'a'.repeat(64)}.com`, 'label over 63'],
  [`${'a.'.repeat(126)}com`, 'over 253'],
  ['x'.repeat(300), 'very long'],
  ['192.168.0.1', 'IPv4 address'],
  ['[::1]', 'IPv6 literal'],
  ['example.com:443', 'port'],
  ['user@example.com', 'userinfo'],
  ['example.com?x=1', 'query'],
  ['example.com#frag', 'fragment'],
  ['%2e%2e', 'percent-encoding left in'],
  ['exa$mple.com', 'dollar'],
  ['exa"mple.com', 'quote'],
  ['exa<script>.com', 'markup'],
  ['ex ample.com', 'inner space'],
  ['exam\u200bple.com', 'zero-width space'],
];

describe('validateDomainName', () => {
  it.each(malformed)('rejects %j (%s) with a reason', (input) => {
    const result = validateDomainName(input);
    expect(result.ok).toBe(false);
    if (!result.ok) expect(result.reason.length).toBeGreaterThan(5);
  });

  it('has at least 30 malformed cases', () => {
    expect(malformed.length).toBeGreaterThanOrEqual(30);
  });

  it.each([
    ['example.com', 'example.com'],
    ['Example.COM', 'example.com'],
    ['sub.example.co.uk', 'sub.example.co.uk'],
    ['xn--bcher-kva.de', 'xn--bcher-kva.de'],
    ['bücher.de', 'xn--bcher-kva.de'],
    ['a1-b2.example', 'a1-b2.example'],
    [`${'a'.repeat(63)}.com`, `${'a'.repeat(63)}.com`],
  ])('accepts %j as %j', (input, expected) => {
    expect(validateDomainName(input)).toEqual({ ok: true, value: expected });
  });
});
