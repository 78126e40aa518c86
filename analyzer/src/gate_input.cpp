// Reading the gate's input files: the request list, the budget and a stored baseline. Every
// error names the file, the line and the field, and shows what a valid value looks like.
#include <routeheap/analysis/gate.h>
#include <routeheap/analysis/routes.h>

#include <fnmatch.h>

#include <algorithm>
#include <cctype>
#include <cmath>
#include <cstdint>
#include <fstream>
#include <set>
#include <sstream>

namespace routeheap::analysis {

namespace {

namespace fs = std::filesystem;
using nlohmann::json;

// A parsed document with its line index, for errors that name a line and a field.
class Document {
public:
    Document(const std::string& text, std::string label)
        : label_(std::move(label)), root_(parse_json_document(text, label_)), lines_(text) {}

    const json& root() const { return root_; }

    [[noreturn]] void fail(const std::string& pointer, const std::string& problem) const {
        throw GateInputError(label_ + ":" + std::to_string(lines_.line_of(pointer)) + ": " + json_field_name(pointer) +
                             ": " + problem);
    }

    size_t line_of(const std::string& pointer) const { return lines_.line_of(pointer); }

    // Rejects members other than `known`, so a misspelt limit cannot pass silently.
    void check_members(const json& object, const std::string& pointer, const std::set<std::string>& known) const {
        for (const auto& [key, value] : object.items()) {
            if (known.contains(key)) continue;
            std::string list;
            for (const std::string& name : known) list += (list.empty() ? "" : ", ") + name;
            fail(pointer + "/" + key, "unknown field; the fields are " + list);
        }
    }

    const json& object_at(const json& value, const std::string& pointer) const {
        if (!value.is_object()) fail(pointer, "expected an object, got " + describe(value));
        return value;
    }

    std::string string_at(const json& value, const std::string& pointer) const {
        if (!value.is_string()) fail(pointer, "expected a string, got " + describe(value));
        return value.get<std::string>();
    }

    int64_t size_at(const json& value, const std::string& pointer) const {
        std::optional<int64_t> bytes;
        if (value.is_number_unsigned() && value.get<uint64_t>() <= uint64_t(INT64_MAX)) bytes = value.get<int64_t>();
        if (value.is_string()) bytes = parse_byte_size(value.get<std::string>());
        if (!bytes) {
            fail(pointer, "invalid size " + value.dump() +
                              "; use a byte count such as 16777216 or a string such as \"16 MiB\" (B, KiB, MiB, GiB, KB, MB, GB)");
        }
        return *bytes;
    }

