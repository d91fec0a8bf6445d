import { randomUUID } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import express, { type NextFunction, type Request, type Response } from 'express';
import helmet from 'helmet';
import { pinoHttp } from 'pino-http';
import type { Logger } from '../logger.js';
import type { Metrics } from '../metrics.js';
import type { Notifier } from '../notify/notifier.js';
import {
  DomainBusyError,
  DomainNotFoundError,
  ShuttingDownError,
  type Orchestrator,
  type StartedRun,
} from '../orchestrator/orchestrator.js';
import type { RunDocument } from '../orchestrator/runs.js';
import { dryRunFailed, type DryRun } from '../orchestrator/dry-run.js';
import { requireApiKey } from './auth.js';
import { validateDomainName, type Validation } from '../util/domain-name.js';

export interface AppDeps {
  orchestrator: Orchestrator;
  metrics: Metrics;
  notifier: Notifier;
  logger: Logger;
  apiKey: string | undefined;
  /** Testmode is forced when APP_ENV is local or staging. */
  forceTestmode: boolean;
  /** Answers when the database answers. */
  ready: () => Promise<boolean>;
  openapi?: unknown;
  /** `/process?dryrun=1`; without it a dry run answers 501. */
  dryRun?: DryRun;
}

class HttpError extends Error {
  constructor(
    readonly status: number,
    message: string,
  ) {
    super(message);
  }
}

const MAX_QUERY_VALUE = 256;

interface RunQuery {
  testmode: boolean;
  wait: boolean;
}

/** One query parameter, given at most once, as a plain bounded string. */
function singleParam(req: Request, name: string): string | undefined {
  for (const key of Object.keys(req.query)) {
    if (key !== name && key.startsWith(`${name}[`)) throw new HttpError(400, `Query parameter ${name} must be a plain value, not an array or object`);
  }
  const value = req.query[name];
  if (value === undefined) return undefined;
  if (typeof value !== 'string') throw new HttpError(400, `Query parameter ${name} must be given at most once`);
  if (value.length > MAX_QUERY_VALUE) throw new HttpError(400, `Query parameter ${name} is longer than ${MAX_QUERY_VALUE} characters`);
  return value;
}

function runQuery(req: Request, forceTestmode: boolean): RunQuery {
  const testmode = singleParam(req, 'testmode');
  const wait = singleParam(req, 'wait');
  if (wait !== undefined && !['true', 'false', '1', '0'].includes(wait.toLowerCase())) {
    throw new HttpError(400, 'Query parameter wait must be true or false');
  }
  return {
    testmode: forceTestmode || (testmode !== undefined && testmode.length > 0),
    wait: wait === undefined || !['false', '0'].includes(wait.toLowerCase()),
  };
}

const DRYRUN_ON = ['1', 'true', 'yes'];
const DRYRUN_OFF = ['0', 'false', 'no'];

/**
 * `dryrun=1` (also `true`, `yes`) asks for the read-only plan; `0`, `false`, `no`
 * or no parameter run the flow. Anything else, an empty value included, is a 400:
 * a mistyped dry run must not run the real flow.
 */
function dryRunQuery(req: Request): boolean {
  const value = singleParam(req, 'dryrun');
  if (value === undefined) return false;
  const v = value.toLowerCase();
  if (DRYRUN_ON.includes(v)) return true;
  if (DRYRUN_OFF.includes(v)) return false;
  throw new HttpError(400, 'Query parameter dryrun must be 1 (or true, yes) or 0 (or false, no)');
}

/** A waited run's HTTP status (contract section 2). */
export function runHttpStatus(doc: RunDocument): number {
  return doc.status === 'partial' || doc.status === 'failed' ? 502 : 200;
}

/**
 * POST bodies are not needed; accept none or small UTF-8 JSON, refuse anything
 * else (the JSON parser alone would also decode UTF-7 or UTF-16).
 */
