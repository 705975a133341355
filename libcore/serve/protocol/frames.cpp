// Frame builders.
#include "serve/protocol/frames.h"

#include "record/json_text.h"

namespace pgsync::serve {

std::string client_offset(std::string_view epoch, LogOffset offset) {
    std::string out(epoch);
    out += ':';
    out += offset.str();
    return out;
}

OffsetCheck parse_client_offset(std::string_view text, std::string_view epoch, LogOffset& out) {
    size_t colon = text.find(':');
    if (colon == std::string_view::npos) return OffsetCheck::Malformed;
    auto parsed = LogOffset::parse(text.substr(colon + 1));
    if (!parsed) return OffsetCheck::Malformed;
    if (text.substr(0, colon) != epoch) return OffsetCheck::OtherEpoch;
    out = *parsed;
    return OffsetCheck::Ok;
}

std::string frame_buffer(size_t reserve) {
    std::string s;
    s.reserve(kFrameHeadroom + reserve);
    s.assign(kFrameHeadroom, '\0');
    return s;
}

std::string json_string(std::string_view text) {
    std::string out;
    record::append_json_string(out, text);
    return out;
}

Frame change_frame(std::string_view id_json, std::string_view tail) {
    Frame f;
    f.data = frame_buffer(32 + id_json.size() + tail.size());
    f.data += kChangeStart;
    f.data += id_json;
    f.data += tail;
    return f;
}

Frame up_to_date_frame(std::string_view id_json, std::string_view offset_text) {
    Frame f;
    f.up_to_date = true;
    f.data = frame_buffer();
    f.data += "{\"type\":\"up-to-date\"";
    if (!id_json.empty()) {
        f.data += ",\"id\":";
        f.data += id_json;
    }
    f.data += ",\"offset\":\"";
    f.data += offset_text;
    f.data += "\"}";
    return f;
}

Frame must_refetch_frame(std::string_view id_json, std::string_view reason) {
    Frame f;
    f.data = frame_buffer();
    f.data += "{\"type\":\"must-refetch\"";
    if (!id_json.empty()) {
        f.data += ",\"id\":";
        f.data += id_json;
    }
    f.data += ",\"reason\":";
    record::append_json_string(f.data, reason);
    f.data += '}';
    return f;
}

Frame error_frame(std::string_view id_json, std::string_view code, std::string_view message) {
    Frame f;
    f.data = frame_buffer();
    f.data += "{\"type\":\"error\"";
    if (!id_json.empty()) {
        f.data += ",\"id\":";
        f.data += id_json;
    }
    f.data += ",\"code\":";
    record::append_json_string(f.data, code);
    f.data += ",\"message\":";
    record::append_json_string(f.data, message);
    f.data += '}';
    return f;
}

Frame raw_record_frame(std::string_view offset_text, std::string_view line) {
    Frame f;
    f.data = frame_buffer(line.size() + 48);
    f.data += kRawStart;
    f.data += offset_text;
    f.data += kRawEnd;
    f.data += line.substr(1); // the record's members after its '{'
    return f;
}

} // namespace pgsync::serve
