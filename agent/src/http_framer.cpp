// HTTP/1.1 framing state machine (see http_framer.h). Hand-written because Debian 12
// has no llhttp package. It follows RFC 9112 where Node's parser does and stops
// framing, with a reason, wherever it would otherwise have to guess.
#include "http_framer.h"

#include <array>
#include <cerrno>
#include <cstring>

#if defined(__SSE2__)
#include <emmintrin.h>
#endif

namespace routeheap::agent::http {
namespace {

using trace::RequestOutcome;

constexpr uint8_t kCR = '\r';
constexpr uint8_t kLF = '\n';

bool is_space(uint8_t byte) { return byte == ' ' || byte == '\t'; }
bool is_digit(uint8_t byte) { return byte >= '0' && byte <= '9'; }

// RFC 9110 tchar: the characters of a header field name, as a table.
constexpr std::array<bool, 256> kTokenChars = [] {
    std::array<bool, 256> table{};
    for (int c = 'a'; c <= 'z'; ++c) table[c] = true;
    for (int c = 'A'; c <= 'Z'; ++c) table[c] = true;
    for (int c = '0'; c <= '9'; ++c) table[c] = true;
    for (const char c : std::string_view("!#$%&'*+-.^_`|~")) table[static_cast<uint8_t>(c)] = true;
    return table;
}();

bool is_token_char(uint8_t byte) { return kTokenChars[byte]; }

// Methods are upper-case tokens ("GET", "M-SEARCH"); Node's parser rejects the rest.
bool is_method_char(uint8_t byte) { return (byte >= 'A' && byte <= 'Z') || byte == '-' || byte == '_'; }

bool is_control(uint8_t byte) { return (byte < 0x20 && byte != '\t') || byte == 0x7f; }

uint8_t to_lower(uint8_t byte) { return byte >= 'A' && byte <= 'Z' ? byte + ('a' - 'A') : byte; }

int hex_value(uint8_t byte) {
    if (is_digit(byte)) return byte - '0';
    if (byte >= 'a' && byte <= 'f') return byte - 'a' + 10;
    if (byte >= 'A' && byte <= 'F') return byte - 'A' + 10;
    return -1;
}

}  // namespace

// ---------------------------------------------------------------------------------
// HeaderParser

namespace {
enum HeaderState : uint8_t { kLineStart, kName, kValue, kValueLF, kSectionLF };
}  // namespace

void HeaderParser::reset() {
    at_section_start = true;
    content_length = -1;
    has_transfer_encoding = false;
    chunked = false;
    expect_continue = false;
    connection_close = false;
    connection_keep_alive = false;
    connection_upgrade = false;
    error = nullptr;
    state = kLineStart;
    field = HeaderField::Other;
    name_length = 0;
    token_length = 0;
    token_overflow = false;
    value_digits_seen = false;
    value_digits_done = false;
    line_bytes = 0;
    value_number = 0;
}

HeaderParser::Step HeaderParser::fail(const char* reason) {
    error = reason;
    return Step::Error;
}

namespace {

#if defined(__SSE2__)
// Bits set for the bytes of `block` that are control bytes other than tab.
unsigned control_byte_mask(__m128i block) {
    const __m128i below_space = _mm_set1_epi8(0x1f);
    const __m128i tab = _mm_set1_epi8('\t');
    const __m128i del = _mm_set1_epi8(0x7f);
    // Bytes <= 0x1f compare equal to their maximum with 0x1f (unsigned).
    const __m128i control = _mm_cmpeq_epi8(_mm_max_epu8(block, below_space), below_space);
    const __m128i special = _mm_or_si128(_mm_andnot_si128(_mm_cmpeq_epi8(block, tab), control),
                                         _mm_cmpeq_epi8(block, del));
    return static_cast<unsigned>(_mm_movemask_epi8(special));
}
#endif

// A line with no control byte other than tab before its CR LF or LF.
struct PlainLine {
    size_t content_end;  // index of the CR or LF that ends the line
    size_t next;         // index of the byte after the LF
};

// Finds control bytes other than tab (CR and LF among them) in data[0, size), a
// 16-byte block at a time. It keeps the mask of the last block it loaded, so the
// lines of a header section are scanned once, not once per line.
class ControlByteScanner {
public:
    ControlByteScanner(const uint8_t* data, size_t size) : data_(data), size_(size) {}

    // Returns the index of the first control byte in data[from, end), or `end` when there
    // is none. `end` is at most the size.
    [[gnu::always_inline]] size_t find(size_t from, size_t end) {
        size_t block = from & ~size_t{15};
        unsigned mask = mask_of(block) & (~0u << (from - block));
        while (mask == 0) {
            block += 16;
            if (block >= end) return end;
            mask = mask_of(block);
        }
        const size_t found = block + static_cast<size_t>(__builtin_ctz(mask));
        return found < end ? found : end;
    }

    // Finds the line that starts at data[from] when it is plain: complete within the
    // data, at most kMaxLineBytes long with its CR LF or LF, and free of other control
    // bytes (a lone CR among them).
    [[gnu::always_inline]] bool find_plain_line(size_t from, PlainLine& line) {
        const size_t end = size_ - from < kMaxLineBytes ? size_ : from + kMaxLineBytes;
        const size_t control = find(from, end);
        if (control == end) return false;
        if (data_[control] == kLF) {
            line = {control, control + 1};
            return true;
        }
        if (data_[control] == kCR && control + 1 < end && data_[control + 1] == kLF) {
            line = {control, control + 2};
            return true;
        }
        return false;
    }

private:
    // Returns the control byte bits of data[block, block + 16), without bits past the size.
    unsigned mask_of(size_t block) {
        if (block == cached_block_) return cached_mask_;
        cached_block_ = block;
#if defined(__SSE2__)
        if (block + 16 <= size_) {
            cached_mask_ = control_byte_mask(_mm_loadu_si128(reinterpret_cast<const __m128i*>(data_ + block)));
            return cached_mask_;
        }
        if (size_ >= 16) {
            // The last 16 bytes of the data, shifted so bit 0 is data[block]; no load
            // passes the end.
            const unsigned last = control_byte_mask(_mm_loadu_si128(reinterpret_cast<const __m128i*>(data_ + size_ - 16)));
            cached_mask_ = last >> (block + 16 - size_);
            return cached_mask_;
        }
#endif
        cached_mask_ = 0;
        for (size_t i = block; i < size_ && i < block + 16; ++i) {
            if (is_control(data_[i])) cached_mask_ |= 1u << (i - block);
        }
        return cached_mask_;
    }

