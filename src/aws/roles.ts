/**
 * IAM roles AutoTLS assumes: AWS_ASSUME_ROLE_ARN (every AWS call) and
 * ROUTE53_ASSUME_ROLE_ARN (Route 53 only, optionally per hosted zone, for DNS
 * zones that live in other accounts).
 *
 * ROUTE53_ASSUME_ROLE_ARN is a comma-separated list. Each entry is either
 *   `<hosted-zone-id>=<role ARN>`   the role for that zone, or
 *   `<role ARN>`                    (at most one) the role for every other zone.
 * A zone with no entry and no default uses the base credentials (or the
 * AWS_ASSUME_ROLE_ARN role). Example:
 *   ROUTE53_ASSUME_ROLE_ARN=Z0123456789ABC=arn:aws:iam::111111111111:role/dns,arn:aws:iam::222222222222:role/dns
 */
import { Invalid, type Parser } from '../config/parsers.js';
import type { Route53Roles } from '../config/settings.js';

/**
 * `arn:<partition>:iam::<12-digit account>:role/<path/><name>`. Role names are
 * 1–64 of `[A-Za-z0-9+=,.@_-]`, paths `/`-separated of the same characters
 * (IAM API reference, CreateRole: RoleName and Path patterns).
 */
const ROLE_ARN = /^arn:aws(?:-[a-z]+)*:iam::\d{12}:role\/(?:[\w+=,.@-]+\/)*[\w+=,.@-]{1,64}$/;

/** Route 53 hosted-zone ids are upper-case letters and digits (e.g. Z1D633PJN98FT9). */
const ZONE_ID = /^[A-Z0-9]{1,32}$/;

const ROLE_ARN_SHAPE = 'arn:aws:iam::<12-digit account id>:role/<name>';

export function isRoleArn(value: string): boolean {
  return ROLE_ARN.test(value);
}

/** A hosted-zone id as Route 53 and `domains.zone_id` may write it: `/hostedzone/Z1` and `z1` both give `Z1`. */
export function normalizeZoneId(zoneId: string): string {
  return zoneId.trim().replace(/^\/?hostedzone\//i, '').toUpperCase();
}

export const parseRoleArn: Parser<string> = (raw) =>
  isRoleArn(raw) ? raw : new Invalid(`is not an IAM role ARN; use ${ROLE_ARN_SHAPE}`);

export const parseRoute53Roles: Parser<Route53Roles> = (raw) => {
  let defaultRoleArn: string | undefined;
  const byZone: Record<string, string> = {};
  const entries = raw.split(',').map((entry) => entry.trim());
  for (const [index, entry] of entries.entries()) {
    const where = `entry ${index + 1} of ${entries.length}`;
    if (entry.length === 0) return new Invalid(`has an empty ${where}; separate the entries with single commas`, raw);
    const eq = entry.indexOf('=');
    // A role ARN may itself contain `=` (in its path or name), but never before `arn:`.
    if (eq === -1 || entry.startsWith('arn:')) {
      if (!isRoleArn(entry)) return new Invalid(`(${where}) is not an IAM role ARN; use ${ROLE_ARN_SHAPE}, or <hosted-zone-id>=<role ARN> for one zone`, entry);
      if (defaultRoleArn !== undefined) return new Invalid(`(${where}) is a second role without a zone; give at most one default role, and <hosted-zone-id>=<role ARN> for the others`, entry);
      defaultRoleArn = entry;
      continue;
    }
    const zone = normalizeZoneId(entry.slice(0, eq));
    const arn = entry.slice(eq + 1).trim();
    if (!ZONE_ID.test(zone)) return new Invalid(`(${where}) does not start with a Route 53 hosted-zone id; use <hosted-zone-id>=<role ARN>, e.g. Z0123456789ABC=${ROLE_ARN_SHAPE}`, entry);
    if (!isRoleArn(arn)) return new Invalid(`(${where}) does not name an IAM role ARN after "="; use <hosted-zone-id>=${ROLE_ARN_SHAPE}`, entry);
    if (Object.hasOwn(byZone, zone)) return new Invalid(`(${where}) names hosted zone ${zone} a second time; give each zone one role`, entry);
    byZone[zone] = arn;
  }
  return { defaultRoleArn, byZone };
};

/** The Route 53 role for a hosted zone; undefined: no Route 53 role (base credentials). */
export function route53RoleFor(roles: Route53Roles | undefined, zoneId: string | undefined): string | undefined {
  if (roles === undefined) return undefined;
  if (zoneId !== undefined) {
    const zone = normalizeZoneId(zoneId);
    if (Object.hasOwn(roles.byZone, zone)) return roles.byZone[zone];
  }
  return roles.defaultRoleArn;
}
