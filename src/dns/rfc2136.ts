/**
 * RFC2136 dynamic updates, signed with TSIG, sent to the zone's primary.
 *
 * Configuration follows lego's rfc2136 provider (RFC2136_NAMESERVER,
 * RFC2136_TSIG_KEY, RFC2136_TSIG_SECRET, RFC2136_TSIG_ALGORITHM). The zone
 * handle is the zone name.
 */
import * as dnsPacket from 'dns-packet';
import type { Logger } from '../logger.js';
import { DnsProviderError, type DnsProvider } from './provider.js';
import { withRetry, type RetryPolicy } from '../util/retry.js';
import { createTsigKey, encodeCanonicalName, signMessage, TsigError, verifyMessage, type TsigKey } from './tsig.js';
import {
  ancestorsOf,
  decodeResponse,
  DnsTransportError,
  exchangeTcp,
  formatServer,
  isInZone,
  newMessageId,
  normalizeName,
  parseServer,
  query,
  txtChunks,
  txtValuesAt,
  type DnsResponse,
  type DnsServer,
} from './wire.js';

export interface Rfc2136Config {
  /** `host:port` of the primary that accepts updates (port 53 when omitted). */
  nameserver: string;
  tsigKeyName: string;
  /** Base64, as `tsig-keygen` prints it. */
  tsigSecret: string;
  /** Default `hmac-sha256.`; also hmac-sha512, hmac-sha384, hmac-sha224, hmac-sha1. */
  tsigAlgorithm?: string;
  /** TTL of the TXT records written. Default 60 s. */
  ttl?: number;
  /** Timeout of one exchange with the nameserver. Default 10 s. */
  timeoutMs?: number;
  /** Attempts in total for SERVFAIL and network errors. Default 3. */
  attempts?: number;
}

const OPCODE_UPDATE = 5 << 11;
const TYPE_TXT = 16;
const CLASS_IN = 1;
const CLASS_NONE = 254;

/** TXT RDATA: the value as ≤255-byte character-strings, each with its length byte. */
function txtRdata(value: string): Buffer {
  return Buffer.concat(txtChunks(value).flatMap((chunk) => [Buffer.from([chunk.length]), chunk]));
}

/** One resource record in wire format, name uncompressed. */
function encodeRr(name: string, klass: number, ttl: number, rdata: Buffer): Buffer {
  const fixed = Buffer.alloc(10);
  fixed.writeUInt16BE(TYPE_TXT, 0);
  fixed.writeUInt16BE(klass, 2);
  fixed.writeUInt32BE(ttl, 4);
  fixed.writeUInt16BE(rdata.length, 8);
  return Buffer.concat([encodeCanonicalName(name), fixed, rdata]);
}

/** SERVFAIL means "try again"; every other error rcode is a definite answer. */
class RetryableRcode extends Error {}

export class Rfc2136Provider implements DnsProvider {
  readonly name = 'rfc2136';
  private readonly server: DnsServer;
  private readonly key: TsigKey;
  private readonly ttl: number;
  private readonly timeoutMs: number;
  private readonly retry: RetryPolicy;

  constructor(
    config: Rfc2136Config,
    private readonly logger: Logger,
  ) {
    try {
      this.server = parseServer(config.nameserver);
      this.key = createTsigKey(config.tsigKeyName, config.tsigSecret, config.tsigAlgorithm ?? 'hmac-sha256.');
    } catch (error) {
      throw new DnsProviderError(`RFC2136 configuration: ${(error as Error).message}`);
    }
    this.ttl = config.ttl ?? 60;
    this.timeoutMs = config.timeoutMs ?? 10_000;
    this.retry = { attempts: config.attempts ?? 3, baseDelayMs: 200, maxDelayMs: 2_000 };
  }

  /** `update add` of each value (RFC 2136 §2.5.1): BIND adds them to the RRset, beside any other value. */
  async addTxt(zone: string, fqdn: string, values: string[]): Promise<void> {
    const name = normalizeName(fqdn);
    const adds = [...new Set(values)].map((value) => encodeRr(name, CLASS_IN, this.ttl, txtRdata(value)));
    await this.update(zone, fqdn, adds);
  }

  /**
   * "Delete an RR from an RRset" for each value (class NONE, TTL 0, RFC 2136 §2.5.4):
   * only those RRs go, the rest of the RRset stays. Deleting an RR that is not
   * there is a no-op for the server (§3.4.2.4).
   */
  async removeTxt(zone: string, fqdn: string, values: string[]): Promise<void> {
    const name = normalizeName(fqdn);
    const deletes = [...new Set(values)].map((value) => encodeRr(name, CLASS_NONE, 0, txtRdata(value)));
    if (deletes.length === 0) return;
    await this.update(zone, fqdn, deletes);
  }

