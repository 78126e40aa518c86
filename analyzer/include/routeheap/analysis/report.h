// Report rendering: text, JSON (schema routeheap.report/1) and markdown, and the one
// line per request that `routeheap record` prints while the server runs.
#pragma once

#include <routeheap/analysis/analysis.h>

#include <nlohmann/json.hpp>

#include <optional>
#include <string>
#include <string_view>

namespace routeheap::analysis {

inline constexpr const char* kReportSchema = "routeheap.report/1";

enum class ReportFormat { Text, Json, Markdown };
std::optional<ReportFormat> parse_report_format(std::string_view name);

struct ReportOptions {
    // Frames printed per allocation site (`routeheap report --stacks N`), innermost first.
    size_t stack_depth = 5;
};

std::string render_text(const SessionAnalysis& analysis, const ReportOptions& options = {});
std::string render_markdown(const SessionAnalysis& analysis, const ReportOptions& options = {});
nlohmann::json render_json(const SessionAnalysis& analysis, const ReportOptions& options = {});
std::string render_report(const SessionAnalysis& analysis, ReportFormat format, const ReportOptions& options = {});

// "42% 120 MiB (estimate)  handler server.js:41 < JSON.stringify < ...": one allocation
// site with at most `depth` frames, innermost first. When the stack has a JS frame of
// the application (outside node: modules and node_modules) below those frames, the line
// names it first: "80% 188 MiB  at handler server.js:41  via node::StreamBase::Writev < ...".
std::string format_site_line(const AllocationSite& site, size_t depth);

// "POST /buffered 200  in 24.1 MiB  out 61.3 MiB  peak +412 MiB (6.7x response)  BUFFERED RESPONSE"
std::string format_request_line(const Request& request);

// Byte counts in IEC units: "512 B", "24.1 KiB", "412 MiB", "1.2 GiB". One decimal
// below 100 of a unit, none above.
std::string format_bytes(int64_t bytes);

// An evidence value in its unit ("412 MiB", "6.7x", "92%", "1234 ms", "130").
std::string format_evidence_value(const EvidenceItem& item);

// "1 request", "3 requests": the count with the singular or plural noun.
std::string count_of(uint64_t count, std::string_view singular, std::string_view plural);

// An evidence name as words: "peak_growth_heap_bytes" -> "peak growth heap".
std::string evidence_label(const std::string& name);

}  // namespace routeheap::analysis
