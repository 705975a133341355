// Output format selection by name.
#include "record/formatter.h"

#include "util/error.h"

namespace pgsync::record {

std::unique_ptr<Formatter> make_formatter(std::string_view name, const ValueWriter& values,
                                          const FormatOptions& options) {
    if (name == "native") return make_native_formatter(values);
    if (name == "wal2json") return make_wal2json_formatter(values, options);
    if (name == "debezium") return make_debezium_formatter(values, options);
    throw usage_error("unknown output format \"" + std::string(name) + "\"",
                      "Use --format native, wal2json or debezium.");
}

} // namespace pgsync::record
