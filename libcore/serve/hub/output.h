// OutputQueue: a session's unsent frames exactly as the socket carries them, WebSocket headers
// included, in one contiguous buffer: appending a frame allocates nothing once the buffer has
// grown to the session's working size, and a write hands the socket one span of many frames.
// A small mark per frame says what writing it means (whose delivered offset moves).
#pragma once

#include "changelog/log_offset.h"

#include <cstddef>
#include <initializer_list>
#include <string>
#include <string_view>
#include <vector>

namespace pgsync::serve {

struct Subscription;

// Bytes kept writable in front of every span handed out (libwebsockets' LWS_PRE).
inline constexpr size_t kOutputHeadroom = 16;

struct FrameMark {
    size_t begin = 0, end = 0;            // the frame's bytes, header included
    Subscription* subscription = nullptr; // whose delivered offset advances when written
    LogOffset offset;
    bool has_offset = false;
    bool up_to_date = false;
};

class OutputQueue {
public:
    OutputQueue() : m_bytes(kOutputHeadroom, '\0'), m_sent(kOutputHeadroom) {}

    // Appends one text frame whose payload is the concatenation of parts; returns its size on the
    // wire. mark's begin and end are filled in.
    size_t append(std::initializer_list<std::string_view> parts, FrameMark mark);
    // When the newest frame is an up-to-date of sub that no write has started on, takes it back
    // (a later one will say the same of more): returns the bytes removed, else 0.
    size_t retract_up_to_date(const Subscription* sub);

    size_t bytes() const { return m_bytes.size() - m_sent; } // unsent
    bool empty() const { return bytes() == 0; }
    // The next span to write, at most max bytes, with kOutputHeadroom writable bytes before it.
    std::string_view next(size_t max) { return std::string_view(m_bytes).substr(m_sent, max); }
    char* writable(std::string_view span) {
        return m_bytes.data() + (span.data() - m_bytes.data());
    }
    // The socket took n bytes: calls done(mark) for every frame now fully written, in order.
    template <class Done> void consumed(size_t n, Done&& done) {
        m_sent += n;
        while (m_first_mark < m_marks.size() && m_marks[m_first_mark].end <= m_sent)
            done(static_cast<const FrameMark&>(m_marks[m_first_mark++]));
        compact();
    }
    // Drops every frame not yet started (one the socket has part of is finished); returns how
    // many bytes that was.
    size_t clear();
    // sub is gone: its queued frames still go out, but move nobody's offset.
    void forget(const Subscription* sub);

private:
    void compact();

    std::string m_bytes; // kOutputHeadroom, then frames; [m_sent, end) unsent
    size_t m_sent;
    // Marks of unsent frames from m_first_mark on. A vector, not a deque: an idle session's
    // empty queue must cost no allocation (a deque allocates a block up front).
    std::vector<FrameMark> m_marks;
    size_t m_first_mark = 0;
};

} // namespace pgsync::serve
