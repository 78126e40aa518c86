// V8 perf maps and the names in them: JS functions with their script location, and
// builtins translated to the JavaScript functions they implement.
#include <routeheap/analysis/symbolizer.h>

#include <array>
#include <cctype>
#include <charconv>
#include <fstream>
#include <stdexcept>

namespace routeheap::analysis {

namespace {

bool parse_hex(std::string_view text, uint64_t& value) {
    if (text.starts_with("0x") || text.starts_with("0X")) text.remove_prefix(2);
    const auto [end, error] = std::from_chars(text.data(), text.data() + text.size(), value, 16);
    return error == std::errc() && end == text.data() + text.size() && !text.empty();
}

bool is_digits(std::string_view text) {
    if (text.empty()) return false;
    for (char c : text) {
        if (std::isdigit(static_cast<unsigned char>(c)) == 0) return false;
    }
    return true;
}

// Splits "Json", "Stringify" style words; false when `text` is not plain CamelCase.
bool camel_words(std::string_view text, std::vector<std::string_view>& words) {
    words.clear();
    size_t start = 0;
    for (size_t i = 1; i <= text.size(); ++i) {
        if (i == text.size() || std::isupper(static_cast<unsigned char>(text[i])) != 0) {
            words.push_back(text.substr(start, i - start));
            start = i;
        }
    }
    for (std::string_view word : words) {
        if (std::isupper(static_cast<unsigned char>(word[0])) == 0) return false;
        for (char c : word.substr(1)) {
            if (std::isalnum(static_cast<unsigned char>(c)) == 0) return false;
        }
    }
    return !words.empty();
}

// "IndexOf" -> "indexOf".
std::string method_name(std::string_view camel) {
    std::string name(camel);
    name[0] = static_cast<char>(std::tolower(static_cast<unsigned char>(name[0])));
    return name;
}

struct BuiltinClass {
    std::string_view prefix;  // V8's spelling in builtin names
    std::string_view name;    // the JavaScript name
    // Methods V8 names without "Prototype" that are static on the class; the class's
    // other unprefixed builtins are prototype methods when `others_are_prototype`.
    std::array<std::string_view, 8> statics;
    bool others_are_prototype;
};

constexpr BuiltinClass kBuiltinClasses[] = {
    {"TypedArray", "TypedArray", {"From", "Of"}, false},
    {"ArrayBuffer", "ArrayBuffer", {"IsView"}, false},
    {"Array", "Array", {"From", "Of", "IsArray"}, true},
    {"String", "String", {"FromCharCode", "FromCodePoint", "Raw"}, false},
    {"Json", "JSON", {"Stringify", "Parse"}, false},
    {"Math", "Math", {}, false},
    {"Object", "Object",
     {"Assign", "Create", "Entries", "Keys", "Values", "FromEntries", "DefineProperty", "GetPrototypeOf"},
     false},
    {"Number", "Number", {"IsInteger", "IsFinite", "IsNaN", "IsSafeInteger", "ParseFloat", "ParseInt"}, false},
    {"Promise", "Promise", {"All", "AllSettled", "Any", "Race", "Resolve", "Reject"}, false},
    {"Reflect", "Reflect", {"Apply", "Construct", "Get", "Has", "OwnKeys", "Set"}, false},
    {"Map", "Map", {}, false},
    {"Set", "Set", {}, false},
    {"RegExp", "RegExp", {}, false},
    {"Function", "Function", {}, false},
    {"Date", "Date", {"Now", "Parse", "UTC"}, false},
};

bool contains(const std::array<std::string_view, 8>& list, std::string_view value) {
    for (std::string_view item : list) {
        if (!item.empty() && item == value) return true;
    }
    return false;
}

// "/srv/app/server.js" inside "/srv" -> "app/server.js"; other paths unchanged.
std::string relative_script(std::string_view script, const std::filesystem::path& working_folder) {
    std::string path(script);
    if (path.starts_with("file://")) path.erase(0, 7);
    if (working_folder.empty() || !path.starts_with('/')) return path;
    const std::filesystem::path relative = std::filesystem::path(path).lexically_relative(working_folder);
    if (relative.empty() || *relative.begin() == "..") return path;
    return relative.string();
}

// "server.js:41:20" -> "server.js:41"; text without a line:column suffix is unchanged.
std::string drop_column(const std::string& location) {
    const size_t last = location.rfind(':');
    if (last == std::string::npos || !is_digits(std::string_view(location).substr(last + 1))) return location;
    const size_t line = location.rfind(':', last - 1);
    if (line == std::string::npos || line + 1 >= last || !is_digits(std::string_view(location).substr(line + 1, last - line - 1))) {
        return location;
    }
    return location.substr(0, last);
}

// Splits "handler /srv/server.js:41:20" into the function and the script location. The
// function name may contain spaces ("get size"), so the location starts at the first
// space followed by a path or URL, else at the last space.
void split_js_name(std::string_view text, std::string_view& function, std::string_view& location) {
    size_t split = std::string_view::npos;
    for (size_t i = text.find(' '); i != std::string_view::npos; i = text.find(' ', i + 1)) {
        const std::string_view rest = text.substr(i + 1);
        if (rest.starts_with('/') || rest.starts_with("node:") || rest.starts_with("file:")) {
            split = i;
            break;
        }
    }
    if (split == std::string_view::npos) split = text.rfind(' ');
    if (split == std::string_view::npos) {
        function = text;
        location = {};
        return;
    }
    function = text.substr(0, split);
    location = text.substr(split + 1);
}

}  // namespace

PerfMap PerfMap::read(const std::filesystem::path& path) {
    std::ifstream in(path);
    if (!in) throw std::runtime_error(path.string() + ": failed to open the perf map");
    PerfMap map;
    std::string line;
    while (std::getline(in, line)) {
        const size_t first = line.find(' ');
        const size_t second = first == std::string::npos ? first : line.find(' ', first + 1);
        uint64_t start = 0;
        uint64_t size = 0;
        if (second == std::string::npos || !parse_hex(std::string_view(line).substr(0, first), start) ||
            !parse_hex(std::string_view(line).substr(first + 1, second - first - 1), size) || size == 0) {
            ++map.malformed_lines_;
            continue;
        }
        map.add(start, size, line.substr(second + 1));
    }
    return map;
}

void PerfMap::add(uint64_t start, uint64_t size, std::string name) {
    const uint64_t end = start + size < start ? UINT64_MAX : start + size;
    names_.push_back(std::move(name));
    ++entries_;

    // Cut the older ranges this one overlaps, keeping their parts outside it.
    auto it = ranges_.upper_bound(start);
    if (it != ranges_.begin()) --it;
    while (it != ranges_.end() && it->first < end) {
        const uint64_t old_start = it->first;
        const Range old = it->second;
        if (old.end <= start) {
            ++it;
            continue;
        }
        it = ranges_.erase(it);
        if (old_start < start) ranges_.emplace(old_start, Range{start, old.name});
        if (old.end > end) {
            ranges_.emplace(end, Range{old.end, old.name});
            break;
        }
    }
    ranges_.emplace(start, Range{end, names_.size() - 1});
}

const std::string* PerfMap::find(uint64_t address) const {
    auto it = ranges_.upper_bound(address);
    if (it == ranges_.begin()) return nullptr;
    --it;
    return address < it->second.end ? &names_[it->second.name] : nullptr;
}

std::string builtin_display_name(std::string_view builtin) {
    std::vector<std::string_view> words;
    for (const BuiltinClass& type : kBuiltinClasses) {
        if (!builtin.starts_with(type.prefix)) continue;
        std::string_view rest = builtin.substr(type.prefix.size());
        const bool prototype = rest.starts_with("Prototype");
        if (prototype) rest.remove_prefix(std::string_view("Prototype").size());
        // Only plain method names: "ArrayIteratorPrototypeNext" or "StringAdd_CheckNone"
        // are V8 internals whose JavaScript name is not obvious.
        if (!camel_words(rest, words)) continue;
        bool nested = false;
        for (std::string_view word : words) nested = nested || word == "Prototype" || word == "Iterator";
        if (nested) continue;

        const std::string name(type.name);
        if (prototype) return name + ".prototype." + method_name(rest);
        if (contains(type.statics, rest)) return name + "." + method_name(rest);
        if (type.others_are_prototype) return name + ".prototype." + method_name(rest);
    }
    return std::string(builtin);
}

Frame perf_map_frame(std::string_view name, const std::filesystem::path& working_folder) {
    Frame frame;
    frame.symbolized = true;
    if (name.starts_with("JS:")) {
        std::string_view text = name.substr(3);
        // V8 marks the tier before the name: * optimized, ~ interpreted, ^ baseline, + maglev.
        if (!text.empty() && std::string_view("*~^+").find(text[0]) != std::string_view::npos) text.remove_prefix(1);
        std::string_view function;
        std::string_view location;
        split_js_name(text, function, location);
        frame.kind = FrameKind::Js;
        frame.function = function.empty() ? "(anonymous)" : std::string(function);
        frame.location = drop_column(relative_script(location, working_folder));
        return frame;
    }
    if (name.starts_with("Builtin:")) {
        frame.kind = FrameKind::Builtin;
        frame.function = builtin_display_name(name.substr(8));
        return frame;
    }
    // RegExp code, bytecode handlers, stubs and the like: V8-generated code whose raw
    // name is the best description.
    frame.kind = name.starts_with("RegExp:") ? FrameKind::Jit : FrameKind::Builtin;
    frame.function = std::string(name);
    return frame;
}

}  // namespace routeheap::analysis
