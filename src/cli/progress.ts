/**
 * Progress bars with rate and ETA, on cli-progress (one line per bar, redrawn in place at most
 * 10 times a second; ETA from a moving window of recent updates).
 */
import { MultiBar, Presets, SingleBar } from 'cli-progress';
import { formatBytes } from './format';

export type ProgressUnit = 'bytes' | 'ranges' | 'blocks';

export class ProgressBars {
  private readonly multi: MultiBar;

  constructor(stream: NodeJS.WritableStream) {
    this.multi = new MultiBar(
      {
        format: '{label} {bar} {percentage}% {progress} {rate} ETA {eta_formatted}',
        barsize: 20,
        hideCursor: true,
        etaBuffer: 50,
        fps: 10,
        stream,
      },
      Presets.shades_classic,
    );
  }

  /** A bar named `label` counting to `total` `unit`s. */
  bar(label: string, total: number, unit: ProgressUnit): ProgressBar {
    return new ProgressBar(this.multi.create(total, 0, { label, progress: '', rate: '' }), total, unit);
  }

  /** Leaves the bars as last drawn and gives the terminal back. */
  stop(): void {
    this.multi.stop();
  }
}

export class ProgressBar {
  private readonly started = Date.now();

  constructor(
    private readonly bar: SingleBar,
    private total: number,
    private readonly unit: ProgressUnit,
  ) {}

  /** Sets the bar to `value`; `bytes` (moved so far) gives the rate where the unit is not bytes. */
  update(value: number, bytes?: number, total = this.total): void {
    this.total = total;
    this.bar.setTotal(total);
    const seconds = Math.max((Date.now() - this.started) / 1000, 1e-3);
    const byteRate = bytes === undefined ? '' : `${formatBytes(Math.round(bytes / seconds))}/s`;
    const rate =
      this.unit === 'bytes'
        ? `${formatBytes(Math.round(value / seconds))}/s`
        : `${Math.round(value / seconds)} ${this.unit}/s ${byteRate}`.trimEnd();
    const progress = this.unit === 'bytes' ? `${formatBytes(value)}/${formatBytes(total)}` : `${value}/${total}`;
    this.bar.update(value, { progress, rate });
  }
}
