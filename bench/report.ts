/**
 * The one table a run prints: the baselines, rpmem's absolute figures, then the G1–G7 ratios.
 */
import { AUTHENTICATED_WINDOW_BYTES, HTTP2_WINDOW_BYTES } from '../src/target/http2-window';
import { sizeLabel } from './config';
import type { Goal } from './goals';
import type { BenchResults } from './results';
import type { LatencySummary } from './stats';
import { TableRow, formatCount, formatMBps, formatMiB, formatUs, renderTable } from './table';

const HEADERS = ['row', 'ranges/s', 'MB/s', 'p50 µs', 'p99 µs', 'p999 µs', 'notes'];

function goalRow(g: Goal): string[] {
  const value = g.value === undefined ? 'n/a' : `${g.value.toFixed(2)}`;
  const status = g.met === undefined ? 'NOT MEASURED' : g.met ? 'MET' : 'NOT MET';
  return [g.id, '', '', '', '', '', `${value} (goal ${g.sense} ${g.target}) ${status}: ${g.title}. ${g.figures}`];
}

/**
 * One measured row: its throughput (`ranges/s`, `MB/s`, either left blank where not measured),
 * its latency percentiles if it has any, and notes.
 */
function measuredRow(
  label: string,
  throughput: { opsPerSec?: number; bytesPerSec?: number },
  latency: LatencySummary | undefined,
  notes: string,
): string[] {
  return [
    label,
    throughput.opsPerSec === undefined ? '' : formatCount(throughput.opsPerSec),
    throughput.bytesPerSec === undefined ? '' : formatMBps(throughput.bytesPerSec),
    latency === undefined ? '' : formatUs(latency.p50Us),
    latency === undefined ? '' : formatUs(latency.p99Us),
    latency === undefined ? '' : formatUs(latency.p999Us),
    notes,
  ];
}

/** Which of rpmemd's windows `bytes` is, as a note prefix. */
function windowRole(bytes: number): string {
  const roles = [
    bytes === HTTP2_WINDOW_BYTES ? 'rpmemd default' : '',
    bytes === AUTHENTICATED_WINDOW_BYTES ? 'rpmemd authenticated' : '',
  ].filter(Boolean);
  return roles.length === 0 ? '' : `${roles.join(', ')}; `;
}

