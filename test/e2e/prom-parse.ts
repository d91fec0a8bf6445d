// A small parser of the Prometheus text exposition format (version 0.0.4):
// `# HELP` and `# TYPE` lines, samples with labels, value and optional
// timestamp. HELP text unescapes `\\` and `\n`; label values also `\"`.
// Strict: anything it does not understand is an error with a line number,
// so a malformed scrape fails the test instead of being half-read.

export type MetricType = 'counter' | 'gauge' | 'histogram' | 'summary' | 'untyped';

export interface Sample {
  name: string;
  labels: Record<string, string>;
  value: number;
  timestamp?: number;
}

export interface MetricFamily {
  name: string;
  help?: string;
  type: MetricType;
  samples: Sample[];
}

const NAME = /^[a-zA-Z_:][a-zA-Z0-9_:]*/;
const LABEL_NAME = /^[a-zA-Z_][a-zA-Z0-9_]*/;
const TYPES = new Set<MetricType>(['counter', 'gauge', 'histogram', 'summary', 'untyped']);

export class PromParseError extends Error {
  constructor(line: number, message: string) {
    super(`line ${line}: ${message}`);
    this.name = 'PromParseError';
  }
}

function unescapeHelp(text: string): string {
  return text.replace(/\\(\\|n)/g, (_, c: string) => (c === 'n' ? '\n' : '\\'));
}

/**
 * Prometheus reads values with Go's strconv.ParseFloat, which takes NaN and Inf
 * in any letter case (prom-client writes `Nan`), so this parser does too.
 */
function parseValue(text: string, line: number): number {
  const lower = text.toLowerCase();
  if (lower === '+inf' || lower === 'inf' || lower === '+infinity' || lower === 'infinity') return Infinity;
  if (lower === '-inf' || lower === '-infinity') return -Infinity;
  if (lower === 'nan') return NaN;
  if (!/^[-+]?(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?$/.test(text)) throw new PromParseError(line, `not a number: ${JSON.stringify(text)}`);
  return Number(text);
}

/** The family a sample belongs to: its own name, or the histogram/summary it is part of. */
function familyOf(sampleName: string, families: Map<string, MetricFamily>): MetricFamily | undefined {
  const direct = families.get(sampleName);
  if (direct) return direct;
  for (const suffix of ['_bucket', '_sum', '_count']) {
    if (!sampleName.endsWith(suffix)) continue;
    const family = families.get(sampleName.slice(0, -suffix.length));
    if (family && (family.type === 'histogram' || family.type === 'summary')) return family;
  }
  return undefined;
}

/** Reads `{a="x",b="y"}` starting at `text[0] === '{'`; returns the labels and the rest of the line. */
function parseLabels(text: string, line: number): { labels: Record<string, string>; rest: string } {
  const labels: Record<string, string> = {};
  let i = 1;
  for (;;) {
    while (text[i] === ' ') i++;
    if (text[i] === '}') return { labels, rest: text.slice(i + 1) };
    const name = LABEL_NAME.exec(text.slice(i))?.[0];
    if (!name) throw new PromParseError(line, `expected a label name at column ${i + 1}`);
    i += name.length;
    if (text[i] !== '=' || text[i + 1] !== '"') throw new PromParseError(line, `expected ="…" after label ${name}`);
    i += 2;
    let value = '';
    for (;;) {
      const c = text[i];
      if (c === undefined) throw new PromParseError(line, `unterminated value of label ${name}`);
      if (c === '"') break;
      if (c === '\\') {
        const next = text[i + 1];
        if (next === 'n') value += '\n';
        else if (next === '\\' || next === '"') value += next;
        else throw new PromParseError(line, `invalid escape \\${next ?? ''} in label ${name}`);
        i += 2;
      } else {
        value += c;
        i++;
      }
    }
    i++;
    if (Object.hasOwn(labels, name)) throw new PromParseError(line, `label ${name} given twice`);
    labels[name] = value;
    while (text[i] === ' ') i++;
    if (text[i] === ',') i++;
    else if (text[i] !== '}') throw new PromParseError(line, `expected , or } after label ${name}`);
  }
}

export function parsePrometheusText(text: string): Map<string, MetricFamily> {
  const families = new Map<string, MetricFamily>();
  const family = (name: string): MetricFamily => {
    let f = families.get(name);
    if (!f) families.set(name, (f = { name, type: 'untyped', samples: [] }));
    return f;
  };
  text.split('\n').forEach((raw, index) => {
    const line = index + 1;
    if (raw.trim() === '') return;
    if (raw.startsWith('#')) {
      const m = /^#\s+(HELP|TYPE)\s+(\S+)(?:\s(.*))?$/.exec(raw);
      if (!m) return; // an ordinary comment
      const [, keyword, name, rest = ''] = m as unknown as [string, 'HELP' | 'TYPE', string, string | undefined];
      if (!NAME.test(name) || NAME.exec(name)?.[0] !== name) throw new PromParseError(line, `invalid metric name ${JSON.stringify(name)}`);
      const f = family(name);
      if (keyword === 'HELP') {
        if (f.help !== undefined) throw new PromParseError(line, `second HELP for ${name}`);
        f.help = unescapeHelp(rest);
      } else {
        const type = rest.trim() as MetricType;
        if (!TYPES.has(type)) throw new PromParseError(line, `unknown type ${JSON.stringify(rest)} for ${name}`);
        if (f.samples.length > 0) throw new PromParseError(line, `TYPE for ${name} after its samples`);
        f.type = type;
      }
      return;
    }
    const name = NAME.exec(raw)?.[0];
    if (!name) throw new PromParseError(line, 'expected a metric name');
    let rest = raw.slice(name.length);
    let labels: Record<string, string> = {};
    if (rest.startsWith('{')) ({ labels, rest } = parseLabels(rest, line));
    const fields = rest.trim().split(/\s+/);
    if (fields.length < 1 || fields.length > 2 || fields[0] === '') throw new PromParseError(line, 'expected a value and an optional timestamp');
    const sample: Sample = { name, labels, value: parseValue(fields[0] as string, line) };
    if (fields[1] !== undefined) {
      if (!/^-?\d+$/.test(fields[1])) throw new PromParseError(line, `invalid timestamp ${JSON.stringify(fields[1])}`);
      sample.timestamp = Number(fields[1]);
    }
    (familyOf(name, families) ?? family(name)).samples.push(sample);
  });
  return families;
}

/** The samples named `name` whose labels include `labels`. */
export function samplesOf(families: Map<string, MetricFamily>, name: string, labels: Record<string, string> = {}): Sample[] {
  const f = familyOf(name, families);
  if (!f) return [];
  return f.samples.filter((s) => s.name === name && Object.entries(labels).every(([k, v]) => s.labels[k] === v));
}

/** The value of the one sample named `name` with exactly these labels (among others); throws when absent or ambiguous. */
export function valueOf(families: Map<string, MetricFamily>, name: string, labels: Record<string, string> = {}): number {
  const found = samplesOf(families, name, labels);
  if (found.length !== 1) throw new Error(`expected one sample ${name}${JSON.stringify(labels)}, found ${found.length}`);
  return (found[0] as Sample).value;
}
