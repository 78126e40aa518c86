// Parsing of the ROUTEHEAP_* environment variables.
#include "options.h"

#include "agent_log.h"

#include <cstdlib>
#include <cstring>

namespace routeheap::agent {

namespace {

Options g_options;

struct Range {
    uint64_t min;
    uint64_t max;
};

// Parses a decimal integer in [range.min, range.max]; false on anything else.
bool parse_unsigned(const char* text, Range range, uint64_t& value) {
    if (text == nullptr || *text == '\0') return false;
    uint64_t result = 0;
    for (const char* c = text; *c != '\0'; ++c) {
        if (*c < '0' || *c > '9') return false;
        if (result > (UINT64_MAX - 9) / 10) return false;
        result = result * 10 + static_cast<uint64_t>(*c - '0');
    }
    if (result < range.min || result > range.max) return false;
    value = result;
    return true;
}

void report_invalid(const char* name, const char* value, uint64_t fallback, Range range) {
    static LogSite site;
    LogLine line;
    line.add("invalid ").add(name).add("=\"").add(value).add("\": expected an integer from ");
    line.add_unsigned(range.min).add(" to ").add_unsigned(range.max).add("; using the default ");
    line.add_unsigned(fallback);
    log_once(site, line);
}

template <typename Field>
void read_number(const char* name, Range range, Field& field) {
    const char* text = getenv(name);
    if (text == nullptr) return;
    uint64_t value = 0;
    if (parse_unsigned(text, range, value)) {
        field = static_cast<Field>(value);
    } else {
        report_invalid(name, text, field, range);
    }
}

bool read_flag(const char* name) {
    const char* text = getenv(name);
    if (text == nullptr || *text == '\0') return false;
    if (std::strcmp(text, "0") == 0) return false;
    if (std::strcmp(text, "1") != 0) {
        static LogSite site;
        LogLine line;
        line.add("invalid ").add(name).add("=\"").add(text).add("\": expected 0 or 1; treating it as 1");
        log_once(site, line);
    }
    return true;
}

}  // namespace

const Options& options() { return g_options; }

void load_options() {
    // Quiet first, so that it applies to the messages about the other variables.
    g_options.quiet = read_flag("ROUTEHEAP_QUIET");
    g_options.disable = read_flag("ROUTEHEAP_DISABLE");

    const char* dir = getenv("ROUTEHEAP_OUTPUT_DIR");
    g_options.output_dir = (dir != nullptr && *dir != '\0') ? dir : nullptr;

    read_number("ROUTEHEAP_SAMPLE_MS", {1, 60000}, g_options.sample_ms);
    read_number("ROUTEHEAP_IDLE_SAMPLE_MS", {1, 3600000}, g_options.idle_sample_ms);
    read_number("ROUTEHEAP_FLUSH_MS", {1, 60000}, g_options.flush_ms);
    read_number("ROUTEHEAP_BUFFER_KB", {16, 1u << 20}, g_options.buffer_kb);
    read_number("ROUTEHEAP_MAX_LIVE_BLOCKS", {1024, uint64_t{1} << 32}, g_options.max_live_blocks);
    read_number("ROUTEHEAP_SAMPLE_BYTES", {1, uint64_t{1} << 40}, g_options.sample_bytes);
    read_number("ROUTEHEAP_ALWAYS_BYTES", {1, uint64_t{1} << 62}, g_options.always_bytes);
    read_number("ROUTEHEAP_MAX_FRAMES", {1, 256}, g_options.max_frames);
    read_number("ROUTEHEAP_MAX_STACKS", {1024, uint64_t{1} << 24}, g_options.max_stacks);
}

}  // namespace routeheap::agent