    static std::string describe(const json& value) {
        const std::string text = value.dump();
        return std::string(value.type_name()) + " " + (text.size() > 40 ? text.substr(0, 37) + "..." : text);
    }

private:
    std::string label_;
    json root_;
    JsonLineIndex lines_;
};

std::string read_file(const fs::path& file, const std::string& what) {
    std::ifstream in(file, std::ios::binary);
    if (!in) throw GateInputError("the " + what + " " + file.string() + " was not found or is not readable; check the path");
    std::ostringstream text;
    text << in.rdbuf();
    return text.str();
}

bool valid_method(const std::string& method) {
    return !method.empty() && std::all_of(method.begin(), method.end(), [](char c) {
        return std::isupper(static_cast<unsigned char>(c)) || c == '-' || c == '_';
    });
}

ReplayRequest parse_request(const Document& document, const json& value, const std::string& pointer,
                            const fs::path& base) {
    document.object_at(value, pointer);
    document.check_members(value, pointer, {"method", "path", "headers", "body_file", "expect_status"});
    ReplayRequest request;
    request.line = document.line_of(pointer);

    if (value.contains("method")) request.method = document.string_at(value["method"], pointer + "/method");
    if (!valid_method(request.method)) {
        document.fail(pointer + "/method", "invalid method \"" + request.method + "\"; use an upper-case HTTP method such as GET or POST");
    }

    if (!value.contains("path")) document.fail(pointer, "missing field path; give the request path such as \"/stream\"");
    request.path = document.string_at(value["path"], pointer + "/path");
    const bool printable = std::all_of(request.path.begin(), request.path.end(),
                                       [](char c) { return c > 0x20 && c < 0x7f; });
    if (!request.path.starts_with("/") || !printable) {
        document.fail(pointer + "/path", "invalid path \"" + request.path +
                                             "\"; it starts with / and has no spaces or control bytes (percent-encode them)");
    }

    if (value.contains("headers")) {
        const json& headers = document.object_at(value["headers"], pointer + "/headers");
        for (const auto& [name, header_value] : headers.items()) {
            const std::string header_pointer = pointer + "/headers/" + name;
            const std::string text = document.string_at(header_value, header_pointer);
            const bool clean = !name.empty() && name.find_first_of(": \r\n") == std::string::npos &&
                               text.find_first_of("\r\n") == std::string::npos;
            if (!clean) document.fail(header_pointer, "invalid header; names have no colon or spaces, values no line breaks");
            request.headers.emplace_back(name, text);
        }
    }

    if (value.contains("body_file")) {
        const std::string name = document.string_at(value["body_file"], pointer + "/body_file");
        request.body_file = fs::path(name).is_absolute() ? fs::path(name) : base / name;
        std::error_code error;
        if (!fs::is_regular_file(request.body_file, error)) {
            document.fail(pointer + "/body_file", "body file " + request.body_file.string() +
                                                      " not found; a relative path starts at the request list's folder");
        }
    }

    if (value.contains("expect_status")) {
        const json& status = value["expect_status"];
        if (!status.is_number_unsigned() || status.get<uint64_t>() < 100 || status.get<uint64_t>() > 599) {
            document.fail(pointer + "/expect_status", "invalid status " + status.dump() + "; use an HTTP status from 100 to 599");
        }
        request.expect_status = status.get<uint16_t>();
    }
    return request;
}

RatioBase parse_ratio_base(const Document& document, const json& value, const std::string& pointer) {
    const std::string name = document.string_at(value, pointer);
    if (name == "response") return RatioBase::Response;
    if (name == "request") return RatioBase::Request;
    if (name == "larger") return RatioBase::Larger;
    document.fail(pointer, "invalid value \"" + name + "\"; use response, request or larger");
}

GateStatistic parse_statistic(const Document& document, const json& value, const std::string& pointer) {
    const std::string name = document.string_at(value, pointer);
    if (name == "p50") return GateStatistic::P50;
    if (name == "p95") return GateStatistic::P95;
    if (name == "max") return GateStatistic::Max;
    document.fail(pointer, "invalid value \"" + name + "\"; use p50, p95 or max");
}

// Sets the fields present in `value` on `budget`, keeping the others (the default's). A
// limit set to null removes the one the default entry gave.
void parse_limits(const Document& document, const json& value, const std::string& pointer, RouteBudget& budget) {
    for (const auto& [name, limit] : {std::pair{"max_peak_growth", &budget.max_peak_growth_bytes},
                                      std::pair{"max_retained_growth", &budget.max_retained_growth_bytes}}) {
        if (value.contains(name) && value[name].is_null()) limit->reset();
    }
    if (value.contains("max_peak_growth_ratio") && value["max_peak_growth_ratio"].is_null()) {
        budget.max_peak_growth_ratio.reset();
    }
    if (value.contains("max_peak_growth") && !value["max_peak_growth"].is_null()) {
        budget.max_peak_growth_bytes = document.size_at(value["max_peak_growth"], pointer + "/max_peak_growth");
    }
    if (value.contains("max_peak_growth_ratio") && !value["max_peak_growth_ratio"].is_null()) {
        const json& ratio = value["max_peak_growth_ratio"];
        if (!ratio.is_number() || !(ratio.get<double>() >= 0) || !std::isfinite(ratio.get<double>())) {
            document.fail(pointer + "/max_peak_growth_ratio",
                          "invalid ratio " + ratio.dump() + "; use a number such as 0.5 (peak growth / body size)");
        }
        budget.max_peak_growth_ratio = ratio.get<double>();
    }
    if (value.contains("ratio_of")) budget.ratio_of = parse_ratio_base(document, value["ratio_of"], pointer + "/ratio_of");
    if (value.contains("max_retained_growth") && !value["max_retained_growth"].is_null()) {
        budget.max_retained_growth_bytes = document.size_at(value["max_retained_growth"], pointer + "/max_retained_growth");
    }
    if (value.contains("statistic")) budget.statistic = parse_statistic(document, value["statistic"], pointer + "/statistic");
    if (value.contains("fail_on_findings")) {
        const std::string list_pointer = pointer + "/fail_on_findings";
        const json& kinds = value["fail_on_findings"];
        if (!kinds.is_array()) document.fail(list_pointer, "expected an array of finding kinds, got " + Document::describe(kinds));
        budget.failing_findings.clear();
        for (size_t i = 0; i < kinds.size(); ++i) {
            const std::string kind = document.string_at(kinds[i], list_pointer + "/" + std::to_string(i));
            const bool valid = !kind.empty() && std::all_of(kind.begin(), kind.end(), [](char c) {
                return std::islower(static_cast<unsigned char>(c)) || c == '-';
            });
            if (!valid) {
                document.fail(list_pointer + "/" + std::to_string(i),
                              "invalid finding kind \"" + kind + "\"; kinds are lower case with dashes, such as buffered-response");
            }
            budget.failing_findings.push_back(kind);
        }
    }
}

const std::set<std::string> kLimitFields = {"max_peak_growth", "max_peak_growth_ratio", "ratio_of",
                                             "max_retained_growth", "fail_on_findings", "statistic"};

void parse_pattern(const Document& document, const std::string& pattern, const std::string& pointer, RouteBudget& budget) {
    budget.pattern = pattern;
    const size_t space = pattern.find(' ');
    budget.method = space == std::string::npos ? "" : pattern.substr(0, space);
    budget.route_glob = space == std::string::npos ? pattern : pattern.substr(space + 1);
    if (!budget.method.empty() && !valid_method(budget.method)) {
        document.fail(pointer, "invalid method \"" + budget.method + "\" in \"" + pattern +
                                   "\"; write \"POST /path\" or \"/path\" for any method");
    }
    if (!budget.route_glob.starts_with("/") && !budget.route_glob.starts_with("*")) {
        document.fail(pointer, "invalid route \"" + pattern +
                                   "\"; write \"POST /path\", \"/path\" (any method) or a glob such as \"/api/*\"");
    }
}

}  // namespace

std::string ReplayRequest::label() const {
    return method + " " + path.substr(0, path.find('?'));
}

std::vector<ReplayRequest> parse_request_list(const std::string& text, const fs::path& file) {
    const Document document(text, file.filename().string());
    const json& root = document.root();
    std::string pointer;
    const json* list = &root;
    if (root.is_object()) {
        document.check_members(root, "", {"requests"});
        if (!root.contains("requests")) document.fail("", "missing field requests; give an array of requests");
        pointer = "/requests";
        list = &root["requests"];
    }
    if (!list->is_array()) document.fail(pointer, "expected an array of requests, got " + Document::describe(*list));
    if (list->empty()) document.fail(pointer, "the request list is empty; add at least one request");

    std::vector<ReplayRequest> requests;
    const fs::path base = file.parent_path().empty() ? fs::path(".") : file.parent_path();
    for (size_t i = 0; i < list->size(); ++i) {
        requests.push_back(parse_request(document, (*list)[i], pointer + "/" + std::to_string(i), base));
    }
    return requests;
}

std::vector<ReplayRequest> load_request_list(const fs::path& file) {
    return parse_request_list(read_file(file, "request list"), file);
}

bool RouteBudget::matches(std::string_view request_method, std::string_view route) const {
    if (!method.empty() && method != request_method) return false;
    return ::fnmatch(route_glob.c_str(), std::string(route).c_str(), 0) == 0;
}

const RouteBudget* Budget::find(std::string_view method, std::string_view route) const {
    for (const RouteBudget& entry : routes) {
        if (entry.matches(method, route)) return &entry;
    }
    return fallback ? &*fallback : nullptr;
}

Budget parse_budget(const std::string& text, const std::string& file_label) {
    const Document document(text, file_label);
    const json& root = document.object_at(document.root(), "");
    document.check_members(root, "", {"default", "routes"});

    Budget budget;
    budget.file_label = file_label;
    RouteBudget defaults;
    defaults.pattern = "default";
    defaults.route_glob = "*";
    if (root.contains("default")) {
        document.object_at(root["default"], "/default");
        document.check_members(root["default"], "/default", kLimitFields);
        parse_limits(document, root["default"], "/default", defaults);
        defaults.line = document.line_of("/default");
        budget.fallback = defaults;
    }

    if (root.contains("routes")) {
        const json& routes = root["routes"];
        if (!routes.is_array()) document.fail("/routes", "expected an array of route budgets, got " + Document::describe(routes));
        for (size_t i = 0; i < routes.size(); ++i) {
            const std::string pointer = "/routes/" + std::to_string(i);
            document.object_at(routes[i], pointer);
            std::set<std::string> known = kLimitFields;
            known.insert("route");
            document.check_members(routes[i], pointer, known);
            if (!routes[i].contains("route")) {
                document.fail(pointer, "missing field route; give \"METHOD /path\" or \"/path\", globs allowed");
            }
            RouteBudget entry = defaults;
            parse_pattern(document, document.string_at(routes[i]["route"], pointer + "/route"), pointer + "/route", entry);
            parse_limits(document, routes[i], pointer, entry);
            entry.line = document.line_of(pointer);
            budget.routes.push_back(std::move(entry));
        }
    }
    if (!budget.fallback && budget.routes.empty()) {
        document.fail("", "the budget sets no limits; add a \"default\" entry or a \"routes\" array");
    }
    return budget;
}

Budget load_budget(const fs::path& file) {
    return parse_budget(read_file(file, "budget"), file.filename().string());
}

const BaselineRoute* Baseline::find(std::string_view method, std::string_view route) const {
    for (const BaselineRoute& entry : routes) {
        if (entry.method == method && entry.route == route) return &entry;
    }
    return nullptr;
}

Baseline parse_baseline(const std::string& text, const std::string& file_label) {
    const Document document(text, file_label);
    const json& root = document.object_at(document.root(), "");
    if (!root.contains("schema") || root["schema"] != kGateBaselineSchema) {
        document.fail("/schema", std::string("not a gate baseline; expected schema \"") + kGateBaselineSchema +
                                     "\" as written by routeheap gate --write-baseline");
    }
    if (!root.contains("routes") || !root["routes"].is_array()) document.fail("/routes", "missing the routes array");

    Baseline baseline;
    const json& routes = root["routes"];
    for (size_t i = 0; i < routes.size(); ++i) {
        const std::string pointer = "/routes/" + std::to_string(i);
        const json& entry = document.object_at(routes[i], pointer);
        BaselineRoute route;
        route.method = document.string_at(entry.value("method", json()), pointer + "/method");
        route.route = document.string_at(entry.value("route", json()), pointer + "/route");
        const auto integer = [&](const char* name) -> int64_t {
            const json& value = entry.value(name, json());
            if (!value.is_number_integer()) document.fail(pointer + "/" + name, "expected an integer byte count, got " + Document::describe(value));
            return value.get<int64_t>();
        };
        route.requests = static_cast<uint32_t>(integer("requests"));
        route.peak_growth_p50 = integer("peak_growth_p50");
        route.peak_growth_p95 = integer("peak_growth_p95");
        route.peak_growth_max = integer("peak_growth_max");
        baseline.routes.push_back(std::move(route));
    }
    return baseline;
}

Baseline load_baseline(const fs::path& file) {
    return parse_baseline(read_file(file, "baseline"), file.filename().string());
}

}  // namespace routeheap::analysis
