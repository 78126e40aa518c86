// The libFuzzer entry point (built with clang only).
#include "tokenizer_fuzz.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  return run_tokenizer_fuzz_case(data, size);
}