export function renderReport(r: BenchResults): string {
  const rows: TableRow[] = [];
  if (r.tcp !== undefined) {
    rows.push({ section: 'baseline 1: transport floor, loopback TCP (Node net, acker in a child process)' });
    const b = r.tcp.bulk;
    rows.push(
      measuredRow(
        `tcp bulk ${sizeLabel(b.messageBytes)} msgs`,
        { bytesPerSec: b.bytesPerSec },
        undefined,
        `window ${formatMiB(b.windowBytes)}, 8 B ack per message`,
      ),
    );
    for (const [size, q] of Object.entries(r.tcp.pingPong)) {
      rows.push(
        measuredRow(`tcp ping-pong ${sizeLabel(Number(size))}`, { opsPerSec: q.opsPerSec }, q.latency, `${q.ops} round trips, 8 B ack`),
      );
    }
  }
  if (r.grpcCeiling !== undefined) {
    const c = r.grpcCeiling;
    const bulk = r.tcp?.bulk.bytesPerSec;
    rows.push({
      section:
        'baseline 4: grpc-js ceiling, bare bidi stream shaped like Persist (sink in a child process decodes and acks; no CRC, copy or sync)',
    });
    for (const x of c.cells) {
      const ofTcp = bulk === undefined ? '' : `; ${(x.bytesPerSec / bulk).toFixed(2)}x TCP bulk`;
      rows.push(
        measuredRow(
          `grpc ${x.rangesPerMessage} x ${sizeLabel(x.rangeBytes)}/msg, win ${sizeLabel(x.windowBytes)}`,
          x,
          undefined,
          `${windowRole(x.windowBytes)}CPU s/GB ${x.cpu.initiatorSecPerGb.toFixed(1)} client + ${x.cpu.targetSecPerGb.toFixed(1)} sink${ofTcp}`,
        ),
      );
    }
    rows.push(
      measuredRow(
        `grpc QD1 1 x 4 KiB, win ${sizeLabel(c.qd1.windowBytes)}`,
        { opsPerSec: c.qd1.opsPerSec },
        c.qd1.latency,
        `${c.qd1.ops} round trips`,
      ),
    );
  }
  if (r.local.length > 0) {
    rows.push({ section: 'baseline 2: local floor, native writePacked + header trailer (ranges/s: group commit; µs: QD1)' });
    for (const l of r.local) {
      for (const size of r.config.sizes) {
        const s = l.sizes[size];
        if (s === undefined) continue;
        rows.push(
          measuredRow(
            `native ${l.granularity} ${sizeLabel(size)}`,
            s.group,
            s.qd1.latency,
            `${s.group.rangesPerBatch}/batch; QD1 no trailer p50 ${formatUs(s.qd1NoTrailer.latency.p50Us)} p99 ${formatUs(s.qd1NoTrailer.latency.p99Us)}; ${l.dir}${l.granularity === 'cache-line' ? ' ' + l.flushInstruction : ''}`,
          ),
        );
      }
    }
  }
  if (r.libpmem2 !== undefined) {
    rows.push({ section: 'baseline 3: libpmem2 (ranges/s: memcpy + flush each, one drain per 1 MiB group; µs: memcpy + persist, QD1)' });
    if (!r.libpmem2.available) {
      rows.push(['libpmem2', '', '', '', '', '', `unavailable: ${r.libpmem2.reason}`]);
    } else {
      for (const p of r.libpmem2.results) {
        for (const size of r.config.sizes) {
          const s = p.sizes[size];
          if (s === undefined) continue;
          rows.push(
            measuredRow(
              `pmem2 ${p.granularity} ${sizeLabel(size)}`,
              s.group,
              s.qd1.latency,
              `${s.group.rangesPerGroup}/group; forced ${p.forced}; ${p.dir}; libpmem2 ${r.libpmem2.version}`,
            ),
          );
        }
      }
    }
  }
  const pairs = r.libpmem2?.available ? r.libpmem2.results.map((p) => p.likeForLike) : [];
  if (pairs.length > 0) {
    rows.push({
      section: `G5 like-for-like: native writer timed in C++ (benchWritePacked) vs libpmem2, the same batches + header slot, ${pairs[0].rounds} slices each taking turns (ranges/s: 1 MiB batches; µs: one-range batch)`,
    });
    for (const pair of pairs) {
      const page = pair.granularity === 'page';
      for (const size of r.config.sizes) {
        const s = pair.sizes[size];
        if (s === undefined) continue;
        const perBatch = `${s.native.group.rangesPerBatch}/batch`;
        rows.push(
          measuredRow(
            `lfl native ${pair.granularity} ${sizeLabel(size)}`,
            s.native.group,
            s.native.qd1.latency,
            `${perBatch}; ${page ? 'pwrite each, fdatasync; slot pwrite, fdatasync' : `copy + ${pair.flushInstruction} each, sfence; slot, sfence`}; ${pair.nativeDir}`,
          ),
          measuredRow(
            `lfl pmem2 ${pair.granularity} ${sizeLabel(size)}`,
            s.pmem2.group,
            s.pmem2.qd1.latency,
            `${perBatch}; ${page ? 'memcpy each, one msync of the span; slot memcpy, msync' : 'memcpy + flush_fn each, drain_fn; slot memcpy, persist_fn'}`,
          ),
        );
      }
    }
  }
  if (r.remote.length > 0) {
    rows.push({ section: 'rpmem, one target: RemotePool (ranges/s: pipelined; µs: QD1 ack latency)' });
    for (const t of r.remote) {
      for (const size of r.config.sizes) {
        const s = t.sizes[size];
        if (s === undefined) continue;
        const c = s.pipelined.cpu;
        rows.push(
          measuredRow(
            `rpmem ${t.granularity} ${sizeLabel(size)}`,
            s.pipelined,
            s.qd1.latency,
            `CPU s/GB ${c.initiatorSecPerGb.toFixed(1)} init + ${c.targetSecPerGb.toFixed(1)} target; depth ${s.pipelined.maxInflightOps}`,
          ),
        );
      }
      rows.push([
        `rpmem ${t.granularity} memory`,
        '',
        '',
        '',
        '',
        '',
        `peak initiator RSS ${formatMiB(t.initiatorMemory.rssBytes)} heap ${formatMiB(t.initiatorMemory.heapUsedBytes)}; target VmRSS ${formatMiB(t.targetMemory.rssBytes)} RssAnon ${formatMiB(t.targetMemory.rssAnonBytes)} (pool ${formatMiB(t.poolBytes)})`,
      ]);
    }
  }
  if (r.replication !== undefined) {
    const rep = r.replication;
    rows.push({
      section: `replication: ReplicatedPool, local cache-line pool + cache-line targets, ack 'all', ${sizeLabel(rep.rangeBytes)} pipelined`,
    });
    for (const c of [rep.one, rep.three]) {
      rows.push(
        measuredRow(
          `replicated x${c.replicas}`,
          c.result,
          undefined,
          `CPU s/GB ${c.result.cpu.initiatorSecPerGb.toFixed(1)} init + ${c.result.cpu.targetSecPerGb.toFixed(1)} targets; open ${c.openSeconds.toFixed(1)} s; pool ${formatMiB(rep.poolBytes)}`,
        ),
      );
    }
  }
  if (r.flood !== undefined) {
    const f = r.flood;
    rows.push({ section: `memory flood: page target, ${sizeLabel(f.rangeBytes)} persists for ${f.seconds.toFixed(0)} s` });
    rows.push(
      measuredRow(
        'flood',
        f.throughput,
        undefined,
        `target VmRSS peak ${formatMiB(f.targetPeak.rssBytes)} (limit ${formatMiB(f.targetMaxInflightBytes)}); initiator RSS peak ${formatMiB(f.initiatorPeak.rssBytes)}, external peak ${formatMiB(f.initiatorPeak.externalBytes)}`,
      ),
    );
  }
  rows.push({ section: 'goals (issue 11): ratio (goal) status: what, figures' });
  for (const g of r.goals) rows.push(goalRow(g));
  for (const e of r.errors) rows.push([`ERROR ${e.section}`, '', '', '', '', '', e.message]);
  return renderTable(HEADERS, rows);
}
