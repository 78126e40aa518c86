// The fuzz entry point shared by the libFuzzer target and the deterministic CTest run.
#pragma once

#include <cstddef>
#include <cstdint>

// Converts the input with the scalar engine and every SIMD engine this CPU has, in chunks chosen
// by the input's first bytes, and aborts when outputs or errors differ or the output is not JSON.
int run_tokenizer_fuzz_case(const std::uint8_t* data, std::size_t size);
