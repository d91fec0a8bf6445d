import { domainToASCII } from 'node:url';

export type Validation<T> = { ok: true; value: T } | { ok: false; reason: string };

const LABEL = /^[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?$/;
const FORBIDDEN = /[/*\s\p{Cc}\p{Cf}\\%?#@:]/u;

/**
 * Validates a domain name from a URL path or CLI argument (contract section 2).
 * Lower-cases it and turns IDN input into A-labels (`xn--`). Returns a reason a
 * person can act on when the name is not acceptable.
 */
export function validateDomainName(input: string): Validation<string> {
  if (input.length === 0) return { ok: false, reason: 'Domain name is empty' };
  if (input.length > 253) return { ok: false, reason: `Domain name is ${input.length} characters long; the maximum is 253` };
  if (input.includes('..')) return { ok: false, reason: 'Domain name contains ".."' };
  if (FORBIDDEN.test(input)) return { ok: false, reason: 'Domain name contains a character that is not allowed ("/", "*", whitespace, control characters or URL syntax)' };
  if (input.startsWith('.') || input.endsWith('.')) return { ok: false, reason: 'Domain name starts or ends with a dot' };
  const ascii = /^[\x21-\x7e]*$/.test(input) ? input.toLowerCase() : domainToASCII(input.toLowerCase());
  if (!ascii) return { ok: false, reason: 'Domain name is not a valid internationalised domain name' };
  if (ascii.length > 253) return { ok: false, reason: 'Domain name is longer than 253 characters once converted to A-labels' };
  const labels = ascii.split('.');
  if (labels.length < 2) return { ok: false, reason: 'Domain name needs at least two labels (for example example.com)' };
  for (const label of labels) {
    if (label.length > 63) return { ok: false, reason: `Label "${label.slice(0, 20)}…" is longer than 63 characters` };
    if (!LABEL.test(label)) return { ok: false, reason: `Label "${label}" is not a valid DNS label (letters, digits and inner hyphens only)` };
  }
  if (/^[0-9]+$/.test(labels[labels.length - 1] as string)) return { ok: false, reason: 'Domain name looks like an IP address; certificates here are for DNS names' };
  return { ok: true, value: ascii };
}
