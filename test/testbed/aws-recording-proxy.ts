// A recording HTTP proxy in front of moto_server: AWS clients are pointed at
// it (AWS_ENDPOINT_URL_*), it forwards every request unchanged to moto and
// records who signed it, so a test can check the credentials of every call.
//
// What is recorded comes from Signature Version 4 as AWS documents it
// (https://docs.aws.amazon.com/IAM/latest/UserGuide/create-signed-request.html):
// - the `Authorization` header is
//   `AWS4-HMAC-SHA256 Credential=<access key id>/<date>/<region>/<service>/aws4_request, SignedHeaders=<h1;h2;...>, Signature=<hex>`;
// - temporary credentials add the session token as the `X-Amz-Security-Token`
//   header ("If you are using temporary security credentials, ... add the
//   X-Amz-Security-Token header"), which is then one of the signed headers.
// STS AssumeRole (https://docs.aws.amazon.com/STS/latest/APIReference/API_AssumeRole.html)
// is a query-protocol POST (`Action=AssumeRole&RoleArn=...&RoleSessionName=...`);
// its response holds the new `AccessKeyId` and `SessionToken`, which the proxy
// records so that a test can tell the assumed role's later calls apart.
import { createServer, request, type IncomingHttpHeaders, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';

export interface RecordedAwsCall {
  /** The SigV4 credential scope's service: `route53`, `secretsmanager`, `sts`. */
  service: string | undefined;
  /** `GET /2013-04-01/hostedzone/Z1/rrset`, `secretsmanager.GetSecretValue`, `sts.AssumeRole`. */
  operation: string;
  method: string;
  path: string;
  /** Access key id of the SigV4 credential scope; undefined for an unsigned request. */
  accessKeyId: string | undefined;
  /** The X-Amz-Security-Token header. */
  securityToken: string | undefined;
  /** Whether x-amz-security-token is among the signed headers. */
  tokenSigned: boolean;
  status: number;
  /** For STS AssumeRole: what was asked and what moto handed out. */
  assumeRole?: { roleArn: string | undefined; sessionName: string | undefined; accessKeyId: string | undefined; sessionToken: string | undefined };
}

export interface AwsRecordingProxy {
  /** http://127.0.0.1:<port>, to use as AWS endpoint. */
  endpoint: string;
  calls: RecordedAwsCall[];
  /** Calls since `mark` (an index from `calls.length`). */
  since(mark: number): RecordedAwsCall[];
  stop(): Promise<void>;
}

function header(headers: IncomingHttpHeaders, name: string): string | undefined {
  const value = headers[name];
  return Array.isArray(value) ? value[0] : value;
}

function parseAuthorization(value: string | undefined): { accessKeyId?: string; service?: string; signedHeaders: string[] } {
  if (value === undefined) return { signedHeaders: [] };
  const scope = /Credential=([^/,\s]+)\/\d{8}\/[^/]+\/([^/]+)\/aws4_request/.exec(value);
  const signed = /SignedHeaders=([^,\s]+)/.exec(value);
  return {
    ...(scope?.[1] === undefined ? {} : { accessKeyId: scope[1] }),
    ...(scope?.[2] === undefined ? {} : { service: scope[2] }),
    signedHeaders: signed?.[1]?.split(';') ?? [],
  };
}

function xmlText(xml: string, tag: string): string | undefined {
  return new RegExp(`<${tag}>([^<]*)</${tag}>`).exec(xml)?.[1];
}

function operationOf(method: string, path: string, headers: IncomingHttpHeaders, form: URLSearchParams | undefined, service: string | undefined): string {
  const target = header(headers, 'x-amz-target');
  if (target !== undefined) return `${service ?? '?'}.${target.split('.').pop() ?? target}`;
  const action = form?.get('Action');
  if (action) return `${service ?? '?'}.${action}`;
  return `${method} ${path.split('?')[0] ?? path}`;
}

/** Starts the proxy on a free loopback port, forwarding to `target` (moto's endpoint). */
export async function startAwsRecordingProxy(target: string): Promise<AwsRecordingProxy> {
  const upstream = new URL(target);
  const calls: RecordedAwsCall[] = [];
  const server: Server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (chunk: Buffer) => chunks.push(chunk));
    req.on('end', () => {
      const body = Buffer.concat(chunks);
      const method = req.method ?? 'GET';
      const path = req.url ?? '/';
      const auth = parseAuthorization(header(req.headers, 'authorization'));
      const contentType = header(req.headers, 'content-type') ?? '';
      const form = contentType.includes('x-www-form-urlencoded') ? new URLSearchParams(body.toString('utf8')) : undefined;
      const headers = { ...req.headers, host: upstream.host };
      const forward = request(
        { hostname: upstream.hostname, port: upstream.port, method, path, headers, timeout: 15_000 },
        (upstreamRes) => {
          const out: Buffer[] = [];
          upstreamRes.on('data', (chunk: Buffer) => out.push(chunk));
          upstreamRes.on('end', () => {
            const responseBody = Buffer.concat(out);
            const call: RecordedAwsCall = {
              service: auth.service,
              operation: operationOf(method, path, req.headers, form, auth.service),
              method,
              path,
              accessKeyId: auth.accessKeyId,
              securityToken: header(req.headers, 'x-amz-security-token'),
              tokenSigned: auth.signedHeaders.includes('x-amz-security-token'),
              status: upstreamRes.statusCode ?? 0,
            };
            if (form?.get('Action') === 'AssumeRole') {
              const xml = responseBody.toString('utf8');
              call.assumeRole = {
                roleArn: form.get('RoleArn') ?? undefined,
                sessionName: form.get('RoleSessionName') ?? undefined,
                accessKeyId: xmlText(xml, 'AccessKeyId'),
                sessionToken: xmlText(xml, 'SessionToken'),
              };
            }
            calls.push(call);
            res.writeHead(upstreamRes.statusCode ?? 502, upstreamRes.headers);
            res.end(responseBody);
          });
        },
      );
      forward.on('timeout', () => forward.destroy(new Error('upstream timeout')));
      forward.on('error', (error) => {
        res.writeHead(502, { 'content-type': 'text/plain' });
        res.end(`recording proxy: ${error.message}`);
      });
      forward.end(body);
    });
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve());
  });
  const { port } = server.address() as AddressInfo;
  return {
    endpoint: `http://127.0.0.1:${port}`,
    calls,
    since: (mark) => calls.slice(mark),
    stop: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