    const uint8_t* data_;
    size_t size_;
    size_t cached_block_ = SIZE_MAX;
    unsigned cached_mask_ = 0;
};

}  // namespace

// Takes the run of name characters that starts the data, as feed_name() would.
size_t HeaderParser::take_name_run(const uint8_t* data, size_t size) {
    size_t i = 0;
    while (i < size && is_token_char(data[i])) {
        if (name_length < sizeof(name)) name[name_length] = static_cast<char>(to_lower(data[i]));
        if (name_length < 255) ++name_length;
        ++i;
    }
    return i;
}

// Takes the run of plain bytes that starts the data, as feed_value() would for a
// header the framer ignores.
size_t HeaderParser::take_value_run(const uint8_t* data, size_t size) {
    return ControlByteScanner(data, size).find(0, size);
}

namespace {

// Returns the index of the first byte from data[at] on that is no token character. The
// data must hold such a byte (the CR or LF of a complete line does).
size_t token_end(const uint8_t* data, size_t at, size_t size) {
#if defined(__SSE2__)
    // The common name of letters, digits and '-' followed by ':' within 16 bytes, in one
    // step. Any other name, and the end of the data, go through the loop below.
    if (size - at >= 16) {
        const __m128i bytes = _mm_loadu_si128(reinterpret_cast<const __m128i*>(data + at));
        const unsigned colons = static_cast<unsigned>(_mm_movemask_epi8(_mm_cmpeq_epi8(bytes, _mm_set1_epi8(':'))));
        // A byte is in [low, low + span] when its difference from low, unsigned, is at most span.
        const __m128i letter_offset = _mm_sub_epi8(_mm_or_si128(bytes, _mm_set1_epi8(0x20)), _mm_set1_epi8('a'));
        const __m128i digit_offset = _mm_sub_epi8(bytes, _mm_set1_epi8('0'));
        const __m128i letter = _mm_cmpeq_epi8(_mm_min_epu8(letter_offset, _mm_set1_epi8(25)), letter_offset);
        const __m128i digit = _mm_cmpeq_epi8(_mm_min_epu8(digit_offset, _mm_set1_epi8(9)), digit_offset);
        const __m128i dash = _mm_cmpeq_epi8(bytes, _mm_set1_epi8('-'));
        const unsigned simple =
            static_cast<unsigned>(_mm_movemask_epi8(_mm_or_si128(_mm_or_si128(letter, digit), dash)));
        if (colons != 0) {
            const unsigned before_colon = (colons & (0u - colons)) - 1;  // bits below the first ':'
            if ((before_colon & ~simple) == 0) return at + static_cast<size_t>(__builtin_ctz(colons));
        }
    }
#endif
    (void)size;
    while (is_token_char(data[at])) ++at;
    return at;
}

template <typename Word>
Word load_word(const uint8_t* data) {
    Word word;
    std::memcpy(&word, data, sizeof(word));
    return word;
}

// Compares the `size` bytes at `data` and `lower` a word at a time, the last word
// overlapping the one before it. Setting bit 0x20 lower-cases ASCII letters. The only
// other byte it turns into a letter or '-' is CR, which is no token character.
template <typename Word>
bool equals_lowercase_words(const uint8_t* data, const char* lower, size_t size) {
    constexpr Word kCaseBits = static_cast<Word>(0x2020202020202020);
    const auto* expected = reinterpret_cast<const uint8_t*>(lower);
    for (size_t i = 0; i + sizeof(Word) < size; i += sizeof(Word)) {
        if ((load_word<Word>(data + i) | kCaseBits) != load_word<Word>(expected + i)) return false;
    }
    const size_t last = size - sizeof(Word);
    return (load_word<Word>(data + last) | kCaseBits) == load_word<Word>(expected + last);
}

// Whether `name`, made of token characters, is `lower` in any letter case. `lower` is
// at least 4 bytes of lower-case letters and '-'.
bool equals_lowercase(const uint8_t* name, std::string_view lower) {
    return lower.size() >= 8 ? equals_lowercase_words<uint64_t>(name, lower.data(), lower.size())
                             : equals_lowercase_words<uint32_t>(name, lower.data(), lower.size());
}

// The field of a header name in any case: one of the four the framer reads, or Other.
HeaderField framing_field_of(const uint8_t* name, size_t length) {
    switch (length) {
    case 6: return equals_lowercase(name, "expect") ? HeaderField::Expect : HeaderField::Other;
    case 10: return equals_lowercase(name, "connection") ? HeaderField::Connection : HeaderField::Other;
    case 14: return equals_lowercase(name, "content-length") ? HeaderField::ContentLength : HeaderField::Other;
    case 17:
        return equals_lowercase(name, "transfer-encoding") ? HeaderField::TransferEncoding : HeaderField::Other;
    default: return HeaderField::Other;
    }
}

}  // namespace

// Takes complete lines from the start of `data` for as long as each one is the empty
// line that ends the section, a header the framer ignores, a Content-Length of digits or
// a one-token Connection, Transfer-Encoding or Expect header (take_framing_value()).
// Stops at the start of any other line, so feed() takes that line byte by byte. Returns
// the bytes taken and sets `step` to SectionDone or Error when the last line taken ended
// the section or failed. Either way the parser ends in feed()'s state.
size_t HeaderParser::take_plain_lines(const uint8_t* data, size_t size, Step& step) {
    ControlByteScanner scanner(data, size);
    size_t at = 0;
    PlainLine line;
    while (scanner.find_plain_line(at, line)) {
        if (line.content_end == at) {
            // A bare LF ends the section in state kLineStart, CR LF in kSectionLF.
            line_bytes += static_cast<uint32_t>(line.next - at);
            if (data[at] == kCR) state = kSectionLF;
            step = Step::SectionDone;
            return line.next;
        }

        const size_t name_end = token_end(data, at, size);
        if (name_end == at || data[name_end] != ':') return at;

        const HeaderField line_field = framing_field_of(data + at, name_end - at);
        if (line_field != HeaderField::Other) {
            if (!take_framing_value(data, name_end + 1, line.content_end, line_field)) return at;
            // Checks a repeated Content-Length and sets the flags, as at the end of any line.
            if (finish_line() == Step::Error) {
                step = Step::Error;
                return line.next;
            }
        }
        at = line.next;
    }
    return at;
}

// Sets the values of a framing header line as feed() would for its value data[start, end).
// The value must be one run of at most 18 digits for Content-Length, so the number cannot
// overflow, or one token of at most sizeof(token) bytes for the others. Spaces and tabs
// may surround it. Returns false for any other value, and feed() then takes the line.
bool HeaderParser::take_framing_value(const uint8_t* data, size_t start, size_t end, HeaderField line_field) {
    while (start < end && is_space(data[start])) ++start;
    while (end > start && is_space(data[end - 1])) --end;
    const size_t length = end - start;

    if (line_field == HeaderField::ContentLength) {
        if (length == 0 || length > 18) return false;
        int64_t number = 0;
        for (size_t i = start; i < end; ++i) {
            if (!is_digit(data[i])) return false;
            number = number * 10 + (data[i] - '0');
        }
        value_number = number;
        value_digits_seen = true;
    } else {
        if (length == 0 || length > sizeof(token)) return false;
        // token[] is scratch until token_length is set, so a rejected value may leave bytes in it.
        for (size_t i = 0; i < length; ++i) {
            const uint8_t byte = data[start + i];
            if (byte == ',' || is_space(byte)) return false;
            token[i] = static_cast<char>(to_lower(byte));
        }
        token_length = static_cast<uint8_t>(length);
        token_overflow = false;
        value_digits_done = false;
        if (line_field == HeaderField::TransferEncoding) has_transfer_encoding = true;
    }
    field = line_field;
    return true;
}

HeaderParser::Step HeaderParser::feed_run(const uint8_t* data, size_t size, size_t& consumed) {
    at_section_start = false;
    size_t i = 0;
    while (i < size) {
        if (state == kLineStart && line_bytes == 0) {
            Step step = Step::More;
            i += take_plain_lines(data + i, size - i, step);
            if (step == Step::SectionDone || step == Step::Error) {
                consumed = i;
                return step;
            }
            if (i == size) break;
        }
        // Runs end at the line limit, so the byte past it goes through feed(), which
        // reports the error where it would byte by byte.
        const size_t line_room = kMaxLineBytes - line_bytes;
        const size_t limit = size - i < line_room ? size - i : line_room;
        size_t run = 0;
        if (state == kName) {
            run = take_name_run(data + i, limit);
        } else if (state == kValue && field == HeaderField::Other) {
            run = take_value_run(data + i, limit);
        }
        line_bytes += static_cast<uint32_t>(run);
        i += run;
        if (i == size) break;

        const Step step = feed(data[i++]);
        if (step == Step::Error || step == Step::SectionDone) {
            consumed = i;
            return step;
        }
    }
    consumed = i;
    return Step::More;
}

HeaderParser::Step HeaderParser::feed(uint8_t byte) {
    at_section_start = false;
    if (++line_bytes > kMaxLineBytes) return fail("header line too long");

    switch (state) {
    case kLineStart:
        if (byte == kCR) {
            state = kSectionLF;
            return Step::More;
        }
        if (byte == kLF) return Step::SectionDone;
        if (is_space(byte)) return fail("obsolete header line folding");
        if (!is_token_char(byte)) return fail("invalid header name");
        name_length = 0;
        state = kName;
        return feed_name(byte);
    case kName:
        return feed_name(byte);
    case kValue:
        if (byte == kCR) {
            state = kValueLF;
            return Step::More;
        }
        if (byte == kLF) return finish_line();
        if (is_control(byte)) return fail("invalid header value");
        return feed_value(byte);
    case kValueLF:
        if (byte != kLF) return fail("invalid header line ending");
        return finish_line();
    case kSectionLF:
        if (byte != kLF) return fail("invalid header line ending");
        return Step::SectionDone;
    default:
        return fail("invalid header parser state");
    }
}

HeaderParser::Step HeaderParser::feed_name(uint8_t byte) {
    if (byte == ':') {
        classify_name();
        state = kValue;
        token_length = 0;
        token_overflow = false;
        value_digits_seen = false;
        value_digits_done = false;
        value_number = 0;
        if (field == HeaderField::TransferEncoding) has_transfer_encoding = true;
        return Step::More;
    }
    if (!is_token_char(byte)) return fail("invalid header name");
    if (name_length < sizeof(name)) {
        name[name_length] = static_cast<char>(to_lower(byte));
    }
    if (name_length < 255) ++name_length;
    return Step::More;
}

void HeaderParser::classify_name() {
    field = name_length > sizeof(name) ? HeaderField::Other
                                       : framing_field_of(reinterpret_cast<const uint8_t*>(name), name_length);
}

HeaderParser::Step HeaderParser::feed_value(uint8_t byte) {
    switch (field) {
    case HeaderField::Other:
        return Step::More;

    case HeaderField::ContentLength:
        if (is_space(byte)) {
            value_digits_done = value_digits_seen;
            return Step::More;
        }
        if (!is_digit(byte) || value_digits_done) return fail("invalid Content-Length");
        if (value_number > (INT64_MAX - 9) / 10) return fail("invalid Content-Length");
        value_number = value_number * 10 + (byte - '0');
        value_digits_seen = true;
        return Step::More;

    default:  // comma-separated token lists
        if (byte == ',') {
            finish_token();
            return Step::More;
        }
        if (is_space(byte)) {
            value_digits_done = token_length > 0;  // the token ended
            return Step::More;
        }
        if (value_digits_done || token_length == sizeof(token)) {
            token_overflow = true;  // matches none of the tokens we look for
            return Step::More;
        }
        token[token_length++] = static_cast<char>(to_lower(byte));
        return Step::More;
    }
}

bool HeaderParser::finish_token() {
    if (token_length > 0 || token_overflow) {
        std::string_view text = token_overflow ? std::string_view() : std::string_view(token, token_length);
        switch (field) {
        case HeaderField::TransferEncoding:
            chunked = text == "chunked";
            break;
        case HeaderField::Expect:
            if (text == "100-continue") expect_continue = true;
            break;
        case HeaderField::Connection:
            if (text == "close") connection_close = true;
            if (text == "keep-alive") connection_keep_alive = true;
            if (text == "upgrade") connection_upgrade = true;
            break;
        default:
            break;
        }
    }
    token_length = 0;
    token_overflow = false;
    value_digits_done = false;
    return true;
}

HeaderParser::Step HeaderParser::finish_line() {
    if (field == HeaderField::ContentLength) {
        if (!value_digits_seen) return fail("invalid Content-Length");
        if (content_length >= 0 && content_length != value_number) {
            return fail("conflicting Content-Length headers");
        }
        content_length = value_number;
    } else if (field != HeaderField::Other) {
        finish_token();
    }
    state = kLineStart;
    field = HeaderField::Other;
    line_bytes = 0;
    return Step::LineDone;
}

// ---------------------------------------------------------------------------------
// ChunkParser

namespace {
enum ChunkState : uint8_t { kSize, kSizeSpace, kExtension, kSizeLF, kData, kDataCR, kDataLF, kTrailers };
// Largest chunk size accepted (2^60 bytes): more hex digits are garbage, not a body.
constexpr uint64_t kMaxChunkSize = uint64_t{1} << 60;
}  // namespace

HeaderParser::Step SectionMemo::feed_run(HeaderParser& parser, const uint8_t* data, size_t size, size_t& consumed) {
    if (!parser.at_section_start) return parser.feed_run(data, size, consumed);
    if (length != 0 && size >= length && std::memcmp(data, bytes, length) == 0) {
        parser = parsed;
        consumed = length;
        return HeaderParser::Step::SectionDone;
    }
    const HeaderParser::Step step = parser.feed_run(data, size, consumed);
    if (step == HeaderParser::Step::SectionDone && consumed <= kMaxBytes) {
        std::memcpy(bytes, data, consumed);
        // The bytes past the kept section stay zero, so reset() clears everything kept.
        if (consumed < length) std::memset(bytes + consumed, 0, length - consumed);
        length = static_cast<uint16_t>(consumed);
        parsed = parser;
    }
    return step;
}

void ChunkParser::reset() {
    state = kSize;
    size_digits_seen = false;
    line_bytes = 0;
    remaining = 0;
    error = nullptr;
}

size_t ChunkParser::feed(const uint8_t* data, size_t size, uint64_t& data_bytes, Step& step) {
    step = Step::More;
    size_t i = 0;
    while (i < size) {
        if (state == kData) {
            uint64_t take = remaining < size - i ? remaining : size - i;
            data_bytes += take;
            remaining -= take;
            i += take;
            if (remaining == 0) state = kDataCR;
            continue;
        }

        uint8_t byte = data[i++];
        if (state == kTrailers) {
            HeaderParser::Step trailer = trailers.feed(byte);
            if (trailer == HeaderParser::Step::Error) {
                error = trailers.error;
                step = Step::Error;
                return i;
            }
            if (trailer == HeaderParser::Step::SectionDone) {
                step = Step::Done;
                return i;
            }
            continue;
        }

        if (state <= kSizeLF && ++line_bytes > kMaxLineBytes) {
            error = "chunk size line too long";
            step = Step::Error;
            return i;
        }

        bool size_line_done = false;
        switch (state) {
        case kSize: {
            int digit = hex_value(byte);
            if (digit >= 0) {
                if (remaining >= kMaxChunkSize / 16) {
                    error = "invalid chunk size";
                    step = Step::Error;
                    return i;
                }
                remaining = remaining * 16 + static_cast<uint64_t>(digit);
                size_digits_seen = true;
                break;
            }
            if (!size_digits_seen) {
                error = "invalid chunk size";
                step = Step::Error;
                return i;
            }
            if (is_space(byte)) {
                state = kSizeSpace;
            } else if (byte == ';') {
                state = kExtension;
            } else if (byte == kCR) {
                state = kSizeLF;
            } else if (byte == kLF) {
                size_line_done = true;
            } else {
                error = "invalid chunk size";
                step = Step::Error;
                return i;
            }
            break;
        }
        case kSizeSpace:
            if (is_space(byte)) break;
            if (byte == ';') {
                state = kExtension;
            } else if (byte == kCR) {
                state = kSizeLF;
            } else if (byte == kLF) {
                size_line_done = true;
            } else {
                error = "invalid chunk size";
                step = Step::Error;
                return i;
            }
            break;
        case kExtension:
            if (byte == kCR) {
                state = kSizeLF;
            } else if (byte == kLF) {
                size_line_done = true;
            } else if (is_control(byte)) {
                error = "invalid chunk extension";
                step = Step::Error;
                return i;
            }
            break;
        case kSizeLF:
            if (byte != kLF) {
                error = "invalid chunk size line ending";
                step = Step::Error;
                return i;
            }
            size_line_done = true;
            break;
        case kDataCR:
            if (byte == kCR) {
                state = kDataLF;
            } else if (byte == kLF) {
                reset();
            } else {
                error = "missing CRLF after chunk data";
                step = Step::Error;
                return i;
            }
            break;
        case kDataLF:
            if (byte != kLF) {
                error = "missing CRLF after chunk data";
                step = Step::Error;
                return i;
            }
            reset();
            break;
        default:
            error = "invalid chunk parser state";
            step = Step::Error;
            return i;
        }

        if (size_line_done) {
            line_bytes = 0;
            size_digits_seen = false;
            if (remaining == 0) {
                trailers.reset();
                state = kTrailers;
            } else {
                state = kData;
            }
        }
    }
    return i;
}

// ---------------------------------------------------------------------------------
// Framer: common parts

namespace {

enum ReadState : uint8_t {
    kReadIdle,       // before a request line; empty lines are skipped
    kReadTlsCheck,   // the first byte was 0x16, a TLS handshake record type
    kReadMethod,
    kReadTarget,
    kReadVersion,
    kReadRequestLineLF,
    kReadHeaders,
    kReadBody,       // Content-Length body
    kReadChunked,
    kReadIgnored,    // after EOF, a request that asked to close, or a CONNECT request
};

enum TargetState : uint8_t {
    kTargetStart,
    kTargetPath,       // origin-form path, asterisk-form, or authority-form (CONNECT)
    kTargetScheme,     // maybe the scheme of an absolute-form target
    kTargetSchemeColon,
    kTargetSchemeSlash,
    kTargetAuthority,  // host of an absolute-form target: skipped
    kTargetQuery,      // query or fragment: skipped, never stored
};

enum ResponseState : uint8_t {
    kRespStatusLine,
    kRespStatusCode,
    kRespReason,
    kRespStatusLF,
    kRespHeaders,
    kRespBody,         // Content-Length body
    kRespChunked,
    kRespUntilClose,   // close-delimited body
    kRespIgnored,      // bytes after the peer's EOF with no request left to respond to
};

constexpr std::string_view kHttpPrefix = "HTTP/1.";
// "HTTP/1.0" or "HTTP/1.1" at the end of a request line.
constexpr size_t kVersionBytes = 8;

}  // namespace

void Framer::reset(uint64_t connection_id) {
    connection_id_ = connection_id;
    stopped_ = false;
    read_eof_ = false;
    read_closed_ = false;
    stop_reason_ = nullptr;
    read_state_ = kReadIdle;
    method_length_ = 0;
    path_length_ = 0;
    version_matched_ = 0;
    target_state_ = kTargetStart;
    request_flags_ = 0;
    line_bytes_ = 0;
    next_request_index_ = 0;
    reading_index_ = 0;
    request_header_bytes_ = 0;
    body_remaining_ = 0;
    body_total_ = 0;
    body_in_read_ = 0;
    body_complete_in_read_ = false;
    body_in_read_pending_ = false;
    head_ = 0;
    count_ = 0;
    std::memset(&response_, 0, sizeof(response_));
    response_.state = kRespStatusLine;
    forget_kept_sections();
}

void Framer::forget_kept_sections() {
    request_memo_.reset();
    response_memo_.reset();
    std::memset(line_memo_.bytes, 0, line_memo_.length < kMaxLineMemoBytes ? line_memo_.length : kMaxLineMemoBytes);
    line_memo_.length = 0;
}

void Framer::feed_read(std::string_view bytes, uint64_t time_ns, Events& events) {
    iovec buffer{const_cast<char*>(bytes.data()), bytes.size()};
    if (bytes.empty()) {
        on_read_eof(time_ns, events);
    } else {
        on_read(&buffer, 1, bytes.size(), time_ns, events);
    }
}

void Framer::feed_write(std::string_view bytes, uint64_t time_ns, Events& events) {
    iovec buffer{const_cast<char*>(bytes.data()), bytes.size()};
    on_write(&buffer, 1, static_cast<ssize_t>(bytes.size()), 0, time_ns, events);
}

void Framer::fail(const char* reason) {
    if (stop_reason_ == nullptr) stop_reason_ = reason;
}

void Framer::stop(const char* reason, uint64_t time_ns, Events& events) {
    if (stopped_) return;
    flush_request_body(time_ns, events);
    stopped_ = true;
    forget_kept_sections();
    events.framing_stopped(connection_id_, time_ns, reason);
    for (uint32_t position = 0; position < count_; ++position) {
        end_request(position, RequestOutcome::FramingStopped, time_ns, events);
    }
    count_ = 0;
}

void Framer::end_request(uint32_t position, RequestOutcome outcome, uint64_t time_ns, Events& events) {
    const PendingRequest& request = pending(position);
    trace::RequestEnd end{};
    set_header(end, trace::RecordType::RequestEnd);
    end.outcome = static_cast<uint16_t>(outcome);
    end.time_ns = time_ns;
    end.connection_id = connection_id_;
    end.request_index = request.index;
    end.request_body_bytes = request.body_bytes;
    if (position == 0) {  // only the oldest request can have response progress
        end.status = response_.final_status;
        end.write_calls = response_.write_calls;
        end.response_body_bytes = response_.body_bytes;
        end.response_header_bytes = response_.header_bytes + response_.head_bytes;
        end.largest_write_bytes = response_.largest_write_bytes;
        end.would_block_writes = response_.would_block_writes;
        end.partial_writes = response_.partial_writes;
    }
    events.request_ended(end);
}

void Framer::on_connection_end(RequestOutcome outcome, uint64_t time_ns, Events& events) {
    if (stopped_) return;
    flush_request_body(time_ns, events);
    uint32_t first = 0;
    if (count_ > 0 && response_.state == kRespUntilClose && outcome != RequestOutcome::ProcessExit) {
        end_request(0, RequestOutcome::Complete, time_ns, events);
        first = 1;
    }
    for (uint32_t position = first; position < count_; ++position) {
        end_request(position, outcome, time_ns, events);
    }
    count_ = 0;
    stopped_ = true;
    forget_kept_sections();
}

// ---------------------------------------------------------------------------------
// Framer: read side

Framer::PendingRequest* Framer::reading_request() {
    if (count_ == 0) return nullptr;
    PendingRequest& newest = pending(count_ - 1);
    return newest.index == reading_index_ ? &newest : nullptr;
}

void Framer::on_read(const iovec* iov, int iovcnt, size_t bytes, uint64_t time_ns, Events& events) {
    if (stopped_) return;
    for (int i = 0; i < iovcnt && bytes > 0 && stop_reason_ == nullptr; ++i) {
        size_t length = iov[i].iov_len < bytes ? iov[i].iov_len : bytes;
        bytes -= length;
        feed_request_bytes(static_cast<const uint8_t*>(iov[i].iov_base), length, time_ns, events);
    }
    flush_request_body(time_ns, events);
    if (stop_reason_ != nullptr) stop(stop_reason_, time_ns, events);
}

void Framer::on_read_eof(uint64_t time_ns, Events& events) {
    if (stopped_ || read_eof_) return;
    flush_request_body(time_ns, events);
    read_eof_ = true;

    // A request cut off before its headers ended can never get a response as such.
    bool head_incomplete = read_state_ >= kReadMethod && read_state_ <= kReadHeaders;
    PendingRequest* request = reading_request();
    if (head_incomplete && request != nullptr && !request->head_complete) {
        end_request(count_ - 1, RequestOutcome::ConnectionClosed, time_ns, events);
        --count_;
    }
    read_state_ = kReadIgnored;
}

void Framer::feed_request_bytes(const uint8_t* data, size_t size, uint64_t time_ns, Events& events) {
    size_t i = 0;
    while (i < size && stop_reason_ == nullptr) {
        switch (read_state_) {
        case kReadIgnored:
            return;

        case kReadBody: {
            uint64_t take = body_remaining_ < size - i ? body_remaining_ : size - i;
            body_remaining_ -= take;
            i += take;
            add_request_body(take, body_remaining_ == 0);
            if (body_remaining_ == 0) finish_request(time_ns, events);
            break;
        }

        case kReadChunked: {
            uint64_t data_bytes = 0;
            ChunkParser::Step step;
            i += request_chunks_.feed(data + i, size - i, data_bytes, step);
            if (step == ChunkParser::Step::Error) {
                add_request_body(data_bytes, false);
                fail(request_chunks_.error);
                break;
            }
            add_request_body(data_bytes, step == ChunkParser::Step::Done);
            if (step == ChunkParser::Step::Done) finish_request(time_ns, events);
            break;
        }

        case kReadHeaders: {
            size_t consumed = 0;
            const HeaderParser::Step step = request_memo_.feed_run(request_headers_, data + i, size - i, consumed);
            i += consumed;
            request_header_bytes_ += consumed;
            if (step == HeaderParser::Step::Error) {
                fail(request_headers_.error);
            } else if (step == HeaderParser::Step::SectionDone) {
                finish_request_head(time_ns, events);
            }
            break;
        }

        default:
            if (read_state_ == kReadIdle && is_method_char(data[i])) {
                const size_t taken = take_request_line(data + i, size - i, time_ns, events);
                if (taken > 0) {
                    i += taken;
                    break;
                }
            }
            feed_request_line_byte(data[i++], time_ns, events);
            break;
        }
    }
}

// The common request line in one piece: "METHOD /origin-form-target HTTP/1.x" with
// CR LF or LF. Returns the bytes taken, or 0 without any change when the line is
// anything else (split across reads, absolute-form, invalid), which the byte-by-byte
// path then handles with its exact errors. The effect of a taken line is the byte
// path's, tested by HttpFramer.RequestLineFastPathMatchesBytePath.
size_t Framer::take_request_line(const uint8_t* data, size_t size, uint64_t time_ns, Events& events) {
    const size_t memo_length = line_memo_.length;
    if (memo_length != 0 && size >= memo_length && std::memcmp(data, line_memo_.bytes, memo_length) == 0) {
        return start_taken_line(data, line_memo_.method_length, line_memo_.path_length, line_memo_.path_length,
                                line_memo_.http10, memo_length, time_ns, events);
    }

    PlainLine line;
    if (!ControlByteScanner(data, size).find_plain_line(0, line)) return 0;
    const size_t end = line.content_end;  // the line without its CR LF or LF

    size_t method_length = 0;
    while (method_length < end && is_method_char(data[method_length])) ++method_length;
    if (method_length == 0 || method_length > trace::kMaxMethodBytes || method_length >= end ||
        data[method_length] != ' ') {
        return 0;
    }

    // "HTTP/1.0" or "HTTP/1.1" ends the line after one space.
    if (end < method_length + 1 + 1 + 1 + kVersionBytes) return 0;
    const uint8_t* version = data + end - kVersionBytes;
    if (std::memcmp(version, "HTTP/1.", 7) != 0 || (version[7] != '0' && version[7] != '1')) return 0;
    const size_t target_start = method_length + 1;
    const size_t target_end = end - kVersionBytes - 1;
    if (data[target_end] != ' ' || data[target_start] != '/') return 0;
    const size_t target_length = target_end - target_start;

    // No space or tab inside the target: those end or fail it. The line has no control bytes.
    const uint8_t* target = data + target_start;
    size_t path_bytes = target_length;  // up to the first '?' or '#'
    for (size_t k = 0; k < target_length; ++k) {
        const uint8_t byte = target[k];
        if (byte == ' ' || byte == '\t') return 0;
        if ((byte == '?' || byte == '#') && path_bytes == target_length) path_bytes = k;
    }

    const bool http10 = version[7] == '0';
    const size_t taken =
        start_taken_line(data, method_length, target_length, path_bytes, http10, line.next, time_ns, events);
    // A line with a query is not kept, so the memo never contains a query string.
    if (taken > 0 && path_bytes == target_length && taken <= kMaxLineMemoBytes) {
        std::memcpy(line_memo_.bytes, data, taken);
        if (taken < line_memo_.length) std::memset(line_memo_.bytes + taken, 0, line_memo_.length - taken);
        line_memo_.length = static_cast<uint16_t>(taken);
        line_memo_.method_length = static_cast<uint8_t>(method_length);
        line_memo_.path_length = static_cast<uint16_t>(path_bytes);
        line_memo_.http10 = http10;
    }
    return taken;
}

// Starts the request of a request line taken whole: the method is data[0, method_length),
// the target of `target_length` bytes follows one space later and its path is its first
// `path_bytes`. `taken` bytes end with the line's CR LF or LF. Returns `taken`, or 0 when
// the request could not start.
size_t Framer::start_taken_line(const uint8_t* data, size_t method_length, size_t target_length, size_t path_bytes,
                                bool http10, size_t taken, uint64_t time_ns, Events& events) {
    if (!start_request(time_ns, events)) return 0;
    std::memcpy(method_, data, method_length);
    method_length_ = static_cast<uint8_t>(method_length);

    const uint8_t* target = data + method_length + 1;
    if (path_bytes < target_length && target[path_bytes] == '?') request_flags_ |= trace::kRequestHadQuery;
    if (path_bytes > trace::kMaxPathBytes) {
        path_bytes = trace::kMaxPathBytes;
        request_flags_ |= trace::kRequestPathTruncated;
    }
    std::memcpy(path_, target, path_bytes);
    path_length_ = static_cast<uint16_t>(path_bytes);
    target_state_ = kTargetPath;
    version_matched_ = kVersionBytes;
    request_http10_ = http10;

    line_bytes_ = static_cast<uint32_t>(taken);
    request_header_bytes_ += taken;
    request_headers_.reset();
    read_state_ = kReadHeaders;
    return taken;
}

bool Framer::start_request(uint64_t time_ns, Events& events) {
    if (count_ == kMaxPipelinedRequests) {
        fail("too many pipelined requests");
        return false;
    }
    PendingRequest& request = pending(count_);
    ++count_;
    request = PendingRequest{};
    request.first_byte_ns = time_ns;
    request.index = next_request_index_++;
    reading_index_ = request.index;

    method_length_ = 0;
    path_length_ = 0;
    version_matched_ = 0;
    target_state_ = kTargetStart;
    request_flags_ = 0;
    request_http10_ = false;
    line_bytes_ = 0;
    request_header_bytes_ = 0;
    body_total_ = 0;
    body_in_read_ = 0;
    body_complete_in_read_ = false;
    body_in_read_pending_ = false;

    events.request_started(connection_id_, time_ns);
    return true;
}

void Framer::feed_request_line_byte(uint8_t byte, uint64_t time_ns, Events& events) {
    if (read_state_ == kReadIdle) {
        if (byte == kCR || byte == kLF) return;  // empty lines between requests
        if (byte == 0x16) {
            read_state_ = kReadTlsCheck;
            return;
        }
        if (!is_method_char(byte)) {
            fail("invalid method");
            return;
        }
        if (!start_request(time_ns, events)) return;
        read_state_ = kReadMethod;
    }

    if (read_state_ == kReadTlsCheck) {
        fail(byte == 0x03 ? "TLS handshake" : "invalid method");
        return;
    }

    ++request_header_bytes_;
    if (++line_bytes_ > kMaxLineBytes) {
        fail("request line too long");
        return;
    }

    switch (read_state_) {
    case kReadMethod:
        if (byte == ' ' && method_length_ > 0) {
            read_state_ = kReadTarget;
        } else if (is_method_char(byte) && method_length_ < trace::kMaxMethodBytes) {
            method_[method_length_++] = static_cast<char>(byte);
        } else {
            fail("invalid method");
        }
        return;
    case kReadTarget:
        if (byte == ' ') {
            if (target_state_ == kTargetStart) {
                fail("invalid request target");
                return;
            }
            if (path_length_ == 0) path_[path_length_++] = '/';  // absolute-form without a path
            read_state_ = kReadVersion;
            return;
        }
        feed_target_byte(byte);
        return;
    case kReadVersion:
        feed_request_version_byte(byte);
        return;
    case kReadRequestLineLF:
        if (byte != kLF) {
            fail("invalid request line");
            return;
        }
        request_headers_.reset();
        read_state_ = kReadHeaders;
        return;
    default:
        fail("invalid request line");
        return;
    }
}

void Framer::append_path_byte(uint8_t byte) {
    if (path_length_ < trace::kMaxPathBytes) {
        path_[path_length_++] = static_cast<char>(byte);
    } else {
        request_flags_ |= trace::kRequestPathTruncated;
    }
}

void Framer::feed_target_byte(uint8_t byte) {
    if (byte == kCR || byte == kLF) {
        fail("invalid request line");  // no HTTP version: HTTP/0.9 or garbage
        return;
    }
    if (is_control(byte) || byte == '\t') {
        fail("invalid request target");
        return;
    }

    bool query = byte == '?' || byte == '#';
    switch (target_state_) {
    case kTargetStart:
        if (byte == '/' || byte == '*') {
            target_state_ = kTargetPath;
        } else if ((byte >= 'a' && byte <= 'z') || (byte >= 'A' && byte <= 'Z')) {
            target_state_ = kTargetScheme;
        } else {
            fail("invalid request target");
            return;
        }
        append_path_byte(byte);
        return;
    case kTargetScheme:
        if (byte == ':') target_state_ = kTargetSchemeColon;
        break;
    case kTargetSchemeColon:
        target_state_ = byte == '/' ? kTargetSchemeSlash : kTargetPath;
        break;
    case kTargetSchemeSlash:
        if (byte == '/') {
            // "scheme://": what follows is the host; the path starts at the next '/'.
            target_state_ = kTargetAuthority;
            path_length_ = 0;
            request_flags_ &= ~trace::kRequestPathTruncated;
            return;
        }
        target_state_ = kTargetPath;
        break;
    case kTargetAuthority:
        if (byte == '/') {
            target_state_ = kTargetPath;
            append_path_byte(byte);
        } else if (query) {
            if (byte == '?') request_flags_ |= trace::kRequestHadQuery;
            target_state_ = kTargetQuery;
        }
        return;
    case kTargetQuery:
        return;
    default:
        break;
    }

    if (query) {
        if (byte == '?') request_flags_ |= trace::kRequestHadQuery;
        target_state_ = kTargetQuery;
        return;
    }
    append_path_byte(byte);
}

void Framer::feed_request_version_byte(uint8_t byte) {
    // Matches "HTTP/1.0" or "HTTP/1.1", then CR LF (a bare LF is tolerated).
    constexpr std::string_view kVersion = "HTTP/1.";
    uint8_t at = version_matched_++;
    if (at < 5) {
        if (byte != static_cast<uint8_t>(kVersion[at])) fail("invalid request line");
        return;
    }
    if (at == 5) {
        if (byte == '1') return;
        bool pri = std::string_view(method_, method_length_) == "PRI";
        if (byte == '2' && pri) {
            fail("HTTP/2 preface");
        } else {
            fail(is_digit(byte) ? "unsupported HTTP version" : "invalid request line");
        }
        return;
    }
    if (at == 6) {
        if (byte != '.') fail("invalid request line");
        return;
    }
    if (at == 7) {
        if (byte == '0') {
            request_http10_ = true;
        } else if (byte != '1') {
            fail(is_digit(byte) ? "unsupported HTTP version" : "invalid request line");
        }
        return;
    }
    if (byte == kCR) {
        read_state_ = kReadRequestLineLF;
    } else if (byte == kLF) {
        request_headers_.reset();
        read_state_ = kReadHeaders;
    } else {
        fail("invalid request line");
    }
}

void Framer::finish_request_head(uint64_t time_ns, Events& events) {
    const HeaderParser& headers = request_headers_;
    if (headers.has_transfer_encoding && !headers.chunked) {
        // RFC 9112 6.3: the body length cannot be determined; Node responds 400.
        fail("request Transfer-Encoding does not end in chunked");
        return;
    }

    uint32_t flags = request_flags_;
    if (headers.chunked) flags |= trace::kRequestChunked;
    if (headers.expect_continue) flags |= trace::kRequestExpectContinue;
    if (request_http10_) flags |= trace::kRequestHttp10;
    bool close = request_http10_ ? !headers.connection_keep_alive : headers.connection_close;
    if (close) flags |= trace::kRequestConnectionClose;

    std::string_view method(method_, method_length_);
    PendingRequest* request = reading_request();
    if (request != nullptr) {
        request->flags = flags;
        request->head_complete = true;
        request->is_head = method == "HEAD";
        request->is_connect = method == "CONNECT";
    }

    trace::RequestHead head{};
    set_header(head, trace::RecordType::RequestHead);
    head.flags = flags;
    head.first_byte_ns = request != nullptr ? request->first_byte_ns : time_ns;
    head.headers_done_ns = time_ns;
    head.connection_id = connection_id_;
    head.request_index = reading_index_;
    head.method_length = method_length_;
    head.path_length = path_length_;
    head.content_length = headers.chunked ? -1 : headers.content_length;
    head.header_bytes = request_header_bytes_;
    events.request_head(head, method, std::string_view(path_, path_length_));

    read_closed_ = close;
    body_total_ = 0;
    if (headers.chunked) {
        request_chunks_.reset();
        read_state_ = kReadChunked;
    } else if (headers.content_length > 0) {
        body_remaining_ = static_cast<uint64_t>(headers.content_length);
        read_state_ = kReadBody;
    } else {
        finish_request(time_ns, events);
    }
    if (method == "CONNECT") read_state_ = kReadIgnored;  // tunnel bytes may follow
}

void Framer::finish_request(uint64_t time_ns, Events& events) {
    flush_request_body(time_ns, events);
    // After a request that asked to close, Node's parser accepts no further request.
    read_state_ = read_closed_ ? kReadIgnored : kReadIdle;
}

void Framer::add_request_body(uint64_t bytes, bool complete) {
    body_in_read_ += bytes;
    body_total_ += bytes;
    if (PendingRequest* request = reading_request()) request->body_bytes += bytes;
    if (complete) body_complete_in_read_ = true;
    if (bytes > 0 || complete) body_in_read_pending_ = true;
}

void Framer::flush_request_body(uint64_t time_ns, Events& events) {
    if (!body_in_read_pending_) return;
    trace::RequestBody body{};
    set_header(body, trace::RecordType::RequestBody);
    body.complete = body_complete_in_read_ ? 1 : 0;
    body.time_ns = time_ns;
    body.connection_id = connection_id_;
    body.request_index = reading_index_;
    body.bytes = body_in_read_;
    body.body_total = body_total_;
    events.request_body(body);
    body_in_read_ = 0;
    body_complete_in_read_ = false;
    body_in_read_pending_ = false;
}

// ---------------------------------------------------------------------------------
// Framer: write side

void Framer::on_write(const iovec* iov, int iovcnt, ssize_t result, int saved_errno,
                      uint64_t time_ns, Events& events) {
    if (stopped_) return;

    uint64_t requested = 0;
    for (int i = 0; i < iovcnt; ++i) requested += iov[i].iov_len;

    trace::ResponseWrite write{};
    set_header(write, trace::RecordType::ResponseWrite);
    write.time_ns = time_ns;
    write.connection_id = connection_id_;
    write.request_index = count_ > 0 ? pending(0).index : next_request_index_;
    write.iov_count = iovcnt > 0 ? static_cast<uint32_t>(iovcnt) : 0;
    write.bytes_requested = requested;

    if (result < 0) {
        bool would_block = saved_errno == EAGAIN || saved_errno == EWOULDBLOCK;
        write.flags = would_block ? trace::kWriteWouldBlock : trace::kWriteError;
        write.result = -static_cast<int64_t>(saved_errno);
        if (count_ > 0) {
            account_write(requested);
            if (would_block) ++response_.would_block_writes;
        }
        events.response_write(write);
        return;
    }

    uint64_t accepted = static_cast<uint64_t>(result) < requested ? static_cast<uint64_t>(result) : requested;
    write.result = result;
    bool partial = accepted < requested;
    if (partial) write.flags |= trace::kWritePartial;

    // Feed the accepted bytes; note which responses this call carried bytes for.
    WriteProgress progress{};
    progress.requested = requested;
    uint64_t left = accepted;
    for (int i = 0; i < iovcnt && left > 0 && stop_reason_ == nullptr; ++i) {
        size_t length = iov[i].iov_len < left ? iov[i].iov_len : left;
        left -= length;
        feed_response_bytes(static_cast<const uint8_t*>(iov[i].iov_base), length, progress, time_ns, events);
    }
    if (progress.touched) write.request_index = progress.first_index;
    write.body_bytes = progress.body_bytes;

    // The refused bytes belong to the response now in progress.
    if (partial && count_ > 0 && stop_reason_ == nullptr) {
        if (!progress.touched || progress.last_index != pending(0).index) account_write(requested);
        ++response_.partial_writes;
    }

    events.response_write(write);
    if (stop_reason_ != nullptr) stop(stop_reason_, time_ns, events);
}

void Framer::account_write(uint64_t requested) {
    ++response_.write_calls;
    if (requested > response_.largest_write_bytes) response_.largest_write_bytes = requested;
}

void Framer::feed_response_bytes(const uint8_t* data, size_t size, WriteProgress& progress,
                                 uint64_t time_ns, Events& events) {
    size_t i = 0;
    while (i < size && stop_reason_ == nullptr) {
        if (response_.state == kRespIgnored) return;

        if (count_ == 0) {
            if (read_eof_) {
                // Node may still write an error response after the peer's EOF.
                response_.state = kRespIgnored;
                return;
            }
            fail("response without a preceding request");
            return;
        }
        PendingRequest& request = pending(0);
        if (!request.head_complete) {
            fail("response before the request headers were complete");
            return;
        }
        if (!progress.touched || progress.last_index != request.index) {
            if (!progress.touched) progress.first_index = request.index;
            progress.touched = true;
            progress.last_index = request.index;
            account_write(progress.requested);
        }

        switch (response_.state) {
        case kRespBody: {
            uint64_t take = response_.body_remaining < size - i ? response_.body_remaining : size - i;
            response_.body_remaining -= take;
            response_.body_bytes += take;
            progress.body_bytes += take;
            i += take;
            if (response_.body_remaining == 0) complete_response(time_ns, events);
            break;
        }
        case kRespChunked: {
            uint64_t data_bytes = 0;
            ChunkParser::Step step;
            i += response_.chunks.feed(data + i, size - i, data_bytes, step);
            response_.body_bytes += data_bytes;
            progress.body_bytes += data_bytes;
            if (step == ChunkParser::Step::Error) {
                fail(response_.chunks.error);
            } else if (step == ChunkParser::Step::Done) {
                complete_response(time_ns, events);
            }
            break;
        }
        case kRespUntilClose:
            response_.body_bytes += size - i;
            progress.body_bytes += size - i;
            i = size;
            break;
        case kRespHeaders: {
            // Header bytes go straight to the parser until it ends the section or fails:
            // nothing the checks above depend on changes in between.
            size_t consumed = 0;
            const HeaderParser::Step step = response_memo_.feed_run(response_.headers, data + i, size - i, consumed);
            i += consumed;
            response_.head_bytes += consumed;
            if (step == HeaderParser::Step::Error) {
                fail(response_.headers.error);
            } else if (step == HeaderParser::Step::SectionDone) {
                finish_response_head(request, time_ns, events);
            }
            break;
        }
        default:
            if (response_.state == kRespStatusLine && response_.version_matched == 0 &&
                response_.head_bytes == 0) {
                response_.first_byte_ns = time_ns;
                const size_t taken = take_status_line(data + i, size - i, events);
                if (taken > 0) {
                    i += taken;
                    response_.head_bytes += taken;
                    break;
                }
            }
            ++response_.head_bytes;
            feed_status_line_byte(data[i++], events);
            break;
        }
    }
}

// The status line in one piece: "HTTP/1.x NNN reason" with CR LF or LF. Returns the
// bytes taken, or 0 without any change for anything else, which the byte path then
// handles (tested by HttpFramer.StatusLineFastPathMatchesBytePath).
size_t Framer::take_status_line(const uint8_t* data, size_t size, Events& events) {
    PlainLine line;
    if (!ControlByteScanner(data, size).find_plain_line(0, line)) return 0;
    // "HTTP/1.1 200" is the shortest line: 12 bytes before the CR LF or LF.
    const size_t end = line.content_end;
    if (end < 12) return 0;
    if (std::memcmp(data, kHttpPrefix.data(), kHttpPrefix.size()) != 0 || (data[7] != '0' && data[7] != '1') ||
        data[8] != ' ' || !is_digit(data[9]) || data[9] == '0' || !is_digit(data[10]) || !is_digit(data[11])) {
        return 0;
    }
    // A reason phrase follows one space; the line has no control bytes, which fail it.
    if (end > 12 && data[12] != ' ') return 0;

    const uint16_t status = static_cast<uint16_t>((data[9] - '0') * 100 + (data[10] - '0') * 10 + (data[11] - '0'));
    response_.status = status;
    response_.status_digits = 3;
    const bool final = status >= 200 || status == 101;
    response_.interim = !final;
    if (final && !response_.final_started) {
        response_.final_started = true;
        events.response_started(connection_id_, response_.first_byte_ns);
    }
    start_response_headers();
    return line.next;
}

void Framer::feed_status_line_byte(uint8_t byte, Events& events) {
    if (++response_.line_bytes > kMaxLineBytes) {
        fail("status line too long");
        return;
    }

    switch (response_.state) {
    case kRespStatusLine: {
        // "HTTP/1.0 " or "HTTP/1.1 "
        uint8_t at = response_.version_matched++;
        bool ok = at < kHttpPrefix.size() ? byte == static_cast<uint8_t>(kHttpPrefix[at])
                  : at == kHttpPrefix.size() ? (byte == '0' || byte == '1')
                                             : byte == ' ';
        if (!ok) {
            fail("invalid status line");
        } else if (at == kHttpPrefix.size() + 1) {
            response_.state = kRespStatusCode;
            response_.status = 0;
            response_.status_digits = 0;
        }
        return;
    }
    case kRespStatusCode:
        if (response_.status_digits < 3) {
            if (!is_digit(byte) || (response_.status_digits == 0 && byte == '0')) {
                fail("invalid status line");
                return;
            }
            response_.status = static_cast<uint16_t>(response_.status * 10 + (byte - '0'));
            if (++response_.status_digits == 3) {
                bool final = response_.status >= 200 || response_.status == 101;
                response_.interim = !final;
                if (final && !response_.final_started) {
                    response_.final_started = true;
                    events.response_started(connection_id_, response_.first_byte_ns);
                }
            }
            return;
        }
        if (byte == ' ') {
            response_.state = kRespReason;
        } else if (byte == kCR) {
            response_.state = kRespStatusLF;
        } else if (byte == kLF) {
            start_response_headers();
        } else {
            fail("invalid status line");
        }
        return;
    case kRespReason:
        if (byte == kCR) {
            response_.state = kRespStatusLF;
        } else if (byte == kLF) {
            start_response_headers();
        } else if (is_control(byte)) {
            fail("invalid status line");
        }
        return;
    case kRespStatusLF:
        if (byte != kLF) {
            fail("invalid status line");
            return;
        }
        start_response_headers();
        return;
    default:
        fail("invalid status line");
        return;
    }
}

void Framer::start_response_headers() {
    response_.headers.reset();
    response_.state = kRespHeaders;
    response_.line_bytes = 0;
}

void Framer::finish_response_head(const PendingRequest& request, uint64_t time_ns, Events& events) {
    const HeaderParser& headers = response_.headers;
    uint16_t status = response_.status;

    trace::ResponseHead head{};
    set_header(head, trace::RecordType::ResponseHead);
    head.status = status;
    head.first_byte_ns = response_.first_byte_ns;
    head.headers_done_ns = time_ns;
    head.connection_id = connection_id_;
    head.request_index = request.index;
    head.content_length = headers.content_length;
    head.header_bytes = response_.head_bytes;

    if (response_.interim) {
        // 100 Continue and other 1xx: the final response follows on the same request.
        head.flags = trace::kResponseInterim;
        head.content_length = -1;
        events.response_head(head);
        response_.header_bytes += response_.head_bytes;
        response_.head_bytes = 0;
        response_.version_matched = 0;
        response_.line_bytes = 0;
        response_.state = kRespStatusLine;
        return;
    }

    uint32_t flags = 0;
    if (headers.connection_close) flags |= trace::kResponseConnectionClose;
    bool no_body = request.is_head || status == 204 || status == 304 || status == 101 ||
                   (request.is_connect && status >= 200 && status < 300);
    if (!no_body) {
        if (headers.chunked) {
            flags |= trace::kResponseChunked;
            head.content_length = -1;
        } else if (headers.has_transfer_encoding || headers.content_length < 0) {
            // RFC 9112 6.3: no length and not chunked, so the body ends at connection close.
            flags |= trace::kResponseCloseDelimited;
            head.content_length = -1;
        }
    }
    head.flags = flags;
    events.response_head(head);

    response_.final_status = status;
    response_.flags = flags;
    response_.header_bytes += response_.head_bytes;
    response_.head_bytes = 0;

    if (status == 101) {
        complete_response(time_ns, events);
        fail("protocol switched (101 Switching Protocols)");
    } else if (request.is_connect && status >= 200 && status < 300) {
        complete_response(time_ns, events);
        fail("CONNECT tunnel established");
    } else if (no_body || (!(flags & trace::kResponseChunked) && !(flags & trace::kResponseCloseDelimited) &&
                           headers.content_length == 0)) {
        complete_response(time_ns, events);
    } else if (flags & trace::kResponseChunked) {
        response_.chunks.reset();
        response_.state = kRespChunked;
    } else if (flags & trace::kResponseCloseDelimited) {
        response_.state = kRespUntilClose;
    } else {
        response_.body_remaining = static_cast<uint64_t>(headers.content_length);
        response_.state = kRespBody;
    }
}

void Framer::complete_response(uint64_t time_ns, Events& events) {
    end_request(0, RequestOutcome::Complete, time_ns, events);
    head_ = (head_ + 1) % kMaxPipelinedRequests;
    --count_;
    // The parsers are reset when the next response reaches them, so only the fields
    // before them are cleared: a third of the struct.
    std::memset(&response_, 0, offsetof(ResponseProgress, headers));
    response_.state = kRespStatusLine;
}

}  // namespace routeheap::agent::http