  async listTxt(_zone: string, fqdn: string): Promise<string[]> {
    const response = await this.ask(fqdn, 'TXT');
    if (response.rcode === 'NXDOMAIN') return [];
    if (response.rcode !== 'NOERROR') {
      throw new DnsProviderError(`RFC2136: TXT query for ${fqdn} at ${formatServer(this.server)} answered ${response.rcode}`);
    }
    return txtValuesAt(response.packet.answers, fqdn);
  }

  /**
   * Asks the nameserver for the SOA of each ancestor, lowest first. An answer
   * in the zone names its apex either in the answer (the name is the apex) or
   * in the authority section (the name is below it); a server that does not
   * serve the name answers REFUSED (or not authoritatively).
   */
  async findZone(fqdn: string): Promise<string | undefined> {
    for (const candidate of ancestorsOf(fqdn)) {
      const response = await this.ask(candidate, 'SOA');
      if (!response.authoritative || (response.rcode !== 'NOERROR' && response.rcode !== 'NXDOMAIN')) continue;
      const soa = [...(response.packet.answers ?? []), ...(response.packet.authorities ?? [])].find(
        (a) => a.type === 'SOA' && isInZone(fqdn, a.name),
      );
      if (soa) return normalizeName(soa.name);
    }
    return undefined;
  }

  /**
   * A read-only proof of the TSIG key: the zone's SOA, asked with a signed query. The
   * server answers a key it does not know (or a wrong secret) with a TSIG error
   * (RFC 8945 §5.2: BADKEY, BADSIG), and a good key with a signed answer.
   */
  async verifyAccess(zone: string): Promise<void> {
    const zoneName = normalizeName(zone);
    await this.withRetries(`signed SOA query for ${zoneName}`, async () => {
      const message = dnsPacket.encode({ type: 'query', id: newMessageId(), flags: 0, questions: [{ type: 'SOA', name: zoneName, class: 'IN' }] });
      const signed = signMessage(message, this.key);
      const raw = await exchangeTcp(this.server, signed.message, this.timeoutMs);
      const response = decodeResponse(raw);
      if (response.rcode === 'SERVFAIL') throw new RetryableRcode(`SERVFAIL from ${formatServer(this.server)}`);
      try {
        verifyMessage(raw, this.key, { requestMac: signed.mac });
      } catch (error) {
        if (!(error instanceof TsigError)) throw error;
        if (isKeyOrAclRefusal(error, response)) {
          throw new DnsProviderError(`RFC2136 signed query for zone ${zoneName} at ${formatServer(this.server)}: ${keyOrAclRefusal(this.key.name, zoneName, 'query')}`);
        }
        throw new DnsProviderError(
          `RFC2136 signed query for zone ${zoneName} at ${formatServer(this.server)}: TSIG ${error.code} with key "${this.key.name}" (${error.message}); ` +
            'check RFC2136_TSIG_KEY, RFC2136_TSIG_SECRET and RFC2136_TSIG_ALGORITHM, and the clock',
        );
      }
      if (response.rcode !== 'NOERROR' || !response.authoritative) {
        throw new DnsProviderError(
          `RFC2136 signed query for zone ${zoneName} was answered ${response.rcode}${response.authoritative ? '' : ' (not authoritative)'} by ${formatServer(this.server)}` +
            hintFor(response.rcode === 'NOERROR' ? 'NOTAUTH' : response.rcode, this.key.name),
        );
      }
    });
  }

  private async update(zone: string, fqdn: string, updates: Buffer[]): Promise<void> {
    const zoneName = normalizeName(zone);
    if (!isInZone(fqdn, zoneName)) throw new DnsProviderError(`RFC2136: ${fqdn} is not inside zone ${zoneName}`);
    const started = performance.now();
    await this.withRetries(`update of ${fqdn}`, async () => {
      // Zone section (encoded as the question): the zone's SOA. Update section (encoded as authorities).
      // dns-packet knows no class NONE, so the update RRs are encoded here and appended.
      const header = dnsPacket.encode({
        type: 'query',
        id: newMessageId(),
        flags: OPCODE_UPDATE,
        questions: [{ type: 'SOA', name: zoneName, class: 'IN' }],
      });
      const message = Buffer.concat([header, ...updates]);
      message.writeUInt16BE(updates.length, 8); // NSCOUNT: the update section
      const signed = signMessage(message, this.key);
      const raw = await exchangeTcp(this.server, signed.message, this.timeoutMs);
      const response = decodeResponse(raw);
      this.checkSignature(raw, signed.mac, response, fqdn, zoneName);
      if (response.rcode === 'SERVFAIL') throw new RetryableRcode(`SERVFAIL from ${formatServer(this.server)}`);
      if (response.rcode !== 'NOERROR') {
        throw new DnsProviderError(
          `RFC2136 update of ${fqdn} in zone ${zoneName} was answered ${response.rcode} by ${formatServer(this.server)}` +
            hintFor(response.rcode, this.key.name),
        );
      }
    });
    this.logger.debug(
      { fqdn, zone: zoneName, records: updates.length, ms: Math.round(performance.now() - started) },
      'rfc2136 update applied',
    );
  }

