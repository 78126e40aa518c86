// Which framework served a request, told from its allocation stacks, and each finding's
// fix written in that framework's terms.
#include <routeheap/analysis/detectors.h>

#include <array>
#include <string_view>

namespace routeheap::analysis {

namespace {

bool contains(std::string_view text, std::string_view part) { return text.find(part) != std::string_view::npos; }

// Each signal seen in any frame of any site of the request.
struct FrameSignals {
    bool next = false;
    bool next_app_route = false;
    bool next_pages_api = false;
    bool express = false;
    bool fastify = false;
    bool node_http = false;
};

void scan_frame(const Frame& frame, FrameSignals& signals) {
    for (const std::string* text : {&frame.location, &frame.function, &frame.module}) {
        const std::string_view value = *text;
        if (contains(value, "next/dist/")) {
            signals.next = true;
            // Next 13-15 keep App Router handlers in route-modules/app-route (compiled into
            // app-route.runtime.*.js in production) and API routes in api-utils or
            // pages-api.runtime.*.js.
            if (contains(value, "app-route")) signals.next_app_route = true;
            if (contains(value, "pages-api") || contains(value, "api-utils") || contains(value, "api-resolver")) {
                signals.next_pages_api = true;
            }
        }
        if (contains(value, "express/lib/")) signals.express = true;
        if (contains(value, "node_modules/fastify/") || contains(value, "fastify/lib/")) signals.fastify = true;
        if (contains(value, "node:_http_server") || contains(value, "_http_server.js")) signals.node_http = true;
    }
}

// Fix texts: one per finding kind, with the framework-specific advice first.
struct FixText {
    std::string_view kind;
    std::string_view node_http;
    std::string_view express;
    std::string_view fastify;
    std::string_view next_pages;
    std::string_view next_app;
};

constexpr std::string_view kStreamAdvice =
    " For a JSON array, write '[' first, then each row with its separating comma, then ']', "
    "instead of calling JSON.stringify on the whole array.";

constexpr std::array<FixText, 5> kFixes{{
    {"buffered-response",
     "Stream the response instead of building it in memory: connect the data source to the response "
     "with stream.pipeline(source, transform, res), where a Transform stringifies each row as it arrives.",
     "Do not answer with res.json(rows) or res.send(text) for large bodies: call "
     "stream.pipeline(source, stringifier, res) in the handler, where the stringifier is a Transform "
     "that turns each row into its JSON text.",
     "Return a stream instead of the whole payload: reply.type('application/json').send(stream) with a "
     "Readable that stringifies rows as they are produced.",
     "In the API route, do not call res.json(rows) or res.send(text): pipe a row stream through a "
     "stringifying Transform into res with stream.pipeline(source, stringifier, res), and set "
     "export const config = { api: { responseLimit: false } } for large streamed responses.",
     "Return new Response(stream) with a ReadableStream that enqueues each row's JSON as it is produced "
     "(or Readable.toWeb of a Node stream), instead of Response.json(rows) or a Response built from one "
     "string or Buffer."},
    {"buffered-upload",
     "Process the request as a stream instead of collecting it: req is a Readable, so pipe it into the "
     "parser with stream.pipeline(req, parser, ...) and handle rows as they arrive. For multipart uploads, "
     "use busboy and pipe each file stream to its destination instead of buffering it.",
     "Do not buffer the body: use multer.diskStorage (not memoryStorage), or busboy with each file piped "
     "to its destination, and avoid express.raw()/express.text() on large uploads; for plain bodies call "
     "stream.pipeline(req, parser, ...) in the handler.",
     "Register a content-type parser that passes the raw stream on (or use @fastify/multipart's file "
     "streams) and pipe it into the parser instead of reading request.body whole.",
     "Turn off Next's body parser for this route with export const config = { api: { bodyParser: false } } "
     "and pipe req into the parser with stream.pipeline(req, parser, ...); for multipart use busboy with "
     "each file piped to disk.",
     "Do not await request.text(), request.arrayBuffer() or request.formData() on large uploads: read "
     "request.body as a stream (Readable.fromWeb(request.body)) and pipe it into the parser."},
    {"ignored-backpressure",
     "Honour res.write()'s return value: when it returns false, stop producing and wait for the 'drain' "
     "event before writing more, or let stream.pipeline(source, res) do it.",
     "In the handler, honour res.write()'s return value (wait for 'drain' when it returns false) or use "
     "stream.pipeline(source, res) instead of a res.write() loop.",
     "Send a Readable with reply.send(stream), which waits for the socket, instead of writing to "
     "reply.raw in a loop.",
     "In the API route, honour res.write()'s return value (await once(res, 'drain') when it returns "
     "false) or use stream.pipeline(source, res) instead of a res.write() loop.",
     "Produce the body from a ReadableStream's pull() callback, which runs only when the consumer wants "
     "more, instead of enqueueing everything in start()."},
    {"per-request-leak",
     "Find what each request adds to module-level state: bound caches (an LRU cache with a maximum size "
     "or a TTL), add event listeners once at start-up instead of per request (or remove them when the "
     "response finishes), and clear per-request entries in res.on('close').",
     "Find what each request adds to module-level state or app.locals: bound caches (an LRU cache with a "
     "maximum size or a TTL), register listeners once at start-up instead of in a handler or middleware, "
     "and clear per-request entries in res.on('close').",
     "Find what each request adds to module-level state or decorators: bound caches, and add hooks and "
     "listeners once in a plugin instead of per request.",
     "Module state survives between API requests: bound module-level caches (an LRU cache with a "
     "maximum size), and add listeners once at module load instead of in the handler.",
     "Module state survives between route handler calls: bound module-level caches (an LRU cache with a "
     "maximum size), and add listeners once at module load instead of in the handler."},
    {"allocation-churn",
     "Stop copying what was already read: collect the chunks in an array and call Buffer.concat once at "
     "the end, or better, process each chunk as it arrives with stream.pipeline(req, parser, ...). "
     "Building a string with += in a loop has the same problem for large texts.",
     "Stop copying what was already read in the handler: collect chunks in an array and Buffer.concat "
     "once, or process the stream with stream.pipeline(req, parser, ...).",
     "Stop copying what was already read: collect chunks in an array and Buffer.concat once, or process "
     "the request stream with pipeline.",
     "Stop copying what was already read: with bodyParser: false, collect chunks in an array and "
     "Buffer.concat once, or process the stream with stream.pipeline(req, parser, ...).",
     "Stop copying what was already read: read request.body with one reader and process each chunk as it "
     "arrives instead of concatenating Uint8Arrays per chunk."},
}};

}  // namespace

Framework detect_framework(const Request& request) {
    FrameSignals signals;
    for (const AllocationSite& site : request.allocations.sites) {
        for (const Frame& frame : site.frames) scan_frame(frame, signals);
    }
    if (signals.next_app_route) return Framework::NextAppRouter;
    if (signals.next_pages_api) return Framework::NextPagesRouter;
    if (signals.next) return Framework::NextUnknownRouter;
    if (signals.express) return Framework::Express;
    if (signals.fastify) return Framework::Fastify;
    if (signals.node_http) return Framework::NodeHttp;
    return Framework::Unknown;
}

std::string fix_for(std::string_view kind, Framework framework) {
    for (const FixText& fix : kFixes) {
        if (fix.kind != kind) continue;
        std::string_view text = fix.node_http;
        switch (framework) {
            case Framework::Express: text = fix.express; break;
            case Framework::Fastify: text = fix.fastify; break;
            case Framework::NextPagesRouter: text = fix.next_pages; break;
            case Framework::NextAppRouter: text = fix.next_app; break;
            case Framework::NextUnknownRouter: text = fix.next_pages; break;
            case Framework::NodeHttp:
            case Framework::Unknown: break;
        }
        std::string result(text);
        if (kind == "buffered-response") result += kStreamAdvice;
        if (kind == "buffered-response" && framework != Framework::NextAppRouter) {
            result += " When you call res.write() yourself, honour its return value: on false, wait for the "
                      "'drain' event before writing more.";
        }
        return result;
    }
    return {};
}

}  // namespace routeheap::analysis