function bodyPolicy(req: Request, _res: Response, next: NextFunction): void {
  const length = Number(req.headers['content-length'] ?? 0);
  const chunked = req.headers['transfer-encoding'] !== undefined;
  if (req.method !== 'POST' || (!chunked && length === 0)) return next();
  if (!req.is('application/json')) return next(new HttpError(415, 'Unsupported request body: send no body, or application/json'));
  const charset = /;\s*charset\s*=\s*"?([^";\s]*)/i.exec(req.headers['content-type'] ?? '')?.[1]?.toLowerCase();
  if (charset !== undefined && charset !== 'utf-8' && charset !== 'utf8') {
    return next(new HttpError(415, 'Unsupported request body: JSON must be UTF-8'));
  }
  next();
}

/** A database that does not answer within this is not ready (probes have timeouts of their own, often 1 s). */
const READY_TIMEOUT_MS = 5000;

/** `promise`, or a rejection once `ms` have passed. */
function withTimeout<T>(promise: Promise<T>, ms: number): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_resolve, reject) => {
    timer = setTimeout(() => reject(new Error(`no answer within ${ms} ms`)), ms);
    timer.unref();
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

const REQUEST_ID = /^[A-Za-z0-9._:-]{1,64}$/;

/**
 * One concise line per request: method, path (no query string), status,
 * duration and request id — not the request and response headers pino-http
 * writes by default (about 1.6 KB a request). Nothing that could hold a
 * credential (headers, query, body) is logged; the logger redacts the rest.
 * A well-formed incoming X-Request-Id is kept, so a proxy's id can be followed.
 */
export function requestLogger(logger: Logger): express.RequestHandler {
  const line = (req: IncomingMessage & { originalUrl?: string }, res: ServerResponse, val: Record<string, unknown>): Record<string, unknown> => ({
    method: req.method,
    path: (req.originalUrl ?? req.url ?? '').split('?')[0],
    status: res.statusCode,
    durationMs: val.durationMs,
  });
  return pinoHttp<IncomingMessage & { originalUrl?: string }, ServerResponse>({
    logger,
    quietReqLogger: true,
    quietResLogger: true,
    customAttributeKeys: { reqId: 'requestId', responseTime: 'durationMs' },
    genReqId: (req) => {
      const incoming = req.headers['x-request-id'];
      return typeof incoming === 'string' && REQUEST_ID.test(incoming) ? incoming : randomUUID();
    },
    customLogLevel: (_req, res, err) => (err || res.statusCode >= 500 ? 'error' : res.statusCode >= 400 ? 'warn' : 'info'),
    customSuccessObject: line,
    customErrorObject: (req, res, _error, val) => line(req, res, val),
    customSuccessMessage: () => 'request completed',
    customErrorMessage: () => 'request failed',
  });
}

export function createApp(deps: AppDeps): express.Express {
  const app = express();
  app.disable('x-powered-by');
  app.set('query parser', 'simple');
  app.use(helmet());
  app.use(requestLogger(deps.logger));

  app.get('/healthcheck', (_req, res) => {
    res.json({ status: 'ok' });
  });
  app.get('/metrics', async (_req, res) => {
    res.setHeader('Content-Type', deps.metrics.registry.contentType);
    res.send(await deps.metrics.registry.metrics());
  });
  // Open, like /healthcheck and /metrics (contract section 2): probes and load
  // balancers call it without a key. The body is one fixed word either way:
  // never the database's error, its address or a version.
  app.get('/readyz', async (_req, res) => {
    const ready = await withTimeout(deps.ready(), READY_TIMEOUT_MS).catch(() => false);
    res.setHeader('Cache-Control', 'no-store');
    res.status(ready ? 200 : 503).json({ status: ready ? 'ready' : 'database unavailable' });
  });

  // Everything below needs the API key (contract section 2).
  const auth = requireApiKey({ apiKey: deps.apiKey, notifier: deps.notifier, logger: deps.logger });
  if (deps.openapi) {
    app.get('/openapi.json', auth, (_req, res) => {
      res.json(deps.openapi);
    });
  }

  const parseBody = [bodyPolicy, express.json({ limit: '16kb' })];

  const respond = async (res: Response, started: StartedRun, wait: boolean): Promise<void> => {
    res.setHeader('Location', `/runs/${started.runId}`);
    if (!wait) {
      void started.done.catch((error: unknown) => deps.logger.error({ err: error, runId: started.runId }, 'run failed'));
      res.status(202).json({ runId: started.runId });
      return;
    }
    const doc = await started.done;
    res.status(runHttpStatus(doc)).json(doc);
  };

  app.all('/process', auth, ...parseBody, async (req, res) => {
    if (req.method !== 'GET' && req.method !== 'POST') throw new HttpError(405, 'Use GET or POST');
    const query = runQuery(req, deps.forceTestmode);
    if (dryRunQuery(req)) {
      if (!deps.dryRun) throw new HttpError(501, 'Dry run is not available in this service');
      // Read-only and short: always answered when done (`wait` does not apply); 502 when a check
      // failed (issue 16: "the answer is 502 (exit 1 on the CLI), so `curl -f` shows it").
      const report = await deps.dryRun.run({ testmode: query.testmode });
      res.status(dryRunFailed(report) ? 502 : 200).json(report);
      return;
    }
    await respond(res, await deps.orchestrator.startProcess(query.testmode), query.wait);
  });

  app.all('/single/:domain', auth, ...parseBody, async (req, res) => {
    if (req.method !== 'GET' && req.method !== 'POST') throw new HttpError(405, 'Use GET or POST');
    const domain: Validation<string> = validateDomainName(String(req.params.domain));
    if (!domain.ok) throw new HttpError(400, `Invalid domain name: ${domain.reason}`);
    const query = runQuery(req, deps.forceTestmode);
    await respond(res, await deps.orchestrator.startSingle(domain.value, query.testmode), query.wait);
  });

  app.get('/runs', auth, async (req, res) => {
    const raw = singleParam(req, 'limit') ?? '20';
    // Digits only: Number() would also take ' 5', '1e2' and '0x10'.
    const limit = /^[0-9]{1,3}$/.test(raw) ? Number(raw) : NaN;
    if (!Number.isInteger(limit) || limit < 1 || limit > 100) throw new HttpError(400, 'Query parameter limit must be an integer from 1 to 100');
    res.json({ runs: await deps.orchestrator.listRuns(limit) });
  });

  app.get('/runs/:id', auth, async (req, res) => {
    const id = String(req.params.id);
    if (!/^[0-9a-f-]{36}$/.test(id)) throw new HttpError(400, 'Invalid run id');
    const doc = await deps.orchestrator.get(id);
    if (!doc) throw new HttpError(404, `Run ${id} not found`);
    res.json(doc);
  });

  app.use((_req, _res, next) => next(new HttpError(404, 'Not found')));

  // Errors answer JSON with a message, never a stack trace.
  app.use((error: unknown, req: Request, res: Response, _next: NextFunction) => {
    let status = 500;
    let message = 'Internal error';
    if (error instanceof HttpError) [status, message] = [error.status, error.message];
    else if (error instanceof DomainNotFoundError) [status, message] = [404, error.message];
    else if (error instanceof DomainBusyError) [status, message] = [409, error.message];
    else if (error instanceof ShuttingDownError) [status, message] = [503, error.message];
    else if (isClientError(error)) [status, message] = [error.status, clientErrorMessage(error)];
    if (status >= 500) deps.logger.error({ err: error, path: req.path }, 'request failed');
    if (res.headersSent) return;
    res.status(status).json({ error: message });
  });
  return app;
}

interface ClientError {
  status: number;
  type?: string;
  expose?: boolean;
}

/** Errors from body parsing and URL decoding (http-errors with a 4xx status). */
function isClientError(error: unknown): error is ClientError {
  const status = (error as { status?: unknown } | null)?.status;
  return typeof status === 'number' && status >= 400 && status < 500;
}

function clientErrorMessage(error: ClientError): string {
  switch (error.type) {
    case 'entity.too.large':
      return 'Request body too large';
    case 'entity.parse.failed':
      return 'Request body is not valid JSON';
    default:
      return error.status === 400 ? 'Bad request (malformed URL or body)' : 'Request refused';
  }
}
