/*
 * flush.h -- writing cache lines back to memory and ordering those write-backs
 *
 * The instruction is chosen once per process by CPUID: CLWB (keeps the line cached), else
 * CLFLUSHOPT, else CLFLUSH, as libpmem2 does.
 */
#ifndef RPMEM_NATIVE_FLUSH_H
#define RPMEM_NATIVE_FLUSH_H

#include <cstddef>

namespace rpmem {

enum class FlushInstruction { kClwb, kClflushopt, kClflush };

/* SelectedFlushInstruction -- the flush instruction FlushLines uses on this CPU */
FlushInstruction SelectedFlushInstruction();

/* FlushInstructionName -- the name the JS contract uses for an instruction */
const char* FlushInstructionName(FlushInstruction instruction);

/* FlushLines -- starts write-back of every cache line that [addr, addr+length) touches */
void FlushLines(const void* addr, size_t length);

/* StoreFence -- SFENCE: every flush issued before it completes before any store after it */
void StoreFence();

}  // namespace rpmem

#endif
