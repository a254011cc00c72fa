/*
 * cpu_features.h -- which cache-flush and CRC instructions this CPU offers, probed once
 */
#ifndef RPMEM_NATIVE_CPU_FEATURES_H
#define RPMEM_NATIVE_CPU_FEATURES_H

namespace rpmem {

struct CpuFeatures {
  bool clwb;
  bool clflushopt;
  bool sse42;
};

/* DetectedCpuFeatures -- the features of the CPU we run on (CPUID, probed on first use) */
const CpuFeatures& DetectedCpuFeatures();

}  // namespace rpmem

#endif
