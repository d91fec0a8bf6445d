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
  sizeKb: number;
  wallMs: number;
  idleMs: number;
  busyMs: number;
  byCategory: ProfileEntry[];
  topFunctions: ProfileEntry[];
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

export function summariseProfile(file: string, root: string, top = 15): ProfileSummary {
  const profile = JSON.parse(readFileSync(file, 'utf8')) as CpuProfile;
  const byId = new Map(profile.nodes.map((n) => [n.id, n]));
  const selfUs = new Map<number, number>();
  for (let i = 0; i < profile.samples.length; i++) {
    const id = profile.samples[i] as number;
    // timeDeltas[i] is the time before sample i; attribute the next delta to it (as DevTools does).
    const delta = profile.timeDeltas[i + 1] ?? 0;
    selfUs.set(id, (selfUs.get(id) ?? 0) + delta);
  }
  const categories = new Map<string, number>();
  const functions = new Map<string, number>();
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
  }
  const busyUs = totalUs - idleUs;
  const entries = (m: Map<string, number>): ProfileEntry[] =>
    [...m]
      .sort((a, b) => b[1] - a[1])
      .slice(0, top)
      .map(([name, us]) => ({ name, selfMs: Math.round(us / 100) / 10, share: busyUs > 0 ? Math.round((us / busyUs) * 1000) / 1000 : 0 }));
  return {
    file,
    sizeKb: Math.round(statSync(file).size / 1024),
    wallMs: Math.round((profile.endTime - profile.startTime) / 1000),
    idleMs: Math.round(idleUs / 1000),
    busyMs: Math.round(busyUs / 1000),
    byCategory: entries(categories),
    topFunctions: entries(functions),
  };
}

export function formatProfile(p: ProfileSummary, lines = 10): string {
  const out = [`  profile ${p.file} (${p.sizeKb} kB): wall ${p.wallMs} ms, busy ${p.busyMs} ms, idle ${p.idleMs} ms`];
  out.push('  self time by package/file:');
  for (const e of p.byCategory.slice(0, lines)) out.push(`    ${(e.share * 100).toFixed(1).padStart(5)}%  ${String(e.selfMs).padStart(8)} ms  ${e.name}`);
  out.push('  hottest functions (self):');
  for (const e of p.topFunctions.slice(0, lines)) out.push(`    ${(e.share * 100).toFixed(1).padStart(5)}%  ${String(e.selfMs).padStart(8)} ms  ${e.name}`);
  return out.join('\n');
}
