// libFuzzer target for the packing of trace blocks (common/trace_pack.cpp). Each input is
// used twice:
// - as records: packing them and unpacking the result must give the input back, byte for
//   byte, whatever the record headers contain;
// - as packed bytes after a two-byte raw size (little-endian): unpacking must stay within
//   its buffers and either fail or fill exactly that many bytes.
// trace_pack_test.cpp checks the same properties on generated and damaged blocks in every
// CTest run. This target searches for inputs those tests do not make.
#include <routeheap/trace_pack.h>

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <vector>

namespace {

[[noreturn]] void fail(const char* what, size_t size) {
    std::fprintf(stderr, "trace packing failed: %s (input of %zu bytes)\n", what, size);
    std::abort();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    using namespace routeheap::trace;

    // Buffers of exactly the needed size, so AddressSanitizer reports any overrun.
    std::vector<uint8_t> packed(packed_bound(size));
    const size_t packed_size = pack_records(data, size, packed.data(), packed.size());
    if (packed_size > packed.size()) fail("packed past the bound", size);
    std::vector<uint8_t> unpacked(size);
    if (!unpack_records(packed.data(), packed_size, unpacked.data(), size)) fail("own output rejected", size);
    if (size > 0 && std::memcmp(unpacked.data(), data, size) != 0) fail("round trip changed bytes", size);

    if (size >= 2) {
        const size_t raw_size = data[0] | (size_t{data[1]} << 8);
        std::vector<uint8_t> out(raw_size);
        unpack_records(data + 2, size - 2, out.data(), raw_size);
    }
    return 0;
}
