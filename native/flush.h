/*
 * flush.h -- writing cache lines back to memory and ordering those write-backs
 *
 * The instruction is chosen once per process by CPUID: CLWB (keeps the line cached), else
 * CLFLUSHOPT, else CLFLUSH, as libpmem2 does. The persist routines are instantiated once per
 * instruction and call FlushLines<instruction> directly: before, each range's flush was a call
 * through the PLT and then through a function pointer, and a batch of 16384 x 64 B ranges
 * spent 20-30% more time than libpmem2's one call per range (bench/like-for-like.ts).
 */
#ifndef RPMEM_NATIVE_FLUSH_H
#define RPMEM_NATIVE_FLUSH_H

#include <cstddef>
#include <cstdint>

#if !defined(__x86_64__)
#error "rpmem's native writer flushes with x86-64 cache instructions"
#endif

namespace rpmem {

enum class FlushInstruction { kClwb, kClflushopt, kClflush };

constexpr uintptr_t kCacheLineBytes = 64;

/* SelectedFlushInstruction -- the best flush instruction this CPU offers (CPUID, probed once) */
FlushInstruction SelectedFlushInstruction();

/* FlushInstructionName -- the name the JS contract uses for an instruction */
const char* FlushInstructionName(FlushInstruction instruction);

/*
 * FlushLine -- starts write-back of one cache line. Inline assembly rather than an intrinsic,
 * which would need a target attribute. The memory clobber keeps the compiler from moving the
 * range's stores past the flush.
 */
template <FlushInstruction instruction>
inline void FlushLine(uintptr_t line) {
  if constexpr (instruction == FlushInstruction::kClwb) {
    asm volatile("clwb (%0)" ::"r"(line) : "memory");
  } else if constexpr (instruction == FlushInstruction::kClflushopt) {
    asm volatile("clflushopt (%0)" ::"r"(line) : "memory");
  } else {
    asm volatile("clflush (%0)" ::"r"(line) : "memory");
  }
}

/*
 * FlushLines -- starts write-back of every cache line that [addr, addr+length) touches. Never
 * inlined: on this project's VMs the loop inlined right after the copy into the line made a
 * batch of 16384 x 64 B ranges 5x slower (2.4 against 0.5 ms), while a direct call (hidden, so
 * not through the PLT) keeps it as fast as libpmem2. Without hardware counters the cause is not
 * known; like-for-like G5 is the guard.
 */
template <FlushInstruction instruction>
__attribute__((noinline, visibility("hidden"))) void FlushLines(const void* addr, size_t length) {
  if (length == 0) return;
  const uintptr_t start = reinterpret_cast<uintptr_t>(addr);
  for (uintptr_t line = start & ~(kCacheLineBytes - 1); line < start + length; line += kCacheLineBytes) {
    FlushLine<instruction>(line);
  }
}

/* StoreFence -- SFENCE: every flush issued before it completes before any store after it */
inline void StoreFence() { asm volatile("sfence" ::: "memory"); }

}  // namespace rpmem

#endif
