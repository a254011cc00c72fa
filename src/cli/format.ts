/**
 * Text and JSON formatting shared by the commands.
 */

/** JSON with bigints as strings and Buffers as hex: what scripts can read without surprises. */
export function toJson(data: unknown): string {
  return JSON.stringify(data, (_k, v: unknown) => {
    if (typeof v === 'bigint') return v.toString();
    // JSON.stringify calls Buffer's toJSON before the replacer sees it.
    if (
      v !== null &&
      typeof v === 'object' &&
      (v as { type?: unknown }).type === 'Buffer' &&
      Array.isArray((v as { data?: unknown }).data)
    ) {
      return Buffer.from((v as { data: number[] }).data).toString('hex');
    }
    return v;
  });
}

const BYTE_UNITS = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];

/** `1536` → `1.5 KiB`. */
export function formatBytes(n: number): string {
  let v = n;
  let u = 0;
  while (v >= 1024 && u < BYTE_UNITS.length - 1) {
    v /= 1024;
    u++;
  }
  return u === 0 ? `${v} B` : `${v.toFixed(1)} ${BYTE_UNITS[u]}`;
}

/** Left-aligned columns, two spaces apart; the first row is the heading. */
export function table(rows: string[][]): string {
  const widths = rows[0].map((_, i) => Math.max(...rows.map((r) => r[i].length)));
  return rows.map((r) => r.map((cell, i) => (i === r.length - 1 ? cell : cell.padEnd(widths[i]))).join('  ')).join('\n');
}
