// JSON helpers of the gate's input files: line numbers for values found invalid after
// parsing, syntax errors with line and column, byte sizes and tolerances.
#include <routeheap/analysis/gate.h>

#include <algorithm>
#include <cctype>
#include <charconv>
#include <cmath>

namespace routeheap::analysis {

namespace {

struct Container {
    bool object = false;
    std::string pointer;
    std::string key;  // the current member's key, unescaped only for \" and \\ pairs
    size_t index = 0;
    bool expecting_key = true;
};

std::string child_pointer(const std::vector<Container>& stack) {
    if (stack.empty()) return "";
    const Container& top = stack.back();
    return top.pointer + "/" + (top.object ? top.key : std::to_string(top.index));
}

// Returns the position of the closing quote of the string that opens at `start`.
size_t string_end(std::string_view text, size_t start, std::string& content) {
    content.clear();
    size_t i = start + 1;
    while (i < text.size() && text[i] != '"') {
        if (text[i] == '\\' && i + 1 < text.size()) ++i;
        content += text[i];
        ++i;
    }
    return i;
}

std::pair<size_t, size_t> line_and_column(std::string_view text, size_t offset) {
    size_t line = 1;
    size_t column = 1;
    for (size_t i = 0; i < std::min(offset, text.size()); ++i) {
        if (text[i] == '\n') {
            ++line;
            column = 1;
        } else {
            ++column;
        }
    }
    return {line, column};
}

}  // namespace

JsonLineIndex::JsonLineIndex(std::string_view text) {
    // The text already parsed, so this scanner only tracks nesting, keys and lines.
    std::vector<Container> stack;
    size_t line = 1;
    std::string content;
    for (size_t i = 0; i < text.size(); ++i) {
        const char c = text[i];
        if (c == '\n') {
            ++line;
        } else if (c == '"') {
            const size_t start_line = line;
            const size_t end = string_end(text, i, content);
            line += static_cast<size_t>(std::count(text.begin() + i, text.begin() + std::min(end, text.size()), '\n'));
            i = end;
            if (!stack.empty() && stack.back().object && stack.back().expecting_key) {
                stack.back().key = content;
                stack.back().expecting_key = false;
            } else {
                lines_.emplace(child_pointer(stack), start_line);
            }
        } else if (c == '{' || c == '[') {
            const std::string pointer = child_pointer(stack);
            lines_.emplace(pointer, line);
            stack.push_back(Container{c == '{', pointer, "", 0, true});
        } else if (c == '}' || c == ']') {
            if (!stack.empty()) stack.pop_back();
        } else if (c == ',') {
            if (!stack.empty()) {
                if (stack.back().object) {
                    stack.back().expecting_key = true;
                } else {
                    ++stack.back().index;
                }
            }
        } else if (c != ':' && !std::isspace(static_cast<unsigned char>(c))) {
            // A number or a literal: record its start and skip to its end.
            lines_.emplace(child_pointer(stack), line);
            while (i + 1 < text.size() && std::string_view(",]} \t\r\n").find(text[i + 1]) == std::string_view::npos) ++i;
        }
    }
}

size_t JsonLineIndex::line_of(const std::string& pointer) const {
    std::string current = pointer;
    while (true) {
        const auto found = lines_.find(current);
        if (found != lines_.end()) return found->second;
        if (current.empty()) return 1;
        current.erase(current.rfind('/'));
    }
}

nlohmann::json parse_json_document(const std::string& text, const std::string& file_label) {
    try {
        return nlohmann::json::parse(text);
    } catch (const nlohmann::json::parse_error& error) {
        // nlohmann's byte position is one past the offending character (1-based).
        const size_t offset = error.byte > 0 ? error.byte - 1 : 0;
        const auto [line, column] = line_and_column(text, offset);
        std::string detail = error.what();
        const size_t colon = detail.find(": ", detail.find("parse error"));
        if (colon != std::string::npos) detail = detail.substr(colon + 2);
        throw GateInputError(file_label + ":" + std::to_string(line) + ":" + std::to_string(column) +
                             ": invalid JSON: " + detail);
    }
}

std::string json_field_name(const std::string& pointer) {
    std::string name;
    size_t start = 1;
    while (start <= pointer.size() && !pointer.empty()) {
        const size_t end = std::min(pointer.find('/', start), pointer.size());
        const std::string part = pointer.substr(start, end - start);
        const bool index = !part.empty() && std::all_of(part.begin(), part.end(), [](char c) { return std::isdigit(static_cast<unsigned char>(c)); });
        if (index) {
            name += "[" + part + "]";
        } else {
            name += (name.empty() ? "" : ".") + part;
        }
        start = end + 1;
    }
    return name.empty() ? "(document)" : name;
}

std::optional<int64_t> parse_byte_size(std::string_view text) {
    while (!text.empty() && std::isspace(static_cast<unsigned char>(text.front()))) text.remove_prefix(1);
    while (!text.empty() && std::isspace(static_cast<unsigned char>(text.back()))) text.remove_suffix(1);
    double number = 0;
    const auto [end, error] = std::from_chars(text.data(), text.data() + text.size(), number);
    if (error != std::errc() || end == text.data() || !(number >= 0)) return std::nullopt;

    std::string unit(end, text.data() + text.size());
    unit.erase(std::remove_if(unit.begin(), unit.end(), [](char c) { return std::isspace(static_cast<unsigned char>(c)); }),
               unit.end());
    static const std::pair<const char*, double> kUnits[] = {
        {"", 1},           {"B", 1},           {"KiB", 1024.0},     {"MiB", 1024.0 * 1024},
        {"GiB", 1024.0 * 1024 * 1024},         {"KB", 1e3},         {"kB", 1e3},
        {"MB", 1e6},       {"GB", 1e9},
    };
    for (const auto& [name, factor] : kUnits) {
        if (unit != name) continue;
        const double bytes = std::round(number * factor);
        if (bytes > 9.0e18) return std::nullopt;
        return static_cast<int64_t>(bytes);
    }
    return std::nullopt;
}

std::optional<double> parse_tolerance(std::string_view text) {
    if (!text.empty() && text.back() == '%') text.remove_suffix(1);
    double percent = 0;
    const auto [end, error] = std::from_chars(text.data(), text.data() + text.size(), percent);
    if (error != std::errc() || end != text.data() + text.size() || text.empty() || !(percent >= 0) ||
        !std::isfinite(percent)) {
        return std::nullopt;
    }
    return percent / 100.0;
}

}  // namespace routeheap::analysis
