// Summary of a V8 CPU profile (node --cpu-prof): self time by package / source
// file and the hottest functions, so a profile can be read without DevTools.
import { readFileSync, statSync } from 'node:fs';

interface CallFrame {
  functionName: string;
  url: string;
  lineNumber: number;
}

interface ProfileNode {
  id: number;
  callFrame: CallFrame;
  children?: number[];
}

interface CpuProfile {
  nodes: ProfileNode[];
  startTime: number;
  endTime: number;
  samples: number[];
  timeDeltas: number[];
}

export interface ProfileEntry {
  name: string;
  selfMs: number;
  /** Share of the non-idle time. */
  share: number;
}

export interface ProfileSummary {
  file: string;
  /** Only samples inside this CLOCK_MONOTONIC window (µs) were counted: the `/process` request. */
  window?: { startUs: number; endUs: number };
  sizeKb: number;
  wallMs: number;
  idleMs: number;
  busyMs: number;
  byCategory: ProfileEntry[];
  topFunctions: ProfileEntry[];
  /** Time with a frame of this package/file anywhere on the stack (native work it started included). */
  inclusiveByCategory: ProfileEntry[];
  /** Time with this AutoTLS function anywhere on the stack: which step of the flow costs CPU. */
  inclusiveAutotls: ProfileEntry[];
}

/** `node_modules/<pkg>` (scoped too), `autotls:<file>` for our own code, `node:<module>`, or the V8 pseudo frame. */
export function categoryOf(url: string, functionName: string, root: string): string {
  if (!url) return functionName.startsWith('(') ? functionName : '(native)';
  const nm = /node_modules\/((?:@[^/]+\/)?[^/]+)/.exec(url);
  if (nm) return nm[1] as string;
  if (url.startsWith('node:')) return `node:${url.slice(5).split('/')[0] ?? ''}`;
  const clean = url.replace(/^file:\/\//, '');
  if (clean.startsWith(root)) {
    const rel = clean.slice(root.length).replace(/^\/+/, '');
    // dist/<area>/<file>.js → autotls:<area>/<file>
    return `autotls:${rel.replace(/^dist\//, '').replace(/\.js$/, '')}`;
  }
  return clean;
}

/**
 * Self time by category and function. V8 stamps samples with CLOCK_MONOTONIC
 * microseconds, the clock of process.hrtime(), so `window` (taken in the bench
 * process) selects the samples of the `/process` request.
 */
export function summariseProfile(file: string, root: string, window?: { startUs: number; endUs: number }, top = 15): ProfileSummary {
  const profile = JSON.parse(readFileSync(file, 'utf8')) as CpuProfile;
  const byId = new Map(profile.nodes.map((n) => [n.id, n]));
  const selfUs = new Map<number, number>();
  let t = profile.startTime;
  let first = Number.POSITIVE_INFINITY;
  let last = 0;
  for (let i = 0; i < profile.samples.length; i++) {
    t += profile.timeDeltas[i] ?? 0;
    if (window && (t < window.startUs || t > window.endUs)) continue;
    first = Math.min(first, t);
    last = Math.max(last, t);
    const id = profile.samples[i] as number;
    // timeDeltas[i] is the time before sample i; attribute the next delta to it (as DevTools does).
    const delta = profile.timeDeltas[i + 1] ?? 0;
    selfUs.set(id, (selfUs.get(id) ?? 0) + delta);
  }
  const parent = new Map<number, number>();
  for (const n of profile.nodes) for (const c of n.children ?? []) parent.set(c, n.id);
  const categories = new Map<string, number>();
  const functions = new Map<string, number>();
  const inclusiveCategories = new Map<string, number>();
  const inclusiveAutotls = new Map<string, number>();
  let idleUs = 0;
  let totalUs = 0;
  for (const [id, us] of selfUs) {
    const node = byId.get(id);
    if (!node) continue;
    totalUs += us;
    const { functionName, url, lineNumber } = node.callFrame;
    if (functionName === '(idle)') {
      idleUs += us;
      continue;
    }
    const cat = categoryOf(url, functionName, root);
    categories.set(cat, (categories.get(cat) ?? 0) + us);
    const fn = `${functionName || '(anonymous)'} ${cat}${url ? `:${lineNumber + 1}` : ''}`;
    functions.set(fn, (functions.get(fn) ?? 0) + us);
    const seenCats = new Set<string>();
    const seenFns = new Set<string>();
    for (let cur: number | undefined = id; cur !== undefined; cur = parent.get(cur)) {
      const frame = byId.get(cur)?.callFrame;
      if (!frame || !frame.url) continue;
      const c = categoryOf(frame.url, frame.functionName, root);
      seenCats.add(c);
      if (c.startsWith('autotls:') && frame.functionName) seenFns.add(`${frame.functionName} ${c}:${frame.lineNumber + 1}`);
    }
    for (const c of seenCats) inclusiveCategories.set(c, (inclusiveCategories.get(c) ?? 0) + us);
    for (const f of seenFns) inclusiveAutotls.set(f, (inclusiveAutotls.get(f) ?? 0) + us);
  }
  const busyUs = totalUs - idleUs;
  const entries = (m: Map<string, number>, count = top): ProfileEntry[] =>
    [...m]
      .sort((a, b) => b[1] - a[1])
      .slice(0, count)
      .map(([name, us]) => ({ name, selfMs: Math.round(us / 100) / 10, share: busyUs > 0 ? Math.round((us / busyUs) * 1000) / 1000 : 0 }));
  return {
    file,
    ...(window ? { window } : {}),
    sizeKb: Math.round(statSync(file).size / 1024),
    wallMs: Math.round((window ? last - first : profile.endTime - profile.startTime) / 1000),
    idleMs: Math.round(idleUs / 1000),
    busyMs: Math.round(busyUs / 1000),
    byCategory: entries(categories),
    topFunctions: entries(functions),
    inclusiveByCategory: entries(inclusiveCategories),
    inclusiveAutotls: entries(inclusiveAutotls, 30),
  };
}

export function formatProfile(p: ProfileSummary, lines = 10): string {
  const out = [`  profile ${p.file} (${p.sizeKb} kB)${p.window ? ', samples of the /process request only' : ''}: wall ${p.wallMs} ms, main thread busy ${p.busyMs} ms, idle ${p.idleMs} ms`];
  out.push('  self time by package/file:');
  for (const e of p.byCategory.slice(0, lines)) out.push(`    ${(e.share * 100).toFixed(1).padStart(5)}%  ${String(e.selfMs).padStart(8)} ms  ${e.name}`);
  out.push('  hottest functions (self):');
  for (const e of p.topFunctions.slice(0, lines)) out.push(`    ${(e.share * 100).toFixed(1).padStart(5)}%  ${String(e.selfMs).padStart(8)} ms  ${e.name}`);
  out.push('  inclusive by package/file (anywhere on the stack):');
  for (const e of p.inclusiveByCategory.slice(0, lines)) out.push(`    ${(e.share * 100).toFixed(1).padStart(5)}%  ${String(e.selfMs).padStart(8)} ms  ${e.name}`);
  out.push('  inclusive by AutoTLS function:');
  for (const e of p.inclusiveAutotls.slice(0, lines * 2)) out.push(`    ${(e.share * 100).toFixed(1).padStart(5)}%  ${String(e.selfMs).padStart(8)} ms  ${e.name}`);
  return out.join('\n');
}
