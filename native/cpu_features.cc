/*
 * cpu_features.cc -- CPUID probing
 */
#include "cpu_features.h"

#include <cpuid.h>

namespace rpmem {

namespace {

constexpr unsigned kLeafExtendedFeatures = 7;
constexpr unsigned kEbxClflushopt = 1u << 23;
constexpr unsigned kEbxClwb = 1u << 24;

/* Probe -- reads CPUID; leaf 7 is absent on old CPUs, which then have neither CLWB nor CLFLUSHOPT */
CpuFeatures Probe() {
  /* required before __builtin_cpu_supports when the first call may come from a static initializer */
  __builtin_cpu_init();
  CpuFeatures features{false, false, __builtin_cpu_supports("sse4.2") != 0};
  unsigned eax = 0, ebx = 0, ecx = 0, edx = 0;
  if (__get_cpuid_count(kLeafExtendedFeatures, 0, &eax, &ebx, &ecx, &edx) != 0) {
    features.clwb = (ebx & kEbxClwb) != 0;
    features.clflushopt = (ebx & kEbxClflushopt) != 0;
  }
  return features;
}

}  // namespace

/* DetectedCpuFeatures -- the features of the CPU we run on (CPUID, probed on first use) */
const CpuFeatures& DetectedCpuFeatures() {
  static const CpuFeatures features = Probe();
  return features;
}

}  // namespace rpmem
