/**
 * Experiment: the cost of copying 4 KiB ranges into a freshly allocated message buffer (what
 * protobufjs' writer, grpc-js' framing and its stream decoder each do once per message) against
 * copying into a reused one, per message size. CPU time per 4 KiB, best of several rounds.
 * Run it again under MALLOC_MMAP_THRESHOLD_=67108864 MALLOC_TRIM_THRESHOLD_=1073741824 to see
 * how much of the difference is glibc returning big blocks to the kernel (fresh page faults).
 *
 *   node dist/bench/experiments/alloc-faults.js
 */
const ROUNDS = 7;
const MESSAGES = 200;
const source = Buffer.alloc(4096, 1);

function measure(label: string, fresh: boolean, size: number): void {
  const reused = Buffer.allocUnsafe(size);
  let best = Infinity;
  for (let r = 0; r < ROUNDS; r++) {
    const c0 = process.cpuUsage();
    for (let m = 0; m < MESSAGES; m++) {
      const out = fresh ? Buffer.allocUnsafe(size) : reused;
      for (let o = 0; o + 4096 <= size; o += 4096) source.copy(out, o);
    }
    const c = process.cpuUsage(c0);
    best = Math.min(best, ((c.user + c.system) * 1000) / ((MESSAGES * size) / 4096));
  }
  process.stdout.write(`${label.padEnd(48)} ${best.toFixed(0).padStart(6)} ns CPU per 4 KiB copied\n`);
}

for (const size of [1024 * 1024, 256 * 1024, 128 * 1024, 64 * 1024]) {
  measure(`fresh Buffer.allocUnsafe(${size / 1024} KiB) per message`, true, size);
}
measure('one reused 1 MiB buffer', false, 1024 * 1024);

export {};
