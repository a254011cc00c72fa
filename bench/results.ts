/**
 * Everything one bench run measured, as written to the JSON file.
 */
import { BenchConfig } from './config';
import type { FloodResult } from './flood';
import type { Goal } from './goals';
import type { GrpcCeilingResult } from './grpc-ceiling';
import type { Pmem2Outcome } from './libpmem2';
import type { LocalFloorResult } from './local-floor';
import type { ReplicationResult } from './replication';
import type { RemoteResult } from './rpmem';
import type { TcpFloorResult } from './tcp-floor';

export interface HostInfo {
  cpus: number;
  cpuModel: string;
  kernel: string;
  node: string;
  tmpdir: string;
  /** `git describe --always --dirty` of the tree measured, and how many files under src/ and native/ differ from it. */
  commit: string;
  dirtyFiles: number;
}

export interface SectionTiming {
  section: string;
  seconds: number;
  /** 1-minute load average before and after: other work on the machine skews every figure. */
  loadBefore: number;
  loadAfter: number;
}

export interface BenchResults {
  startedAt: string;
  seconds: number;
  config: BenchConfig;
  host: HostInfo;
  tcp?: TcpFloorResult;
  grpcCeiling?: GrpcCeilingResult;
  local: LocalFloorResult[];
  libpmem2?: Pmem2Outcome;
  remote: RemoteResult[];
  replication?: ReplicationResult;
  flood?: FloodResult;
  goals: Goal[];
  sections: SectionTiming[];
  /** Sections that failed, with why; the rest of the run still completes. */
  errors: Array<{ section: string; message: string }>;
}
