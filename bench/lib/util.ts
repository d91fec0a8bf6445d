// Small helpers shared by the bench stages: timing, statistics, an HTTP client
// without fetch's 300 s header timeout, /proc readings and logging.
import { readFileSync } from 'node:fs';
import { request as httpRequest } from 'node:http';

/** Progress goes to stderr; the table and nothing else goes to stdout. */
export function log(message: string): void {
  process.stderr.write(`[bench ${new Date().toISOString().slice(11, 19)}] ${message}\n`);
}

export function ms(start: number): number {
  return Math.round((performance.now() - start) * 10) / 10;
}

export function round(value: number, digits = 1): number {
  const f = 10 ** digits;
  return Math.round(value * f) / f;
}

/** Nearest-rank percentile of `values` (0 < p <= 100). */
export function percentile(values: readonly number[], p: number): number {
  if (values.length === 0) return Number.NaN;
  const sorted = [...values].sort((a, b) => a - b);
  const rank = Math.min(sorted.length, Math.max(1, Math.ceil((p / 100) * sorted.length)));
  return sorted[rank - 1] as number;
}

export function zoneNames(n: number): string[] {
  const width = Math.max(3, String(n).length);
  return Array.from({ length: n }, (_, i) => `b${String(i + 1).padStart(width, '0')}.test`);
}

/** Runs `fn` over `items` with at most `concurrency` in flight, in order of `items`. */
export async function pool<T, R>(items: readonly T[], concurrency: number, fn: (item: T, index: number) => Promise<R>): Promise<R[]> {
  const results = new Array<R>(items.length);
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < items.length) {
      const index = next++;
      results[index] = await fn(items[index] as T, index);
    }
  };
  await Promise.all(Array.from({ length: Math.max(1, Math.min(concurrency, items.length)) }, () => worker()));
  return results;
}

export interface HttpAnswer {
  status: number;
  body: string;
}

/** One HTTP/1.1 request to a loopback URL; no timeout unless given. */
export function httpCall(url: string, options: { method?: string; headers?: Record<string, string>; timeoutMs?: number } = {}): Promise<HttpAnswer> {
  const u = new URL(url);
  if (u.hostname !== '127.0.0.1' && u.hostname !== 'localhost' && u.hostname !== '[::1]') {
    return Promise.reject(new Error(`bench: refusing to send traffic to ${u.hostname} (loopback only)`));
  }
  return new Promise((resolve, reject) => {
    const req = httpRequest(u, { method: options.method ?? 'GET', headers: options.headers, agent: false }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (d: string) => { body += d; });
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
      res.on('error', reject);
    });
    if (options.timeoutMs !== undefined) {
      req.setTimeout(options.timeoutMs, () => req.destroy(new Error(`timeout after ${options.timeoutMs} ms: ${url}`)));
    }
    req.on('error', reject);
    req.end();
  });
}

/** A field of /proc/<pid>/status in kB (VmHWM = peak resident set, VmRSS = current). */
export function procStatusKb(pid: number, field: 'VmHWM' | 'VmRSS' | 'VmPeak'): number | undefined {
  try {
    const text = readFileSync(`/proc/${pid}/status`, 'utf8');
    const m = new RegExp(`^${field}:\\s+(\\d+) kB`, 'm').exec(text);
    return m ? Number(m[1]) : undefined;
  } catch {
    return undefined;
  }
}

/**
 * User + system CPU time of a process in ms (from /proc/<pid>/stat), or undefined;
 * with `reaped`, plus that of its children it has waited for.
 */
export function procCpuMs(pid: number, reaped = false): number | undefined {
  try {
    const text = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const rest = text.slice(text.lastIndexOf(')') + 2).split(' ');
    // fields 14-17 (utime, stime, cutime, cstime) are rest[11..14]; clock ticks of 1/100 s on Linux.
    const own = Number(rest[11]) + Number(rest[12]);
    return (reaped ? own + Number(rest[13]) + Number(rest[14]) : own) * 10;
  } catch {
    return undefined;
  }
}

export function errorText(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

/** CPU time (user+sys, ms) of this process's reaped children (cutime+cstime of /proc/self/stat). */
export function childrenCpuMs(): number {
  try {
    const text = readFileSync('/proc/self/stat', 'utf8');
    const rest = text.slice(text.lastIndexOf(')') + 2).split(' ');
    // fields 16 (cutime) and 17 (cstime) are rest[13] and rest[14].
    return (Number(rest[13]) + Number(rest[14])) * 10;
  } catch {
    return 0;
  }
}

export function selfCpuMs(): number {
  const u = process.cpuUsage();
  return (u.user + u.system) / 1000;
}
