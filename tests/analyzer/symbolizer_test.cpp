// Symbolization: perf map parsing and names, demangling, builtin names, and ELF/DWARF
// lookups on a real shared library built with the tests.
#include "trace_builder.h"

#include <routeheap/analysis/site_builder.h>
#include <routeheap/analysis/symbolizer.h>

#include <gtest/gtest.h>

#include <dlfcn.h>
#include <link.h>

#include <fstream>

namespace routeheap::testing {
namespace {

using namespace routeheap::analysis;

std::filesystem::path write_text(const std::filesystem::path& path, const std::string& text) {
    std::ofstream out(path, std::ios::trunc);
    out << text;
    return path;
}

TEST(PerfMap, LatestEntryWins) {
    PerfMap map;
    map.add(0x1000, 0x100, "JS:*old /app/a.js:1:1");
    map.add(0x1080, 0x100, "JS:*new /app/b.js:2:1");
    ASSERT_NE(map.find(0x1000), nullptr);
    EXPECT_EQ(*map.find(0x1000), "JS:*old /app/a.js:1:1");
    EXPECT_EQ(*map.find(0x107f), "JS:*old /app/a.js:1:1");
    EXPECT_EQ(*map.find(0x1080), "JS:*new /app/b.js:2:1");
    EXPECT_EQ(*map.find(0x117f), "JS:*new /app/b.js:2:1");
    EXPECT_EQ(map.find(0x1180), nullptr);
    EXPECT_EQ(map.find(0xfff), nullptr);
}

TEST(PerfMap, InnerReuseSplitsOlderEntry) {
    PerfMap map;
    map.add(0x1000, 0x300, "Builtin:Outer");
    map.add(0x1100, 0x10, "JS:~inner /app/c.js:3:1");
    EXPECT_EQ(*map.find(0x10ff), "Builtin:Outer");
    EXPECT_EQ(*map.find(0x1100), "JS:~inner /app/c.js:3:1");
    EXPECT_EQ(*map.find(0x1110), "Builtin:Outer");
    EXPECT_EQ(*map.find(0x12ff), "Builtin:Outer");
}

TEST(PerfMap, ReadsFileAndSkipsMalformedLines) {
    const auto folder = fresh_folder("symbolizer");
    const auto path = write_text(folder / "perf-1.map",
                                 "3a00 40 JS:*handler /srv/app/server.js:41:20\n"
                                 "not a line\n"
                                 "3a00 20 JS:*get size /srv/app/rows.js:7:3\n"
                                 "3b00 zz JS:*bad /srv/app/x.js:1:1\n"
                                 "3c00 10 Builtin:JsonStri");  // cut off mid-write
    const PerfMap map = PerfMap::read(path);
    EXPECT_EQ(map.entries(), 3u);
    EXPECT_EQ(map.malformed_lines(), 2u);
    EXPECT_EQ(*map.find(0x3a10), "JS:*get size /srv/app/rows.js:7:3");
    EXPECT_EQ(*map.find(0x3a30), "JS:*handler /srv/app/server.js:41:20");
    EXPECT_EQ(*map.find(0x3c00), "Builtin:JsonStri");
}

TEST(PerfMap, MissingFileThrows) {
    EXPECT_THROW(PerfMap::read("/nonexistent/perf-1.map"), std::runtime_error);
}

TEST(PerfMapFrame, JsFunctionRelativeToWorkingFolder) {
    const Frame frame = perf_map_frame("JS:*handler /work/main/samples/node-routes/server.js:41:20", "/work/main");
    EXPECT_EQ(frame.kind, FrameKind::Js);
    EXPECT_EQ(frame.function, "handler");
    EXPECT_EQ(frame.location, "samples/node-routes/server.js:41");
    EXPECT_EQ(frame.label(), "handler samples/node-routes/server.js:41");
}

TEST(PerfMapFrame, JsOutsideWorkingFolderKeepsPath) {
    const Frame frame = perf_map_frame("JS:~parse /opt/lib/csv.js:10:2", "/work/main");
    EXPECT_EQ(frame.location, "/opt/lib/csv.js:10");
    const Frame internal = perf_map_frame("JS:*concat node:buffer:583:34", "/work/main");
    EXPECT_EQ(internal.label(), "concat node:buffer:583");
    const Frame url = perf_map_frame("JS:^load file:///work/main/app.mjs:3:1", "/work/main");
    EXPECT_EQ(url.location, "app.mjs:3");
}

TEST(PerfMapFrame, AnonymousAndSpacedNames) {
    EXPECT_EQ(perf_map_frame("JS:~ /srv/a.js:5:9", "").label(), "(anonymous) /srv/a.js:5");
    EXPECT_EQ(perf_map_frame("JS:*get size /srv/a.js:7:3", "").function, "get size");
}

TEST(PerfMapFrame, BuiltinsAndOtherCode) {
    const Frame builtin = perf_map_frame("Builtin:JsonStringify", "");
    EXPECT_EQ(builtin.kind, FrameKind::Builtin);
    EXPECT_EQ(builtin.label(), "JSON.stringify");
    const Frame handler = perf_map_frame("BytecodeHandler:Ldar", "");
    EXPECT_EQ(handler.kind, FrameKind::Builtin);
    EXPECT_EQ(handler.function, "BytecodeHandler:Ldar");
    EXPECT_EQ(perf_map_frame("RegExp:[a-z]+", "").kind, FrameKind::Jit);
}

TEST(BuiltinName, ObviousMappings) {
    EXPECT_EQ(builtin_display_name("JsonStringify"), "JSON.stringify");
    EXPECT_EQ(builtin_display_name("JsonParse"), "JSON.parse");
    EXPECT_EQ(builtin_display_name("ArrayPrototypePush"), "Array.prototype.push");
    EXPECT_EQ(builtin_display_name("StringPrototypeIndexOf"), "String.prototype.indexOf");
    EXPECT_EQ(builtin_display_name("TypedArrayPrototypeSet"), "TypedArray.prototype.set");
    EXPECT_EQ(builtin_display_name("ArrayMap"), "Array.prototype.map");
    EXPECT_EQ(builtin_display_name("ArrayFrom"), "Array.from");
    EXPECT_EQ(builtin_display_name("ObjectKeys"), "Object.keys");
}

TEST(BuiltinName, InternalsKeepRawName) {
    EXPECT_EQ(builtin_display_name("StringAdd_CheckNone"), "StringAdd_CheckNone");
    EXPECT_EQ(builtin_display_name("ArrayIteratorPrototypeNext"), "ArrayIteratorPrototypeNext");
    EXPECT_EQ(builtin_display_name("InterpreterEntryTrampoline"), "InterpreterEntryTrampoline");
    EXPECT_EQ(builtin_display_name("StringFastLocaleCompare"), "StringFastLocaleCompare");
}

TEST(Demangle, NodeSymbol) {
    const std::string demangled = demangle("_ZN4node10StreamBase6WritevERKN2v820FunctionCallbackInfoINS1_5ValueEEE");
    EXPECT_EQ(demangled, "node::StreamBase::Writev(v8::FunctionCallbackInfo<v8::Value> const&)");
    EXPECT_EQ(function_name(demangled), "node::StreamBase::Writev");
}

TEST(Demangle, PlainAndSpecialNames) {
    EXPECT_EQ(demangle("malloc"), "malloc");
    EXPECT_EQ(function_name(demangle("_Znwm")), "operator new");
    EXPECT_EQ(function_name(demangle("_Znam")), "operator new[]");
    EXPECT_EQ(function_name("Foo::operator()(int) const"), "Foo::operator()");
    EXPECT_EQ(function_name("foo(int) [clone .cold]"), "foo");
    EXPECT_EQ(function_name("void node::StreamBase::JSMethod<&node::StreamBase::Writev>(v8::FunctionCallbackInfo<v8::Value> const&)"),
              "node::StreamBase::JSMethod<&node::StreamBase::Writev>");
    EXPECT_EQ(function_name("node::(anonymous namespace)::Parser::on_body(char const*, unsigned long)"),
              "node::(anonymous namespace)::Parser::on_body");
    EXPECT_EQ(function_name("Foo::operator new(unsigned long)"), "Foo::operator new");
}

// The fixture library loaded into this process, described as the agent would.
struct LoadedFixture {
    LoadedModule module;
    uint64_t return_address = 0;
    int line = 0;
};

LoadedFixture load_fixture() {
    void* handle = ::dlopen(ROUTEHEAP_SYMBOL_FIXTURE, RTLD_NOW);
    if (handle == nullptr) throw std::runtime_error(std::string("dlopen failed: ") + ::dlerror());
    using Collect = void* (*)(int*);
    auto collect = reinterpret_cast<Collect>(::dlsym(handle, "routeheap_fixture_collect"));
    if (collect == nullptr) throw std::runtime_error("routeheap_fixture_collect not found");

    LoadedFixture fixture;
    fixture.return_address = reinterpret_cast<uint64_t>(collect(&fixture.line));
    Dl_info info{};
    link_map* map = nullptr;
    if (::dladdr1(reinterpret_cast<void*>(collect), &info, reinterpret_cast<void**>(&map), RTLD_DL_LINKMAP) == 0) {
        throw std::runtime_error("dladdr1 failed");
    }
    fixture.module.path = ROUTEHEAP_SYMBOL_FIXTURE;
    fixture.module.load_bias = map->l_addr;
    fixture.module.start = reinterpret_cast<uint64_t>(info.dli_fbase);
    fixture.module.end = fixture.return_address + 0x10000;
    return fixture;
}

TEST(Symbolizer, RealLibraryFunctionAndLine) {
    const LoadedFixture fixture = load_fixture();
    Symbolizer symbolizer;
    const Frame frame = symbolizer.symbolize(fixture.return_address, &fixture.module, nullptr);
    EXPECT_TRUE(frame.symbolized);
    EXPECT_EQ(frame.kind, FrameKind::Native);
    EXPECT_EQ(frame.function, "routeheap_fixture::Rows::collect");
    EXPECT_TRUE(frame.location.ends_with("symbol_fixture.cpp:" + std::to_string(fixture.line))) << frame.location;
    EXPECT_EQ(symbolizer.counts().unknown_frames, 0u);
}

TEST(Symbolizer, MissingModuleShowsOffset) {
    LoadedModule module;
    module.path = "/nonexistent/libgone.so";
    module.load_bias = 0x7f0000000000;
    module.start = module.load_bias;
    module.end = module.load_bias + 0x10000;
    Symbolizer symbolizer;
    const Frame frame = symbolizer.symbolize(module.load_bias + 0x1234, &module, nullptr);
    EXPECT_FALSE(frame.symbolized);
    EXPECT_EQ(frame.label(), "[libgone.so+0x1234]");
    EXPECT_EQ(symbolizer.counts().unknown_frames, 1u);
    ASSERT_EQ(symbolizer.counts().unreadable_modules.size(), 1u);
    EXPECT_NE(symbolizer.counts().unreadable_modules[0].find("/nonexistent/libgone.so"), std::string::npos);
    EXPECT_NE(symbolizer.counts().unreadable_modules[0].find("no longer exists"), std::string::npos)
        << symbolizer.counts().unreadable_modules[0];
}

TEST(Symbolizer, ReplacedModuleShowsOffset) {
    LoadedFixture fixture = load_fixture();
    fixture.module.build_id = std::string(20, '\x5a');  // not the file's build-id
    Symbolizer symbolizer;
    const Frame frame = symbolizer.symbolize(fixture.return_address, &fixture.module, nullptr);
    EXPECT_FALSE(frame.symbolized);
    EXPECT_TRUE(frame.label().starts_with("[librouteheap_symbol_fixture.so+0x")) << frame.label();
    ASSERT_EQ(symbolizer.counts().unreadable_modules.size(), 1u);
    EXPECT_NE(symbolizer.counts().unreadable_modules[0].find("build-id"), std::string::npos);
}

TEST(Symbolizer, UnknownAddressIsJit) {
    PerfMap map;
    map.add(0x5000, 0x100, "JS:*handler /srv/server.js:41:20");
    Symbolizer symbolizer("/srv");
    const Frame js = symbolizer.symbolize(0x5010, nullptr, &map);
    EXPECT_EQ(js.label(), "handler server.js:41");
    const Frame unknown = symbolizer.symbolize(0x9000, nullptr, &map);
    EXPECT_EQ(unknown.kind, FrameKind::Jit);
    EXPECT_EQ(unknown.label(), "[jit 0x9000]");
    EXPECT_EQ(symbolizer.counts().unknown_frames, 1u);
}

TEST(Symbolizer, ReturnAddressLooksUpPreviousByte) {
    // A call as the last instruction of a function returns to the first byte after it.
    PerfMap map;
    map.add(0x5000, 0x100, "JS:*caller /srv/a.js:1:1");
    map.add(0x5100, 0x100, "JS:*next /srv/b.js:1:1");
    Symbolizer symbolizer;
    EXPECT_EQ(symbolizer.symbolize(0x5100, nullptr, &map).function, "caller");
}

TEST(AllocatorFrames, AgentAndWrappersAreAllocator) {
    Frame agent;
    agent.module = "/usr/lib/librouteheap.so";
    agent.function = "routeheap_malloc_hook";
    EXPECT_TRUE(is_allocator_frame(agent));
    Frame new_frame;
    new_frame.function = "operator new";
    EXPECT_TRUE(is_allocator_frame(new_frame));
    Frame node_malloc;
    node_malloc.function = "node::UncheckedMalloc<char>";
    EXPECT_TRUE(is_allocator_frame(node_malloc));
    Frame backing_store;
    backing_store.function = "v8::internal::Heap::AllocateExternalBackingStore";
    EXPECT_TRUE(is_allocator_frame(backing_store));
    Frame page;
    page.function = "v8::internal::MemoryAllocator::AllocateLargePage";
    EXPECT_TRUE(is_allocator_frame(page));
    Frame large_space;
    large_space.function = "v8::internal::NewLargeObjectSpace::AllocateRaw";
    EXPECT_FALSE(is_allocator_frame(large_space));
    Frame writev;
    writev.function = "node::StreamBase::Writev";
    EXPECT_FALSE(is_allocator_frame(writev));
    Frame js;
    js.kind = FrameKind::Js;
    js.function = "malloc";
    EXPECT_FALSE(is_allocator_frame(js));
}

}  // namespace
}  // namespace routeheap::testing
