// The contract between a fuzz target and its two drivers: libFuzzer (clang) calls
// LLVMFuzzerTestOneInput; fuzz_driver.cc (any compiler) also asks the target for seed inputs.
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size);

namespace holdfast::fuzz {

// A few valid inputs built in code; fuzz_driver mutates them, and `--write-corpus` writes them
// as the committed libFuzzer seed corpus (tests/fuzz/corpus/<target>/).
std::vector<std::string> seeds();

}  // namespace holdfast::fuzz

// A fuzz property that must hold for every input: report and abort (libFuzzer saves the input).
#define FUZZ_CHECK(cond)                                                               \
  do {                                                                                 \
    if (!(cond)) {                                                                     \
      std::fprintf(stderr, "FUZZ_CHECK failed at %s:%d: %s\n", __FILE__, __LINE__, #cond); \
      std::abort();                                                                    \
    }                                                                                  \
  } while (0)
