/*
 * flush.cc -- CLWB / CLFLUSHOPT / CLFLUSH loops, selected once by CPUID
 */
#include "flush.h"

#include <immintrin.h>

#include <cstdint>

#include "cpu_features.h"

#if !defined(__x86_64__)
#error "rpmem's native writer flushes with x86-64 cache instructions"
#endif

namespace rpmem {

namespace {

constexpr uintptr_t kCacheLineBytes = 64;

using FlushFn = void (*)(uintptr_t first_line, uintptr_t end);

/* FlushClwb -- CLWB each line in [first_line, end) */
__attribute__((target("clwb"))) void FlushClwb(uintptr_t first_line, uintptr_t end) {
  for (uintptr_t line = first_line; line < end; line += kCacheLineBytes) {
    _mm_clwb(reinterpret_cast<void*>(line));
  }
}

/* FlushClflushopt -- CLFLUSHOPT each line in [first_line, end) */
__attribute__((target("clflushopt"))) void FlushClflushopt(uintptr_t first_line, uintptr_t end) {
  for (uintptr_t line = first_line; line < end; line += kCacheLineBytes) {
    _mm_clflushopt(reinterpret_cast<void*>(line));
  }
}

/* FlushClflush -- CLFLUSH each line in [first_line, end) */
void FlushClflush(uintptr_t first_line, uintptr_t end) {
  for (uintptr_t line = first_line; line < end; line += kCacheLineBytes) {
    _mm_clflush(reinterpret_cast<void*>(line));
  }
}

struct Flusher {
  FlushInstruction instruction;
  FlushFn flush;
};

/* ChooseFlusher -- the best instruction the CPU offers */
Flusher ChooseFlusher() {
  const CpuFeatures& cpu = DetectedCpuFeatures();
  if (cpu.clwb) return {FlushInstruction::kClwb, FlushClwb};
  if (cpu.clflushopt) return {FlushInstruction::kClflushopt, FlushClflushopt};
  return {FlushInstruction::kClflush, FlushClflush};
}

/* SelectedFlusher -- the flusher chosen on first use, so the persist path never re-probes CPUID */
const Flusher& SelectedFlusher() {
  static const Flusher flusher = ChooseFlusher();
  return flusher;
}

}  // namespace

/* SelectedFlushInstruction -- the flush instruction FlushLines uses on this CPU */
FlushInstruction SelectedFlushInstruction() {
  return SelectedFlusher().instruction;
}

/* FlushInstructionName -- the name the JS contract uses for an instruction */
const char* FlushInstructionName(FlushInstruction instruction) {
  switch (instruction) {
    case FlushInstruction::kClwb:
      return "clwb";
    case FlushInstruction::kClflushopt:
      return "clflushopt";
    case FlushInstruction::kClflush:
      return "clflush";
  }
  return "clflush";
}

/* FlushLines -- starts write-back of every cache line that [addr, addr+length) touches */
void FlushLines(const void* addr, size_t length) {
  if (length == 0) return;
  uintptr_t start = reinterpret_cast<uintptr_t>(addr);
  SelectedFlusher().flush(start & ~(kCacheLineBytes - 1), start + length);
}

/* StoreFence -- SFENCE: every flush issued before it completes before any store after it */
void StoreFence() {
  _mm_sfence();
}

}  // namespace rpmem
