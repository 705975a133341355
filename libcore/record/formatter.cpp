// Output format selection by name.
#include "record/formatter.h"

#include "util/error.h"

#include <charconv>
#include <cstring>

namespace pgsync::record {

std::unique_ptr<Formatter> make_formatter(std::string_view name, const ValueWriter& values,
                                          const FormatOptions& options) {
    if (name == "native") return make_native_formatter(values);
    if (name == "wal2json") return make_wal2json_formatter(values, options);
    if (name == "debezium") return make_debezium_formatter(values, options);
    throw usage_error("unknown output format \"" + std::string(name) + "\"",
                      "Use --format native, wal2json or debezium.");
}

void Formatter::expand(std::string& out, std::string_view deferred, const TxnInfo& txn,
                       uint32_t& seq) {
    while (!deferred.empty()) {
        const void* found = std::memchr(deferred.data(), '\0', deferred.size());
        const size_t at =
            found ? size_t(static_cast<const char*>(found) - deferred.data()) : deferred.size();
        out.append(deferred.data(), at);
        if (at + 1 >= deferred.size()) break; // no marker left (a lone NUL cannot occur)
        if (deferred[at + 1] == kSeqMarker) {
            char buf[12];
            out.append(buf, size_t(std::to_chars(buf, buf + sizeof buf, seq++).ptr - buf));
        } else {
            append_deferred_txn(out, txn);
        }
        deferred.remove_prefix(at + 2);
    }
}

void Formatter::append_deferred_txn(std::string&, const TxnInfo&) {
    throw Error("internal error: a format without deferred rendering got a deferred change");
}

} // namespace pgsync::record
