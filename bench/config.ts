/**
 * How big and how long each part of the bench runs: the full run, and `--quick` (under 60 s).
 */

const KiB = 1024;
const MiB = 1024 * KiB;
const GiB = 1024 * MiB;

export interface BenchConfig {
  quick: boolean;
  /** Range sizes measured everywhere. */
  sizes: number[];
  /** Pool (data area) size for the single-target rows and the local baselines. */
  poolBytes: number;
  /** Pool size for the replication rows (a replica's first open compares every block). */
  replicaPoolBytes: number;
  /** Time bound of each measured cell (one size, one mode, one granularity). */
  cellMs: number;
  /** Count bound of each measured cell. */
  cellMaxOps: number;
  /** Unmeasured warm-up before each cell. */
  warmupMs: number;
  /** Bytes grouped into one durable batch by the local baselines (rpmem's default message size). */
  groupBytes: number;
  /** The initiator's window: RemotePool's default maxInflightBytes. */
  windowBytes: number;
  /** The target's --max-inflight-bytes (rpmemd's default). */
  targetInflightBytes: number;
  /** Most persists the pipelined driver keeps outstanding. */
  maxInflightOps: number;
  /** Time bound of each replication cell. */
  replicationMs: number;
  /** Duration of the memory flood (G7). */
  floodMs: number;
  /** Range size of the flood. */
  floodRangeBytes: number;
  /** Time bound of the TCP bulk transfer and of each ping-pong. */
  tcpMs: number;
}

export function benchConfig(quick: boolean): BenchConfig {
  return {
    quick,
    sizes: [64, 4 * KiB, 64 * KiB, MiB],
    poolBytes: quick ? 64 * MiB : GiB,
    replicaPoolBytes: quick ? 16 * MiB : 256 * MiB,
    cellMs: quick ? 200 : 2000,
    cellMaxOps: quick ? 400_000 : 4_000_000,
    warmupMs: quick ? 50 : 200,
    groupBytes: MiB,
    windowBytes: 64 * MiB,
    targetInflightBytes: 64 * MiB,
    maxInflightOps: 16_384,
    replicationMs: quick ? 800 : 5000,
    floodMs: quick ? 4000 : 60_000,
    floodRangeBytes: MiB,
    tcpMs: quick ? 300 : 2000,
  };
}

/** `4 KiB`, `64 B`, `1 MiB`. */
export function sizeLabel(bytes: number): string {
  if (bytes >= MiB && bytes % MiB === 0) return `${bytes / MiB} MiB`;
  if (bytes >= KiB && bytes % KiB === 0) return `${bytes / KiB} KiB`;
  return `${bytes} B`;
}
