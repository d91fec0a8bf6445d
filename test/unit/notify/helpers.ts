import { createServer, type IncomingHttpHeaders, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Writable } from 'node:stream';
import { pino, type Logger } from 'pino';
import type { DomainReport, RunReport } from '../../../src/notify/notifier.js';

export interface CapturedLog {
  logger: Logger;
  entries: Array<Record<string, unknown>>;
  raw: () => string;
}

/** A pino logger whose JSON lines are kept in memory. */
export function captureLogger(): CapturedLog {
  const lines: string[] = [];
  const stream = new Writable({
    write(chunk: Buffer, _enc, cb) {
      lines.push(chunk.toString('utf8'));
      cb();
    },
  });
  const logger = pino({ level: 'debug' }, stream);
  return {
    logger,
    get entries() {
      return lines.flatMap((l) => l.split('\n').filter(Boolean)).map((l) => JSON.parse(l) as Record<string, unknown>);
    },
    raw: () => lines.join(''),
  };
}

export interface ReceivedRequest {
  method: string;
  path: string;
  headers: IncomingHttpHeaders;
  raw: string;
}

export interface TinyServer {
  url: string;
  received: ReceivedRequest[];
  /** Status to answer for each next request (shifted); afterwards `fallback`. `hang` never answers. */
  script: Array<number | 'hang'>;
  fallback: number;
  stop(): Promise<void>;
}

/** A loopback HTTP server that records requests and answers as scripted. */
export async function startTinyServer(fallback = 200): Promise<TinyServer> {
  const state: TinyServer = {
    url: '',
    received: [],
    script: [],
    fallback,
    stop: async () => undefined,
  };
  const server: Server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      state.received.push({ method: req.method ?? '', path: req.url ?? '', headers: req.headers, raw: Buffer.concat(chunks).toString('utf8') });
      const next = state.script.shift() ?? state.fallback;
      if (next === 'hang') return;
      res.writeHead(next, { 'content-type': 'text/plain' });
      res.end(next < 400 ? 'ok' : 'error');
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', () => resolve()));
  state.url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  state.stop = () =>
    new Promise<void>((resolve) => {
      server.closeAllConnections();
      server.close(() => resolve());
    });
  return state;
}

export const PRIVATE_KEY = '-----BEGIN PRIVATE KEY-----\nMIIEvQIBADANBgkqhkiG9w0BAQEFAASCBKcwggSjAgEAAoIBAQC7VJTUt9Us8cKj\n-----END PRIVATE KEY-----';

export function domainReport(overrides: Partial<DomainReport> = {}): DomainReport {
  return {
    domain: 'example.com',
    certificateStatus: 'renew',
    outcome: 'renewed',
    notAfter: '2026-03-01T12:00:00.000Z',
    messages: ['Certificate issued by Lets Encrypt', 'Uploaded to Fastly'],
    errors: [],
    ...overrides,
  };
}

export function runReport(overrides: Partial<RunReport> = {}): RunReport {
  return {
    runId: 'run-123',
    status: 'partial',
    testmode: false,
    startedAt: '2026-01-01T00:00:00.000Z',
    finishedAt: '2026-01-01T00:00:12.500Z',
    results: [
      domainReport(),
      domainReport({ domain: 'new.example', outcome: 'issued', certificateStatus: 'new' }),
      domainReport({ domain: 'ok.example', outcome: 'skipped', certificateStatus: 'ok', messages: [] }),
      domainReport({ domain: 'bad.example', outcome: 'failed', certificateStatus: 'renew', notAfter: null, errors: ['DNS-01 validation failed'] }),
    ],
    ...overrides,
  };
}
