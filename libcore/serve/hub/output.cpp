// OutputQueue; see serve/hub/output.h.
#include "serve/hub/output.h"

namespace pgsync::serve {

namespace {

// RFC 6455 5.2: FIN + text opcode, then the length in 7, 16 or 64 bits; server frames unmasked.
void append_header(std::string& out, size_t length) {
    out += char(0x81);
    if (length < 126) {
        out += char(length);
    } else if (length <= 0xffff) {
        out += char(126);
        out += char(length >> 8);
        out += char(length & 0xff);
    } else {
        out += char(127);
        for (int shift = 56; shift >= 0; shift -= 8)
            out += char((uint64_t(length) >> shift) & 0xff);
    }
}

} // namespace

size_t OutputQueue::append(std::initializer_list<std::string_view> parts, FrameMark mark) {
    size_t length = 0;
    for (std::string_view part : parts)
        length += part.size();
    mark.begin = m_bytes.size();
    append_header(m_bytes, length);
    for (std::string_view part : parts)
        m_bytes.append(part);
    mark.end = m_bytes.size();
    m_marks.push_back(mark);
    return mark.end - mark.begin;
}

size_t OutputQueue::retract_up_to_date(const Subscription* sub) {
    if (m_first_mark == m_marks.size()) return 0;
    const FrameMark& last = m_marks.back();
    if (!last.up_to_date || last.subscription != sub || last.begin < m_sent) return 0;
    const size_t removed = last.end - last.begin;
    m_bytes.resize(last.begin);
    m_marks.pop_back();
    return removed;
}

size_t OutputQueue::clear() {
    // A frame the socket has part of must be finished, or the client reads the next frame's
    // bytes as the rest of it: keep it, drop every frame not started.
    size_t keep = m_sent;
    while (m_marks.size() > m_first_mark && m_marks.back().begin >= m_sent)
        m_marks.pop_back();
    if (m_marks.size() > m_first_mark) keep = m_marks.back().end;
    const size_t dropped = m_bytes.size() - keep;
    m_bytes.resize(keep);
    compact();
    return dropped;
}

void OutputQueue::forget(const Subscription* sub) {
    for (size_t i = m_first_mark; i < m_marks.size(); ++i)
        if (m_marks[i].subscription == sub) m_marks[i].subscription = nullptr;
}

void OutputQueue::compact() {
    if (m_sent == m_bytes.size()) {
        m_bytes.resize(kOutputHeadroom); // keeps the capacity: the next frames allocate nothing
        m_sent = kOutputHeadroom;
        m_marks.clear();
        m_first_mark = 0;
        return;
    }
    if (m_first_mark > 1024 && m_first_mark * 2 > m_marks.size()) {
        m_marks.erase(m_marks.begin(), m_marks.begin() + long(m_first_mark));
        m_first_mark = 0;
    }
    // A client that keeps a backlog: move what is unsent to the front now and then, so the buffer
    // does not grow with everything ever sent.
    const size_t sent = m_sent - kOutputHeadroom;
    if (sent < (256u << 10) || sent < bytes()) return;
    m_bytes.erase(kOutputHeadroom, sent);
    m_sent = kOutputHeadroom;
    for (size_t i = m_first_mark; i < m_marks.size(); ++i) {
        FrameMark& mark = m_marks[i];
        mark.begin = mark.begin > sent ? mark.begin - sent : kOutputHeadroom;
        mark.end -= sent;
    }
}

} // namespace pgsync::serve
