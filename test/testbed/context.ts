// What the integration testbed (test/testbed/global-setup.ts) provides to test
// files: `inject('testbed')` returns a TestbedInfo. Everything here is plain
// JSON; use the helpers in test/testbed/helpers.ts for behaviour (create a
// database, reset moto, nsupdate, fetch Pebble's root).
//
// Zone reservations. Test files run in parallel against ONE BIND and ONE
// Pebble, so each test area uses only its own zones (z01.test ... z60.test):
//   z01–z05   testbed smoke tests (test/integration/testbed)
//   z06–z20   pipeline end-to-end tests (z19: renewal policy, ARI and profiles)
//   z21–z30   leases / concurrency
//   z31–z40   hardening
//   z41–z50   CLI / metrics
//   z51–z60   DNS plugin contract tests
//   validation.test   target zone for CNAME delegation of _acme-challenge
//                     (e.g. _acme-challenge.z.test CNAME x.validation.test)
// Every zone accepts TSIG-signed RFC 2136 updates of TXT and CNAME records at
// any name inside the zone (update-policy zonesub TXT + zonesub CNAME).
// Clean up the records you add. Pebble keeps its state in memory only; create
// your own ACME account per test file.
//
// PostgreSQL: one database per test file via createDatabase(adminUrl, '<area>_<file>')
// (drops and recreates it). moto: shared by all files, so use names (hosted
// zones, secrets) of your own and never call reset on the shared instance; a
// file that needs an empty moto starts its own with startMoto() (~1 s).

export interface DnsInfo {
  host: '127.0.0.1';
  /** Same port on UDP and TCP. */
  port: number;
  tsigKeyName: string;
  /** Base64 secret, as in `nsupdate -y hmac-sha256:<name>:<secret>`. */
  tsigSecret: string;
  tsigAlgorithm: 'hmac-sha256';
  zones: string[];
}

export interface PebbleInfo {
  /** https://127.0.0.1:<port>/dir */
  directoryUrl: string;
  /** https://127.0.0.1:<port> (management API) */
  managementUrl: string;
  /** PEM of the CA that signed Pebble's HTTPS certificate (also in caBundlePath / NODE_EXTRA_CA_CERTS). */
  caCertPath: string;
  /** https://127.0.0.1:<port>/roots/0: the root that issued certificates chain to; changes at every start. */
  rootsUrl: string;
  /** The DNS server Pebble validates against (host:port). */
  dnsServer: string;
  /** The Pebble binary: ../shared/pebble/pebble (2.7.0) or Debian's /usr/bin/pebble (2.4.0). */
  binaryPath: string;
  version: '2.7.0' | '2.4.0';
  /**
   * Pebble 2.7.0 only: ARI (`renewalInfo`) and Let's Encrypt's profiles
   * (classic 90 days, tlsserver 45 days, shortlived 160 hours). Tests that need
   * them use needsPebble27 (helpers.ts), which skips them on 2.4.0.
   */
  ariAndProfiles: boolean;
}

export interface PostgresInfo {
  host: '127.0.0.1';
  port: number;
  /** postgresql://postgres@127.0.0.1:<port>/postgres (trust auth) */
  adminUrl: string;
}

export interface MotoInfo {
  /** http://127.0.0.1:<port>; use as AWS endpoint with any access key/secret. */
  endpoint: string;
}

export interface TestbedInfo {
  /** The testbed's temp directory; removed at teardown. */
  dir: string;
  /** Registry of every testbed PID (JSON lines: pid, name, startTime, command). */
  pidFile: string;
  /** PEM bundle with Pebble's HTTPS CA; global setup sets NODE_EXTRA_CA_CERTS to it. */
  caBundlePath: string;
  /** Wall-clock start-up time of the whole testbed. */
  startupMs: number;
  dns: DnsInfo;
  pebble: PebbleInfo;
  postgres: PostgresInfo;
  moto: MotoInfo;
}

declare module 'vitest' {
  export interface ProvidedContext {
    testbed: TestbedInfo;
  }
}
