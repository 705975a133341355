// The head of a WebSocket frame (RFC 6455 5.2) as the bench helpers read it: the load generator
// reads the server's frames with it, the broadcaster its clients' frames.
#pragma once

#include <cstddef>
#include <cstdint>

struct WsFrameHead {
    bool fin = false;
    int opcode = 0;
    bool masked = false;
    uint64_t length = 0; // of the payload
    size_t size = 0;     // of the head, without the 4 mask bytes of a masked frame
};

// False while fewer bytes than the head's are available.
inline bool read_frame_head(const unsigned char* p, size_t available, WsFrameHead& head) {
    if (available < 2) return false;
    head.fin = p[0] & 0x80;
    head.opcode = p[0] & 0x0f;
    head.masked = p[1] & 0x80;
    head.length = p[1] & 0x7f;
    head.size = 2;
    if (head.length == 126) {
        if (available < 4) return false;
        head.length = (uint64_t(p[2]) << 8) | p[3];
        head.size = 4;
    } else if (head.length == 127) {
        if (available < 10) return false;
        head.length = 0;
        for (int i = 0; i < 8; ++i)
            head.length = (head.length << 8) | p[2 + i];
        head.size = 10;
    }
    return true;
}
