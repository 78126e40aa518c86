// libcurl transfers of the gate's replay: one easy handle per request on one multi handle.
#include "cli_gate_replay.h"

#include <curl/curl.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <deque>
#include <memory>
#include <thread>

namespace routeheap::cli {

namespace {

using analysis::ReplayOutcome;
using analysis::ReplayRequest;

// One request in flight. The handle's callbacks point at it, so it never moves.
struct Transfer {
    ReplayItem item;
    CURL* handle = nullptr;
    curl_slist* headers = nullptr;
    std::FILE* body = nullptr;
    uint64_t received_bytes = 0;
    std::string setup_error;

    ~Transfer() {
        if (handle != nullptr) curl_easy_cleanup(handle);
        if (headers != nullptr) curl_slist_free_all(headers);
        if (body != nullptr) std::fclose(body);
    }
};

size_t read_body(char* buffer, size_t size, size_t count, void* user) {
    auto* transfer = static_cast<Transfer*>(user);
    const size_t got = std::fread(buffer, 1, size * count, transfer->body);
    if (got == 0 && std::ferror(transfer->body)) return CURL_READFUNC_ABORT;
    return got;
}

// libcurl rewinds the body when it resends a request on a new connection.
int seek_body(void* user, curl_off_t offset, int origin) {
    auto* transfer = static_cast<Transfer*>(user);
    return ::fseeko(transfer->body, static_cast<off_t>(offset), origin) == 0 ? CURL_SEEKFUNC_OK : CURL_SEEKFUNC_FAIL;
}

size_t count_response(char*, size_t size, size_t count, void* user) {
    static_cast<Transfer*>(user)->received_bytes += size * count;
    return size * count;
}

bool has_header(const ReplayRequest& request, const char* name) {
    for (const auto& [header, value] : request.headers) {
        if (strcasecmp(header.c_str(), name) == 0) return true;
    }
    return false;
}

// Configures the handle; returns an error message, or "" on success.
std::string configure(Transfer& transfer, uint16_t port, std::chrono::milliseconds timeout) {
    const ReplayRequest& request = *transfer.item.request;
    CURL* handle = transfer.handle;
    const std::string url = "http://127.0.0.1:" + std::to_string(port) + request.path;
    curl_easy_setopt(handle, CURLOPT_URL, url.c_str());
    // Only loopback: no proxy from http_proxy and friends, no redirects elsewhere.
    curl_easy_setopt(handle, CURLOPT_PROXY, "");
    curl_easy_setopt(handle, CURLOPT_NOPROXY, "*");
    curl_easy_setopt(handle, CURLOPT_FOLLOWLOCATION, 0L);
    curl_easy_setopt(handle, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(handle, CURLOPT_TIMEOUT_MS, static_cast<long>(timeout.count()));
    curl_easy_setopt(handle, CURLOPT_WRITEFUNCTION, count_response);
    curl_easy_setopt(handle, CURLOPT_WRITEDATA, &transfer);

    for (const auto& [name, value] : request.headers) {
        transfer.headers = curl_slist_append(transfer.headers, (name + ": " + value).c_str());
    }
    // libcurl would wait for "100 Continue" before large bodies; send them right away.
    if (!has_header(request, "Expect")) transfer.headers = curl_slist_append(transfer.headers, "Expect:");
    curl_easy_setopt(handle, CURLOPT_HTTPHEADER, transfer.headers);

    if (!request.body_file.empty()) {
        transfer.body = std::fopen(request.body_file.c_str(), "rb");
        if (transfer.body == nullptr) return "cannot open body file " + request.body_file.string() + ": " + std::strerror(errno);
        std::error_code error;
        const auto size = std::filesystem::file_size(request.body_file, error);
        if (error) return "cannot read the size of body file " + request.body_file.string() + ": " + error.message();
        curl_easy_setopt(handle, CURLOPT_UPLOAD, 1L);
        curl_easy_setopt(handle, CURLOPT_INFILESIZE_LARGE, static_cast<curl_off_t>(size));
        curl_easy_setopt(handle, CURLOPT_READFUNCTION, read_body);
        curl_easy_setopt(handle, CURLOPT_READDATA, &transfer);
        curl_easy_setopt(handle, CURLOPT_SEEKFUNCTION, seek_body);
        curl_easy_setopt(handle, CURLOPT_SEEKDATA, &transfer);
    }
    if (request.method == "HEAD") {
        curl_easy_setopt(handle, CURLOPT_NOBODY, 1L);
    } else if (request.method != "GET" || !request.body_file.empty()) {
        curl_easy_setopt(handle, CURLOPT_CUSTOMREQUEST, request.method.c_str());
    }
    return "";
}

ReplayOutcome outcome_of(const Transfer& transfer, CURLcode result) {
    ReplayOutcome outcome;
    outcome.method = transfer.item.request->method;
    outcome.path = transfer.item.request->path;
    outcome.expect_status = transfer.item.request->expect_status;
    outcome.warmup = transfer.item.warmup;
    if (!transfer.setup_error.empty()) {
        outcome.error = transfer.setup_error;
        return outcome;
    }
    long status = 0;
    curl_easy_getinfo(transfer.handle, CURLINFO_RESPONSE_CODE, &status);
    outcome.status = static_cast<uint16_t>(status);
    if (result != CURLE_OK) outcome.error = curl_easy_strerror(result);
    return outcome;
}

class CurlGlobal {
public:
    CurlGlobal() {
        if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) throw ReplayError("curl_global_init failed");
    }
    ~CurlGlobal() { curl_global_cleanup(); }
};

// After a transfer fails at the connection level, how long to wait for the server to exit.
constexpr auto kExitSettlePoll = std::chrono::milliseconds(50);
constexpr int kExitSettlePolls = 20;

}  // namespace

std::vector<ReplayOutcome> replay_requests(const std::vector<ReplayItem>& items, uint16_t port, unsigned concurrency,
                                           std::chrono::milliseconds request_timeout,
                                           const std::function<bool()>& keep_going) {
    static CurlGlobal global;
    std::unique_ptr<CURLM, decltype(&curl_multi_cleanup)> multi(curl_multi_init(), curl_multi_cleanup);
    if (!multi) throw ReplayError("curl_multi_init failed");

    std::vector<ReplayOutcome> outcomes;
    std::deque<std::unique_ptr<Transfer>> running;
    size_t next = 0;
    bool stopped = false;
    while (next < items.size() || !running.empty()) {
        if (!stopped && !keep_going()) stopped = true;
        while (!stopped && next < items.size() && running.size() < std::max(1u, concurrency)) {
            auto transfer = std::make_unique<Transfer>();
            transfer->item = items[next++];
            transfer->handle = curl_easy_init();
            if (transfer->handle == nullptr) throw ReplayError("curl_easy_init failed");
            transfer->setup_error = configure(*transfer, port, request_timeout);
            if (!transfer->setup_error.empty()) {
                outcomes.push_back(outcome_of(*transfer, CURLE_OK));
                continue;
            }
            curl_easy_setopt(transfer->handle, CURLOPT_PRIVATE, transfer.get());
            curl_multi_add_handle(multi.get(), transfer->handle);
            running.push_back(std::move(transfer));
        }
        if (running.empty()) {
            if (stopped) break;
            continue;
        }

        int still_running = 0;
        curl_multi_perform(multi.get(), &still_running);
        int queued = 0;
        bool transport_failed = false;
        while (CURLMsg* message = curl_multi_info_read(multi.get(), &queued)) {
            if (message->msg != CURLMSG_DONE) continue;
            Transfer* done = nullptr;
            curl_easy_getinfo(message->easy_handle, CURLINFO_PRIVATE, &done);
            const CURLcode result = message->data.result;
            transport_failed |= result != CURLE_OK;
            curl_multi_remove_handle(multi.get(), message->easy_handle);
            outcomes.push_back(outcome_of(*done, result));
            std::erase_if(running, [done](const std::unique_ptr<Transfer>& transfer) { return transfer.get() == done; });
        }
        // A cut connection often means that the server is exiting. Waiting for its exit here
        // stops the replay at the request that crashed it, even on a loaded machine.
        for (int poll = 0; transport_failed && !stopped && poll < kExitSettlePolls && keep_going(); ++poll) {
            std::this_thread::sleep_for(kExitSettlePoll);
        }
        if (!running.empty()) curl_multi_poll(multi.get(), nullptr, 0, 100, nullptr);
    }
    return outcomes;
}

}  // namespace routeheap::cli
