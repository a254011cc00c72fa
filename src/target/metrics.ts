/**
 * rpmemd's Prometheus metrics, on prom-client, in a registry of their own (never the process-global
 * one, so an embedding process cannot collide with them). Counters move only where the durable
 * path reports what it did; gauges are read from the daemon's state at scrape time, so they can
 * never drift from it.
 */
import * as http from 'http';
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics, exponentialBuckets } from 'prom-client';
import { VERSION } from '../version';
import type { PoolFile } from '../storage/pool-file';
import type { Log } from './log';
import { serveMetrics } from './metrics-endpoint';

/** What the gauges read at scrape time. */
export interface MetricsSources {
  openFiles(): PoolFile[];
  streams(): number;
}

/** One range of a durable batch, as the metrics see it. */
export interface MeasuredRange {
  data: Buffer;
  /** 0 for resync copies and plain (unreplicated) writes. */
  lsn: number;
  /** When the PersistBatch message carrying it arrived (process.hrtime.bigint()). */
  arrivedNs: bigint;
}

const NS_PER_S = 1e9;

export class TargetMetrics {
  readonly registry = new Registry();
  private server?: http.Server;

  private readonly ranges = new Counter({
    name: 'rpmemd_persist_ranges_total',
    help: 'Ranges made durable (and acked, unless the client had gone).',
    registers: [this.registry],
  });
  private readonly bytes = new Counter({
    name: 'rpmemd_persist_bytes_total',
    help: 'Bytes of ranges made durable (and acked, unless the client had gone).',
    registers: [this.registry],
  });
  private readonly resyncBytes = new Counter({
    name: 'rpmemd_resync_bytes_total',
    help: 'Bytes copied into pools marked SYNCING by a resync (ranges without an LSN).',
    registers: [this.registry],
  });
  private readonly batchRanges = new Histogram({
    name: 'rpmemd_persist_batch_ranges',
    help: 'Ranges per durable batch (group commit: one flush + fence, or one fdatasync, per batch).',
    buckets: exponentialBuckets(1, 4, 9),
    registers: [this.registry],
  });
  private readonly batchBytes = new Histogram({
    name: 'rpmemd_persist_batch_bytes',
    help: 'Bytes per durable batch.',
    buckets: exponentialBuckets(64, 4, 11),
    registers: [this.registry],
  });
  private readonly ackSeconds = new Histogram({
    name: 'rpmemd_durable_ack_seconds',
    help: 'From the arrival of a PersistBatch message to the ack that covers its last range.',
    buckets: exponentialBuckets(25e-6, 2, 18),
    registers: [this.registry],
  });
  private readonly flushSeconds = new Histogram({
    name: 'rpmemd_flush_seconds',
    help: 'Time to make one batch and its header durable (flush + fence, or pwrite + fdatasync).',
    labelNames: ['granularity'],
    buckets: exponentialBuckets(10e-6, 2, 18),
    registers: [this.registry],
  });
  private readonly errors = new Counter({
    name: 'rpmemd_errors_total',
    help: 'Requests and streams that ended with an error, by method and RPMEM_E_* code.',
    labelNames: ['method', 'code'],
    registers: [this.registry],
  });

  constructor(
    private readonly address: string,
    sources: MetricsSources,
    private readonly log: Log,
  ) {
    collectDefaultMetrics({ register: this.registry });
    new Gauge({
      name: 'rpmemd_build_info',
      help: 'Always 1; the version is in the label.',
      labelNames: ['version'],
      registers: [this.registry],
    }).set({ version: VERSION }, 1);
    new Gauge({
      name: 'rpmemd_open_pools',
      help: 'Pool files open (mapped) right now.',
      registers: [this.registry],
      collect() {
        this.set(sources.openFiles().length);
      },
    });
    new Gauge({
      name: 'rpmemd_syncing_pools',
      help: 'Open pools marked SYNCING: a resync into them is incomplete.',
      registers: [this.registry],
      collect() {
        this.set(sources.openFiles().filter((f) => f.syncState === 'syncing').length);
      },
    });
    new Gauge({
      name: 'rpmemd_persist_streams',
      help: 'Persist streams attached right now.',
      registers: [this.registry],
      collect() {
        this.set(sources.streams());
      },
    });
  }

  /** Serves /metrics on the configured `host:port`. */
  async start(): Promise<void> {
    this.server = await serveMetrics(this.address, this.registry);
    this.log.info('metrics listening', { address: this.address, path: '/metrics' });
  }

  async close(): Promise<void> {
    const server = this.server;
    if (server === undefined) return;
    this.server = undefined;
    server.closeAllConnections();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  }

  /** A batch and its header are durable and acked; `applyStartedNs` is when its durable write began. */
  batchDurable(batch: readonly MeasuredRange[], file: PoolFile, applyStartedNs: bigint): void {
    const now = process.hrtime.bigint();
    let bytes = 0;
    let resync = 0;
    let arrival = -1n;
    for (const r of batch) {
      bytes += r.data.length;
      if (r.lsn === 0) resync += r.data.length;
      // Ranges of one message share its arrival stamp: one observation per message.
      if (r.arrivedNs !== arrival) {
        arrival = r.arrivedNs;
        this.ackSeconds.observe(Number(now - arrival) / NS_PER_S);
      }
    }
    this.ranges.inc(batch.length);
    this.bytes.inc(bytes);
    if (file.syncState === 'syncing' && resync > 0) this.resyncBytes.inc(resync);
    this.batchRanges.observe(batch.length);
    this.batchBytes.observe(bytes);
    this.flushSeconds.observe({ granularity: file.granularity }, Number(now - applyStartedNs) / NS_PER_S);
  }

  /** A request or stream ended with `code`. */
  failed(method: string, code: string): void {
    this.errors.inc({ method, code });
  }
}
