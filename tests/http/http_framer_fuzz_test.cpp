// Runs the fuzz entry point over thousands of seeded inputs in every CTest run, so
// the framer's contract is checked on mutated real traffic even without clang.
#include <gtest/gtest.h>

#include <cstdint>
#include <random>
#include <string>
#include <vector>

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size);

namespace {

// Fragments of real exchanges; the generator strings them together, cuts them into
// calls and flips a few bytes.
const char* const kRequests[] = {
    "GET / HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n",
    "GET /search?q=secret HTTP/1.1\r\nConnection: keep-alive\r\n\r\n",
    "POST /upload HTTP/1.1\r\nContent-Length: 11\r\n\r\nhello world",
    "POST /c HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n4;x=y\r\nWiki\r\n5\r\npedia\r\n0\r\nT: 1\r\n\r\n",
    "PUT /f HTTP/1.1\r\nExpect: 100-continue\r\nContent-Length: 4\r\n\r\ndata",
    "HEAD /h HTTP/1.1\r\n\r\n",
    "GET /old HTTP/1.0\r\n\r\n",
    "GET http://host:80/abs/path?x=1 HTTP/1.1\r\n\r\n",
    "CONNECT host:443 HTTP/1.1\r\n\r\n",
    "GET /ws HTTP/1.1\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\r\n",
    "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n",
    "\x16\x03\x01\x00\x05hello",
};
const char* const kResponses[] = {
    "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nhi",
    "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3;e\r\nabc\r\n0\r\nX: y\r\n\r\n",
    "HTTP/1.1 100 Continue\r\n\r\n",
    "HTTP/1.1 204 No Content\r\n\r\n",
    "HTTP/1.1 304 Not Modified\r\nContent-Length: 9\r\n\r\n",
    "HTTP/1.0 200 OK\r\n\r\nclose delimited",
    "HTTP/1.1 101 Switching Protocols\r\n\r\n",
    "HTTP/1.1 404 Not Found\r\nConnection: close\r\nContent-Length: 0\r\n\r\n",
};

// Encodes one socket call in the fuzz script format (see http_framer_fuzz.cpp).
void append_call(std::vector<uint8_t>& script, int kind, int iovecs, int write_mode, const std::string& bytes) {
    if (bytes.empty()) return;
    size_t length = bytes.size() - 1;
    uint8_t op = static_cast<uint8_t>(kind | ((iovecs - 1) << 2) | (write_mode << 4));
    if (length > 255) op |= 0x80;
    script.push_back(op);
    script.push_back(static_cast<uint8_t>(length & 0xff));
    if (length > 255) script.push_back(static_cast<uint8_t>((length >> 8) & 0xff));
    script.insert(script.end(), bytes.begin(), bytes.end());
}

// Sends `stream` as calls of random sizes, with a random number of byte flips.
void append_stream(std::vector<uint8_t>& script, std::mt19937& random, int kind, std::string stream) {
    int flips = static_cast<int>(random() % 8) == 0 ? static_cast<int>(random() % 3) + 1 : 0;
    for (int i = 0; i < flips && !stream.empty(); ++i) {
        stream[random() % stream.size()] = static_cast<char>(random() & 0xff);
    }
    size_t at = 0;
    while (at < stream.size()) {
        size_t piece = 1 + random() % (random() % 2 ? 8 : 300);
        if (piece > stream.size() - at) piece = stream.size() - at;
        int write_mode = static_cast<int>(random() % 8);
        if (kind == 1 && write_mode >= 5) {
            // A refused or partial write: libuv sends the bytes again afterwards.
            append_call(script, kind, 1, write_mode, stream.substr(at, piece));
        }
        append_call(script, kind, 1 + static_cast<int>(random() % 4), 0, stream.substr(at, piece));
        at += piece;
    }
}

TEST(HttpFramerFuzz, SeededExchangesKeepContract) {
    std::mt19937 random(20240601);
    for (int round = 0; round < 20000; ++round) {
        std::vector<uint8_t> script;
        int exchanges = 1 + static_cast<int>(random() % 4);
        for (int i = 0; i < exchanges; ++i) {
            append_stream(script, random, 0, kRequests[random() % std::size(kRequests)]);
            append_stream(script, random, 1, kResponses[random() % std::size(kResponses)]);
            if (random() % 10 == 0) append_call(script, 2, 1, 0, "x");
        }
        LLVMFuzzerTestOneInput(script.data(), script.size());
    }
}

TEST(HttpFramerFuzz, RandomBytesKeepContract) {
    std::mt19937 random(7);
    for (int round = 0; round < 4000; ++round) {
        std::vector<uint8_t> input(random() % 600);
        for (uint8_t& byte : input) byte = static_cast<uint8_t>(random() & 0xff);
        LLVMFuzzerTestOneInput(input.data(), input.size());
    }
}

}  // namespace
