import { validateDomainName } from '../util/domain-name.js';

export interface ImportRow {
  line: number;
  name: string;
  zoneId: string;
  status: string | null;
}

export interface CsvProblem {
  line: number;
  message: string;
}

const MAX_FIELD = 255;

/** Splits one CSV line (RFC 4180 quoting, no embedded newlines). */
function splitCsvLine(line: string): string[] | undefined {
  const fields: string[] = [];
  let field = '';
  let quoted = false;
  for (let i = 0; i < line.length; i++) {
    const c = line[i] as string;
    if (quoted) {
      if (c === '"' && line[i + 1] === '"') {
        field += '"';
        i++;
      } else if (c === '"') quoted = false;
      else field += c;
    } else if (c === '"' && field.length === 0) quoted = true;
    else if (c === ',') {
      fields.push(field);
      field = '';
    } else field += c;
  }
  if (quoted) return undefined;
  fields.push(field);
  return fields.map((f) => f.trim());
}

/**
 * Parses a domain CSV: a header row naming `name` and `zone_id` (optionally
 * `status`), then one domain per line. Every row is validated; problems carry
 * line numbers.
 */
export function parseDomainCsv(text: string): { rows: ImportRow[]; problems: CsvProblem[] } {
  const rows: ImportRow[] = [];
  const problems: CsvProblem[] = [];
  const lines = text.replace(/^\uFEFF/, '').split(/\r?\n/);
  const header = splitCsvLine(lines[0] ?? '')?.map((h) => h.toLowerCase());
  const nameCol = header?.indexOf('name') ?? -1;
  const zoneCol = header?.findIndex((h) => h === 'zone_id' || h === 'zone-id' || h === 'zoneid') ?? -1;
  const statusCol = header?.indexOf('status') ?? -1;
  if (nameCol < 0 || zoneCol < 0) {
    return { rows, problems: [{ line: 1, message: 'the header row must name the columns "name" and "zone_id"' }] };
  }
  const seen = new Set<string>();
  lines.slice(1).forEach((raw, index) => {
    const line = index + 2;
    if (raw.trim() === '') return;
    const fields = splitCsvLine(raw);
    if (!fields) return problems.push({ line, message: 'unterminated quoted field' });
    const name = fields[nameCol] ?? '';
    const zoneId = fields[zoneCol] ?? '';
    const status = statusCol >= 0 ? (fields[statusCol] ?? '') : '';
    const valid = validateDomainName(name);
    if (!valid.ok) return problems.push({ line, message: `invalid domain name: ${valid.reason}` });
    if (zoneId === '') return problems.push({ line, message: 'zone_id is empty' });
    if (zoneId.length > MAX_FIELD || /[\p{Cc}\s]/u.test(zoneId)) return problems.push({ line, message: 'zone_id is too long or contains whitespace/control characters' });
    if (status.length > MAX_FIELD || /\p{Cc}/u.test(status)) return problems.push({ line, message: 'status is too long or contains control characters' });
    if (seen.has(valid.value)) return problems.push({ line, message: `duplicate domain ${valid.value}` });
    seen.add(valid.value);
    rows.push({ line, name: valid.value, zoneId, status: status === '' ? null : status });
  });
  return { rows, problems };
}
