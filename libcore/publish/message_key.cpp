// Nats-Msg-Id text, formatted and parsed in this one place.
#include "publish/message_key.h"

#include <charconv>

namespace pgsync::publish {

std::string MessageKey::message_id() const {
    std::string out;
    offset.lsn.append_to(out);
    out += ':';
    out += std::to_string(offset.op);
    out += ':';
    out += std::to_string(rank);
    if (copy > 0) {
        out += ':';
        out += std::to_string(copy);
    }
    return out;
}

std::optional<MessageKey> MessageKey::parse(std::string_view text) {
    // Fields are separated by ':'; more tells whether one followed the field taken.
    bool more = true;
    auto take = [&text, &more](std::string_view& field) {
        if (!more) return false;
        const size_t colon = text.find(':');
        field = text.substr(0, colon);
        more = colon != std::string_view::npos;
        text = more ? text.substr(colon + 1) : std::string_view{};
        return !field.empty();
    };
    auto number = [](std::string_view digits, auto& out) {
        auto result = std::from_chars(digits.data(), digits.data() + digits.size(), out);
        return result.ec == std::errc() && result.ptr == digits.data() + digits.size();
    };
    std::string_view lsn_text, op_text, rank_text, copy_text;
    if (!take(lsn_text) || !take(op_text) || !take(rank_text)) return std::nullopt;
    const bool has_copy = more;
    if (has_copy && (!take(copy_text) || more)) return std::nullopt;
    MessageKey key;
    auto lsn = Lsn::parse(lsn_text);
    if (!lsn || !number(op_text, key.offset.op) || !number(rank_text, key.rank) ||
        (has_copy && !number(copy_text, key.copy)))
        return std::nullopt;
    key.offset.lsn = *lsn;
    return key;
}

} // namespace pgsync::publish
