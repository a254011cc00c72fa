/*
 * flush.cc -- choosing the flush instruction by CPUID
 */
#include "flush.h"

#include "cpu_features.h"

namespace rpmem {

/* SelectedFlushInstruction -- the best flush instruction this CPU offers (CPUID, probed once) */
FlushInstruction SelectedFlushInstruction() {
  static const FlushInstruction instruction = [] {
    const CpuFeatures& cpu = DetectedCpuFeatures();
    if (cpu.clwb) return FlushInstruction::kClwb;
    if (cpu.clflushopt) return FlushInstruction::kClflushopt;
    return FlushInstruction::kClflush;
  }();
  return instruction;
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

}  // namespace rpmem