  /** The answer must be signed with our key over our MAC (RFC 8945 §5.3), or be an unsigned refusal. */
  private checkSignature(raw: Buffer, requestMac: Buffer, response: DnsResponse, fqdn: string, zoneName: string): void {
    try {
      verifyMessage(raw, this.key, { requestMac });
    } catch (error) {
      if (!(error instanceof TsigError)) throw error;
      // A server that fails before it checks TSIG (unknown zone, SERVFAIL, policy) answers
      // unsigned; its rcode is then the useful message. Only success must be signed.
      if (error.code === 'UNSIGNED' && response.rcode !== 'NOERROR') return;
      if (isKeyOrAclRefusal(error, response)) {
        throw new DnsProviderError(`RFC2136 update of ${fqdn} at ${formatServer(this.server)}: ${keyOrAclRefusal(this.key.name, zoneName, 'update')}`);
      }
      throw new DnsProviderError(
        `RFC2136 update of ${fqdn}: TSIG ${error.code} with key "${this.key.name}" (${error.message}); ` +
          'check RFC2136_TSIG_KEY, RFC2136_TSIG_SECRET and RFC2136_TSIG_ALGORITHM, and the clock',
      );
    }
  }

  private ask(name: string, type: 'TXT' | 'SOA'): Promise<DnsResponse> {
    return this.withRetries(`${type} query for ${name}`, async () => {
      const response = await query(this.server, name, type, { timeoutMs: this.timeoutMs, transport: 'tcp' });
      if (response.rcode === 'SERVFAIL') throw new RetryableRcode(`SERVFAIL from ${formatServer(this.server)}`);
      return response;
    });
  }

  private async withRetries<T>(what: string, fn: () => Promise<T>): Promise<T> {
    try {
      return await withRetry(fn, {
        policy: this.retry,
        classify: (error) => ({ retry: error instanceof DnsTransportError || error instanceof RetryableRcode }),
        onRetry: (error, attempt, delayMs) =>
          this.logger.warn({ what, attempt, delayMs, err: (error as Error).message }, 'rfc2136: retrying'),
      });
    } catch (error) {
      if (error instanceof DnsProviderError) throw error;
      throw new DnsProviderError(`RFC2136 ${what} failed: ${(error as Error).message}`, { cause: error });
    }
  }
}

/**
 * NOTAUTH with the server's TSIG error BADKEY (RFC 8945 §5.2: "key not recognized").
 * BIND answers so for a key it does not know; Knot DNS also for a key it knows but
 * whose ACL does not allow the request (knotd's process_query_acl_check in
 * src/knot/nameserver/process_query.c sets rcode NOTAUTH and TSIG rcode BADKEY when
 * no `acl:` rule matches: another zone, owner name or record type, or no
 * `action: update`). The answer alone cannot tell the two apart.
 */
function isKeyOrAclRefusal(error: TsigError, response: DnsResponse): boolean {
  return error.code === 'BADKEY' && response.rcode === 'NOTAUTH';
}

function keyOrAclRefusal(keyName: string, zone: string, what: 'update' | 'query'): string {
  return (
    `answered NOTAUTH, TSIG BADKEY: the server does not know key "${keyName}", or its ACL does not allow that key to ` +
    `${what === 'update' ? 'update this name' : 'ask'} in zone ${zone} (Knot DNS answers both this way); check RFC2136_TSIG_KEY and ` +
    `RFC2136_TSIG_ALGORITHM, and the server's ACL for ${zone} (Knot: an acl with this key, action: update, update-type: TXT; BIND: update-policy)`
  );
}

function hintFor(rcode: string, keyName: string): string {
  switch (rcode) {
    case 'REFUSED':
      return ` (the server's update-policy does not allow key "${keyName}" to change this name)`;
    case 'NOTAUTH':
      return ' (the server is not authoritative for the zone, or rejected the TSIG key)';
    case 'NOTZONE':
      return ' (the name is not inside the zone)';
    default:
      return '';
  }
}
