// Per-descriptor connection table: runs an HTTP framer for each accepted socket and
// turns its events into trace records through record_sink.h (see connections.h).
//
// The table is indexed by descriptor number. Pages of kSlotsPerPage connection
// states are mapped lazily with a raw mmap syscall, so the agent's own mmap hook never
// counts them, and are never unmapped. A page pointer is published with a
// compare-and-swap, so two threads accepting in the same page at once are safe.
#include "connections.h"

#include "http_framer.h"
#include "record_sink.h"

#include <routeheap/trace_compact.h>

#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <atomic>
#include <cstring>

namespace routeheap::agent::net {
namespace {

using trace::CloseReason;
using trace::RecordType;
using trace::RequestOutcome;

// Descriptors at or above this number are not framed, only counted. Default
// RLIMIT_NOFILE hard limits are 2^20 on current distributions.
constexpr int kMaxTrackedFd = 1 << 20;
constexpr int kSlotsPerPage = 64;
constexpr int kPageCount = kMaxTrackedFd / kSlotsPerPage;

// Slot states; a zero-filled page is all free slots.
constexpr uint8_t kFree = 0;
constexpr uint8_t kFraming = 1;  // is_tracked() is true
constexpr uint8_t kStopped = 2;  // still a connection, but its bytes are no longer framed

struct Slot {
    uint8_t state;  // accessed with __atomic builtins: is_tracked() may race with on_accept()
    http::Framer framer;
};

struct Page {
    Slot slots[kSlotsPerPage];
};

// 128 KiB of zero-initialized pointers; untouched parts cost no memory.
std::atomic<Page*> g_pages[kPageCount];
std::atomic<uint64_t> g_next_connection_id{1};
std::atomic<uint64_t> g_untracked_connections{0};

uint8_t load_state(const Slot& slot) { return __atomic_load_n(&slot.state, __ATOMIC_ACQUIRE); }
void store_state(Slot& slot, uint8_t state) { __atomic_store_n(&slot.state, state, __ATOMIC_RELEASE); }

Page* map_page() {
    size_t length = (sizeof(Page) + 4095) & ~size_t{4095};
    long address = syscall(SYS_mmap, nullptr, length, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (address < 0 && address > -4096) return nullptr;  // -errno from the raw syscall
    return reinterpret_cast<Page*>(address);
}

void unmap_page(Page* page) {
    size_t length = (sizeof(Page) + 4095) & ~size_t{4095};
    syscall(SYS_munmap, page, length);
}

// Returns the slot of `fd`, mapping its page when `create` is set. Returns nullptr
// when the descriptor is out of range or the page does not exist or failed to map.
Slot* find_slot(int fd, bool create) {
    if (fd < 0 || fd >= kMaxTrackedFd) return nullptr;
    std::atomic<Page*>& entry = g_pages[fd / kSlotsPerPage];
    Page* page = entry.load(std::memory_order_acquire);
    if (page == nullptr && create) {
        Page* fresh = map_page();
        if (fresh == nullptr) return nullptr;
        if (entry.compare_exchange_strong(page, fresh, std::memory_order_acq_rel)) {
            page = fresh;
        } else {
            unmap_page(fresh);  // another thread mapped it first, and `page` now points to theirs
        }
    }
    return page != nullptr ? &page->slots[fd % kSlotsPerPage] : nullptr;
}

void emit_framing_stopped(uint64_t connection_id, uint64_t time_ns, std::string_view reason) {
    alignas(8) unsigned char buffer[sizeof(trace::FramingStopped) + trace::kMaxTextBytes];
    if (reason.size() > trace::kMaxTextBytes) reason = reason.substr(0, trace::kMaxTextBytes);
    trace::FramingStopped record{};
    set_header(record, RecordType::FramingStopped, sizeof(record) + reason.size());
    record.text_length = static_cast<uint16_t>(reason.size());
    record.time_ns = time_ns;
    record.connection_id = connection_id;
    std::memcpy(buffer, &record, sizeof(record));
    std::memcpy(buffer + sizeof(record), reason.data(), reason.size());
    emit_record(buffer, sizeof(record) + reason.size());
}

// Turns framer events into trace records, counter samples and the counts of started and
// ended requests that the writer thread samples by, for the events of one read or write call.
//
// A small request costs two records instead of six (trace_compact.h). The RequestStart
// sample waits for the next event and joins the RequestHead if that comes next. A
// ResponseHead waits too, and joins its RequestEnd, the RequestEnd sample and the call's
// ResponseWrite when the response ends in the call that started it. Any other event first
// writes what is waiting, so records keep the order in which the framer reported them.
class RecordEvents final : public http::Events {
public:
    void request_started(uint64_t connection_id, uint64_t time_ns) override {
        flush();
        if (read_counter_sample(trace::SampleReason::RequestStart, connection_id, time_ns, sample_)) {
            held_ = Held::StartSample;
        }
        request_opened();
    }

    void request_head(const trace::RequestHead& head, std::string_view method, std::string_view path) override {
        alignas(8) unsigned char buffer[sizeof(trace::CompactRequestHead) + trace::kMaxMethodBytes + trace::kMaxPathBytes];
        const size_t text = method.size() + path.size();
        trace::RequestHead record = head;
        set_header(record, RecordType::RequestHead, sizeof(head) + text);
        size_t size = sizeof(record);
        trace::CompactRequestHead compact;
        if (held_ == Held::StartSample && trace::compact_request_head(sample_, record, compact)) {
            held_ = Held::Nothing;
            std::memcpy(buffer, &compact, sizeof(compact));
            size = sizeof(compact);
        } else {
            flush();
            std::memcpy(buffer, &record, sizeof(record));
        }
        std::memcpy(buffer + size, method.data(), method.size());
        std::memcpy(buffer + size + method.size(), path.data(), path.size());
        emit_record(buffer, size + text);
    }

    void request_body(const trace::RequestBody& body) override {
        flush();
        emit_record(&body, sizeof(body));
    }

    // The ResponseStart sample waits for the end of the write call, because a response
    // that also ends in that call needs none: the RequestEnd sample written at the same
    // instant covers it. Small responses then cost two samples instead of three.
    void response_started(uint64_t connection_id, uint64_t time_ns) override {
        pending_start_ = true;
        pending_connection_id_ = connection_id;
        pending_start_ns_ = time_ns;
    }

    void response_head(const trace::ResponseHead& head) override {
        flush();
        if (head.flags & trace::kResponseInterim) {
            emit_record(&head, sizeof(head));
            return;
        }
        response_head_ = head;
        held_ = Held::ResponseHead;
    }

    void response_write(const trace::ResponseWrite& write) override {
        trace::CompactResponse compact;
        if (held_ == Held::ResponseEnded && trace::compact_response(response_head_, end_, sample_, write, compact)) {
            held_ = Held::Nothing;
            emit_record(&compact, sizeof(compact));
            return;
        }
        flush();
        emit_record(&write, sizeof(write));
    }

    void request_ended(const trace::RequestEnd& end) override {
        if (pending_start_ && pending_connection_id_ == end.connection_id) pending_start_ = false;
        const bool joins_head = held_ == Held::ResponseHead && response_head_.connection_id == end.connection_id &&
                                response_head_.request_index == end.request_index;
        trace::CounterSample sample;
        const bool sampled = read_counter_sample(trace::SampleReason::RequestEnd, end.connection_id, end.time_ns, sample);
        if (joins_head && sampled) {
            end_ = end;
            sample_ = sample;
            held_ = Held::ResponseEnded;
        } else {
            flush();
            emit_record(&end, sizeof(end));
            if (sampled) emit_record(&sample, sizeof(sample));
        }
        request_closed();
    }

    void framing_stopped(uint64_t connection_id, uint64_t time_ns, std::string_view reason) override {
        flush();
        emit_framing_stopped(connection_id, time_ns, reason);
    }

    // Writes what is held, then the ResponseStart sample of a response still open after
    // the call.
    void finish_call() {
        flush();
        if (pending_start_) emit_counter_sample(trace::SampleReason::ResponseStart, pending_connection_id_, pending_start_ns_);
        pending_start_ = false;
    }

private:
    enum class Held : uint8_t {
        Nothing,
        StartSample,    // sample_
        ResponseHead,   // response_head_
        ResponseEnded,  // response_head_, end_ and its sample_
    };

    // Writes the held records as they are, in the order the framer reported them.
    void flush() {
        switch (held_) {
        case Held::Nothing: return;
        case Held::StartSample: emit_record(&sample_, sizeof(sample_)); break;
        case Held::ResponseHead: emit_record(&response_head_, sizeof(response_head_)); break;
        case Held::ResponseEnded:
            emit_record(&response_head_, sizeof(response_head_));
            emit_record(&end_, sizeof(end_));
            emit_record(&sample_, sizeof(sample_));
            break;
        }
        held_ = Held::Nothing;
    }

    Held held_ = Held::Nothing;
    trace::CounterSample sample_;
    trace::ResponseHead response_head_;
    trace::RequestEnd end_;
    bool pending_start_ = false;
    uint64_t pending_connection_id_ = 0;
    uint64_t pending_start_ns_ = 0;
};

void emit_connection_open(int listen_fd, int fd, uint64_t connection_id, uint64_t time_ns) {
    trace::ConnectionOpen record{};
    set_header(record, RecordType::ConnectionOpen);
    record.fd = fd;
    record.time_ns = time_ns;
    record.connection_id = connection_id;
    record.listen_fd = listen_fd;
    emit_record(&record, sizeof(record));
}

// Ends every open request of the slot's connection, records why the connection
// ended, and frees the slot.
void end_connection(Slot& slot, CloseReason reason, uint64_t time_ns) {
    uint8_t state = load_state(slot);
    if (state == kFree) return;
    if (state == kFraming) {
        RecordEvents events;
        RequestOutcome outcome =
            reason == CloseReason::ProcessExit ? RequestOutcome::ProcessExit : RequestOutcome::ConnectionClosed;
        slot.framer.on_connection_end(outcome, time_ns, events);
        events.finish_call();
    }

    trace::ConnectionClose record{};
    set_header(record, RecordType::ConnectionClose);
    record.reason = static_cast<uint16_t>(reason);
    record.time_ns = time_ns;
    record.connection_id = slot.framer.connection_id();
    emit_record(&record, sizeof(record));
    store_state(slot, kFree);
}

// After the framer saw a call: stop tracking when framing stopped, and end the
// connection when the peer's EOF left no request waiting for a response.
void update_after_call(Slot& slot, uint64_t time_ns) {
    if (!slot.framer.framing()) {
        store_state(slot, kStopped);
    } else if (slot.framer.finished()) {
        end_connection(slot, CloseReason::PeerEof, time_ns);
    }
}

// Returns the framing slot of `fd`, or nullptr when the descriptor is not framed.
Slot* framing_slot(int fd) {
    Slot* slot = find_slot(fd, false);
    return slot != nullptr && load_state(*slot) == kFraming ? slot : nullptr;
}

}  // namespace

bool is_tracked(int fd) {
    if (static_cast<unsigned>(fd) >= static_cast<unsigned>(kMaxTrackedFd)) return false;
    Page* page = g_pages[fd / kSlotsPerPage].load(std::memory_order_acquire);
    return page != nullptr && load_state(page->slots[fd % kSlotsPerPage]) == kFraming;
}

uint64_t untracked_connection_count() { return g_untracked_connections.load(std::memory_order_relaxed); }

void on_accept(int listen_fd, int fd) {
    if (fd < 0) return;
    if (!recording()) {
        // Forget what an earlier, recorded connection left on this descriptor.
        if (Slot* slot = find_slot(fd, false)) store_state(*slot, kFree);
        return;
    }

    uint64_t time_ns = now_ns();
    Slot* slot = find_slot(fd, true);
    if (slot == nullptr) {
        // Out of range or no memory for the table: the connection is recorded but not framed.
        g_untracked_connections.fetch_add(1, std::memory_order_relaxed);
        uint64_t connection_id = g_next_connection_id.fetch_add(1, std::memory_order_relaxed);
        emit_connection_open(listen_fd, fd, connection_id, time_ns);
        emit_framing_stopped(connection_id, time_ns,
                             fd >= kMaxTrackedFd ? "descriptor number above the tracked range (1048576)"
                                                 : "connection table page could not be mapped");
        return;
    }

    // libuv closes sockets with a raw syscall, so the old connection ends only now.
    end_connection(*slot, CloseReason::FdReused, time_ns);

    uint64_t connection_id = g_next_connection_id.fetch_add(1, std::memory_order_relaxed);
    slot->framer.reset(connection_id);
    emit_connection_open(listen_fd, fd, connection_id, time_ns);
    store_state(*slot, kFraming);
}

void on_read(int fd, const struct iovec* iov, int iovcnt, ssize_t result, int saved_errno) {
    (void)saved_errno;  // failed reads (EAGAIN, EINTR) carry no bytes and change nothing
    if (result < 0 || !recording()) return;
    Slot* slot = framing_slot(fd);
    if (slot == nullptr) return;

    uint64_t time_ns = now_ns();
    RecordEvents events;
    if (result == 0) {
        slot->framer.on_read_eof(time_ns, events);
    } else {
        slot->framer.on_read(iov, iovcnt, static_cast<size_t>(result), time_ns, events);
    }
    events.finish_call();
    update_after_call(*slot, time_ns);
}

void on_write(int fd, const struct iovec* iov, int iovcnt, ssize_t result, int saved_errno) {
    if (!recording()) return;
    Slot* slot = framing_slot(fd);
    if (slot == nullptr) return;

    uint64_t time_ns = now_ns();
    RecordEvents events;
    slot->framer.on_write(iov, iovcnt, result, saved_errno, time_ns, events);
    events.finish_call();
    update_after_call(*slot, time_ns);
}

void on_shutdown(int fd, int how) {
    if (how == SHUT_RD) return;  // the response side stays open
    Slot* slot = find_slot(fd, false);
    if (slot == nullptr) return;
    if (!recording()) {
        store_state(*slot, kFree);
        return;
    }
    end_connection(*slot, CloseReason::Shutdown, now_ns());
}

void on_close(int fd) {
    Slot* slot = find_slot(fd, false);
    if (slot == nullptr || load_state(*slot) == kFree) return;
    if (!recording()) {
        store_state(*slot, kFree);
        return;
    }
    end_connection(*slot, CloseReason::Close, now_ns());
}

void on_process_exit() {
    // NOTE: another thread may still be framing one of these connections; at exit the
    // agent accepts that race rather than lock the hot path.
    if (!recording()) return;
    uint64_t time_ns = now_ns();
    for (int page_index = 0; page_index < kPageCount; ++page_index) {
        Page* page = g_pages[page_index].load(std::memory_order_acquire);
        if (page == nullptr) continue;
        for (Slot& slot : page->slots) end_connection(slot, CloseReason::ProcessExit, time_ns);
    }
}

}  // namespace routeheap::agent::net
