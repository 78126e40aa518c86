// The trace file of this process image: its creation, the file header, and the
// blocks of records appended to it.
#pragma once

#include <routeheap/trace_block.h>

#include <sys/types.h>

#include <cstddef>
#include <cstdint>

namespace routeheap::agent {

class ThreadBuffers;

// Thread-safety: none; every call happens under the recorder's writer lock.
class TraceWriter {
public:
    // Creates `<dir>/<pid>.rhtrace`, or `<dir>/<pid>.<N>.rhtrace` for the Nth image
    // after exec, with O_EXCL|O_NOFOLLOW and mode 0600, and writes the file header.
    // Logs the reason and returns false on failure.
    bool open(const char* dir, uint32_t flags, bool after_exec);

    // Appends one record to the pending block, writing the block first if full.
    bool append(const void* record, size_t size);

    // Moves every buffered record into blocks and writes them.
    bool drain(ThreadBuffers& buffers);

    // Writes the pending records as one block (nothing when there are none).
    bool flush();

    // In a forked child: closes the inherited descriptor (the parent keeps writing
    // through its own) and forgets the parent's block sequence.
    void forget_after_fork_child();

    bool is_open() const { return fd_ >= 0; }
    const char* path() const { return path_; }

private:
    bool map_buffers();
    bool create_file(const char* dir, bool after_exec, uint32_t& sequence);
    bool write_header(uint32_t flags, uint32_t sequence);
    bool write_all(const void* data, size_t size);
    bool check_descriptor();

    int fd_ = -1;
    dev_t device_ = 0;
    ino_t inode_ = 0;
    char path_[4096] = {};

    trace::BlockEncoder encoder_;
    bool encoder_ready_ = false;
    uint8_t* raw_ = nullptr;      // kMaxBlockRawBytes of pending records
    uint8_t* encoded_ = nullptr;  // BlockEncoder::max_encoded_size(kMaxBlockRawBytes)
    size_t encoded_capacity_ = 0;
    size_t raw_used_ = 0;
    uint32_t raw_records_ = 0;
    uint64_t first_time_ns_ = 0;
    uint64_t last_time_ns_ = 0;
    uint64_t block_sequence_ = 0;
};

}  // namespace routeheap::agent
