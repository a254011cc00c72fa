/**
 * Reads a V8 .cpuprofile (node --cpu-prof) and says where the time went: self time per function
 * and per code area (rpmem, grpc-js, protobufjs, Node internals, GC, idle).
 */
import * as fs from 'fs';
import * as path from 'path';

interface ProfileNode {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number };
  children?: number[];
}

interface CpuProfile {
  nodes: ProfileNode[];
  startTime: number;
  endTime: number;
  samples: number[];
  timeDeltas: number[];
}

export interface FunctionTime {
  name: string;
  where: string;
  area: string;
  selfMs: number;
  /** Percent of busy (non-idle) time. */
  selfPct: number;
}

export interface ProfileSummary {
  file: string;
  wallMs: number;
  busyMs: number;
  idleMs: number;
  areas: Array<{ area: string; selfMs: number; selfPct: number }>;
  top: FunctionTime[];
}

/** Which part of the stack a frame belongs to. */
function areaOf(url: string, name: string): string {
  if (name === '(garbage collector)') return 'GC';
  if (name === '(idle)') return 'idle';
  if (name === '(program)') return 'program (native, outside JS)';
  if (url.includes('@grpc/grpc-js')) return 'grpc-js';
  if (url.includes('protobufjs') || url.includes('@grpc/proto-loader')) return 'protobufjs';
  if (url.includes('/dist/src/')) return 'rpmem';
  if (url.includes('/dist/bench/')) return 'bench driver';
  if (url.startsWith('node:') || url === '') return name === '' ? 'native/anonymous' : 'Node internals + natives';
  return 'other';
}

function shortWhere(url: string, line: number): string {
  if (url === '') return '';
  const m = /node_modules\/(.+)$/.exec(url);
  const shown =
    m !== null
      ? m[1].replace(/^@grpc\/grpc-js\/build\/src\//, 'grpc-js/')
      : url.includes('/dist/')
        ? url.slice(url.indexOf('/dist/') + 6)
        : url.replace(/^file:\/\//, '');
  return `${shown}:${line + 1}`;
}

export function summarizeProfile(file: string, top = 25): ProfileSummary {
  const profile = JSON.parse(fs.readFileSync(file, 'utf8')) as CpuProfile;
  const byId = new Map<number, ProfileNode>();
  for (const n of profile.nodes) byId.set(n.id, n);
  const selfUs = new Map<number, number>();
  for (let i = 0; i < profile.samples.length; i++) {
    const id = profile.samples[i];
    selfUs.set(id, (selfUs.get(id) ?? 0) + (profile.timeDeltas[i] ?? 0));
  }
  const fn = new Map<string, { name: string; where: string; area: string; us: number }>();
  const areas = new Map<string, number>();
  let idleUs = 0;
  let totalUs = 0;
  for (const [id, us] of selfUs) {
    const n = byId.get(id)!;
    const { functionName, url, lineNumber } = n.callFrame;
    const name = functionName || '(anonymous)';
    const area = areaOf(url, functionName);
    totalUs += us;
    if (area === 'idle') {
      idleUs += us;
      continue;
    }
    areas.set(area, (areas.get(area) ?? 0) + us);
    const where = shortWhere(url, lineNumber);
    const key = `${name}@${where}`;
    const entry = fn.get(key) ?? { name, where, area, us: 0 };
    entry.us += us;
    fn.set(key, entry);
  }
  const busyUs = totalUs - idleUs;
  const pct = (us: number): number => (100 * us) / busyUs;
  return {
    file: path.basename(file),
    wallMs: (profile.endTime - profile.startTime) / 1000,
    busyMs: busyUs / 1000,
    idleMs: idleUs / 1000,
    areas: [...areas.entries()].sort((a, b) => b[1] - a[1]).map(([area, us]) => ({ area, selfMs: us / 1000, selfPct: pct(us) })),
    top: [...fn.values()]
      .sort((a, b) => b.us - a.us)
      .slice(0, top)
      .map((e) => ({ name: e.name, where: e.where, area: e.area, selfMs: e.us / 1000, selfPct: pct(e.us) })),
  };
}

export function renderProfile(label: string, s: ProfileSummary): string {
  const lines = [
    `${label}: ${s.file}, wall ${(s.wallMs / 1000).toFixed(1)} s, busy ${(s.busyMs / 1000).toFixed(2)} s (${((100 * s.busyMs) / (s.busyMs + s.idleMs)).toFixed(0)}% of samples), idle ${(s.idleMs / 1000).toFixed(2)} s`,
    '  by area (self time, % of busy):',
    ...s.areas.map((a) => `    ${a.selfPct.toFixed(1).padStart(5)}%  ${a.area}`),
    '  top functions (self time, % of busy):',
    ...s.top.map((f) => `    ${f.selfPct.toFixed(1).padStart(5)}%  ${f.selfMs.toFixed(0).padStart(6)} ms  ${f.name}  ${f.where}`),
  ];
  return lines.join('\n');
}
