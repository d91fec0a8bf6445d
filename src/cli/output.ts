/** Human or JSON output, and a spinner only when stdout is a terminal. */
export interface Output {
  json: boolean;
  print(human: string, data: unknown): void;
  progress<T>(label: string, work: Promise<T>): Promise<T>;
}

export function createOutput(json: boolean): Output {
  return {
    json,
    print(human, data) {
      process.stdout.write(json ? `${JSON.stringify(data, null, 2)}\n` : `${human}\n`);
    },
    async progress(label, work) {
      if (json || !process.stdout.isTTY) return work;
      const frames = ['⠋', '⠙', '⠹', '⠸', '⠼', '⠴', '⠦', '⠧', '⠇', '⠏'];
      let i = 0;
      const timer = setInterval(() => process.stderr.write(`\r${frames[i++ % frames.length]} ${label}`), 100);
      try {
        return await work;
      } finally {
        clearInterval(timer);
        process.stderr.write(`\r${' '.repeat(label.length + 2)}\r`);
      }
    },
  };
}

/** A plain aligned text table. */
export function table(headers: string[], rows: string[][]): string {
  const widths = headers.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)));
  const line = (cells: string[]): string => cells.map((c, i) => c.padEnd(widths[i] ?? 0)).join('  ').trimEnd();
  return [line(headers), line(widths.map((w) => '-'.repeat(w))), ...rows.map(line)].join('\n');
}

export function isoOrDash(date: Date | null | undefined): string {
  return date ? date.toISOString().replace('.000Z', 'Z') : '-';
}
