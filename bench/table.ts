/**
 * A plain-text table: fixed-width columns, the first left-aligned, numbers right-aligned, and
 * section rules between groups of rows.
 */

export type TableRow = string[] | { section: string };

export function renderTable(headers: string[], rows: TableRow[]): string {
  const widths = headers.map((h) => h.length);
  for (const row of rows) {
    if (!Array.isArray(row)) continue;
    row.forEach((cell, i) => {
      // The last column (notes) may run long; it does not widen the table.
      if (i < headers.length - 1) widths[i] = Math.max(widths[i], cell.length);
    });
  }
  const line = (cells: string[]): string =>
    cells
      .map((cell, i) => {
        if (i === cells.length - 1) return cell;
        return i === 0 ? cell.padEnd(widths[i]) : cell.padStart(widths[i]);
      })
      .join('  ')
      .trimEnd();
  const rule = '-'.repeat(widths.slice(0, -1).reduce((a, b) => a + b + 2, 0) + Math.max(5, headers[headers.length - 1].length));
  const out = [line(headers), rule];
  for (const row of rows) {
    if (Array.isArray(row)) out.push(line(row));
    else out.push(`-- ${row.section} `.padEnd(rule.length, '-'));
  }
  return out.join('\n');
}

/** 152300 → "152.3k", 1234567 → "1.23M". */
export function formatCount(n: number | undefined): string {
  if (n === undefined || !Number.isFinite(n)) return '';
  if (n >= 1e6) return `${(n / 1e6).toFixed(2)}M`;
  if (n >= 1e4) return `${(n / 1e3).toFixed(1)}k`;
  return n.toFixed(n >= 100 ? 0 : 1);
}

/** Bytes/s as MB/s (1e6). */
export function formatMBps(bytesPerSec: number | undefined): string {
  if (bytesPerSec === undefined || !Number.isFinite(bytesPerSec)) return '';
  const mb = bytesPerSec / 1e6;
  return mb >= 100 ? mb.toFixed(0) : mb.toFixed(1);
}

/** Microseconds with sensible precision. */
export function formatUs(us: number | undefined): string {
  if (us === undefined || !Number.isFinite(us)) return '';
  if (us >= 1000) return us.toFixed(0);
  if (us >= 10) return us.toFixed(1);
  return us.toFixed(2);
}

/** Bytes as MiB. */
export function formatMiB(bytes: number | undefined): string {
  if (bytes === undefined || !Number.isFinite(bytes)) return '';
  return `${(bytes / (1024 * 1024)).toFixed(1)} MiB`;
}
