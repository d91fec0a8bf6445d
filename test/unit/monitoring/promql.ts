/**
 * The metric names a PromQL expression reads, for the check that the alert
 * rules and the dashboard use only what the service exports. A small lexer,
 * not a full parser: it drops string literals, label matchers `{…}`, ranges and
 * subqueries `[…]`, numbers and durations, and the label lists of `by`,
 * `without`, `on`, `ignoring`, `group_left` and `group_right`; an identifier
 * followed by `(` (or by `by (…)`/`without (…)`) is a function or an
 * aggregation; keywords are not names.
 * What is left are the metric names (https://prometheus.io/docs/prometheus/latest/querying/basics/).
 */

const KEYWORDS = new Set(['and', 'or', 'unless', 'bool', 'offset', 'by', 'without', 'on', 'ignoring', 'group_left', 'group_right', 'inf', 'nan', 'atan2']);
const LABEL_LIST_BEFORE = new Set(['by', 'without', 'on', 'ignoring', 'group_left', 'group_right']);

/** Every metric name in `expr` (in order of appearance, repeated as often as it appears). */
export function metricNames(expr: string): string[] {
  const names: string[] = [];
  let i = 0;
  const skipGroup = (open: string, close: string): void => {
    let depth = 0;
    for (; i < expr.length; i++) {
      const c = expr[i];
      if (c === '"' || c === "'" || c === '`') {
        skipString();
        i--;
        continue;
      }
      if (c === open) depth++;
      else if (c === close && --depth === 0) {
        i++;
        return;
      }
    }
    throw new Error(`unbalanced ${open} in ${expr}`);
  };
  const skipString = (): void => {
    const quote = expr[i];
    i++;
    while (i < expr.length && expr[i] !== quote) i += expr[i] === '\\' && quote !== '`' ? 2 : 1;
    if (i >= expr.length) throw new Error(`unterminated string in ${expr}`);
    i++;
  };
  while (i < expr.length) {
    const c = expr[i] as string;
    if (c === '#') {
      while (i < expr.length && expr[i] !== '\n') i++;
    } else if (c === '"' || c === "'" || c === '`') {
      skipString();
    } else if (c === '{') {
      skipGroup('{', '}');
    } else if (c === '[') {
      skipGroup('[', ']');
    } else if (/[0-9.]/.test(c)) {
      // A number (1e9, 0x1f, 7.5) or a duration (5m, 1h30m): letters directly after belong to it.
      while (i < expr.length && /[0-9a-zA-Z._]/.test(expr[i] as string)) i++;
    } else if (/[a-zA-Z_:]/.test(c)) {
      const start = i;
      while (i < expr.length && /[a-zA-Z0-9_:]/.test(expr[i] as string)) i++;
      const word = expr.slice(start, i);
      let j = i;
      while (j < expr.length && /\s/.test(expr[j] as string)) j++;
      // `sum by (x) (…)`: an aggregation whose grouping comes first.
      const grouping = /^(by|without)\s*\(/i.test(expr.slice(j)) && !LABEL_LIST_BEFORE.has(word.toLowerCase());
      const call = expr[j] === '(' || grouping;
      if (LABEL_LIST_BEFORE.has(word.toLowerCase()) && call) {
        i = j;
        skipGroup('(', ')');
      } else if (!call && !KEYWORDS.has(word.toLowerCase())) {
        names.push(word);
      }
    } else if (c === '$') {
      // A Grafana variable outside a matcher or range ($__interval): not a name.
      i++;
      while (i < expr.length && /[a-zA-Z0-9_]/.test(expr[i] as string)) i++;
    } else {
      i++;
    }
  }
  return names;
}

/** The exported metric a sample name belongs to: `x_bucket`, `x_sum` and `x_count` belong to histogram (or summary) `x`. */
export function exportedName(sample: string, exported: ReadonlyMap<string, string>): string | undefined {
  if (exported.has(sample)) return sample;
  const m = /^(.*)_(bucket|sum|count)$/.exec(sample);
  if (!m) return undefined;
  const base = m[1] as string;
  const type = exported.get(base);
  if (type === 'histogram' || (type === 'summary' && m[2] !== 'bucket')) return base;
  return undefined;
}
