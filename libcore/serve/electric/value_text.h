// Electric's value encoding: a column value as PostgreSQL's text output (under Electric's session
// settings: DateStyle ISO, TimeZone UTC, bytea hex, shortest exact floats), recovered from the
// native JSON token pgsync's change log and loads carry (record/value_json.h maps text to JSON;
// this maps it back). The one answer to "what does an Electric client get for this value".
#pragma once

#include "pg/type_catalog.h"

#include <string>
#include <string_view>

namespace pgsync::serve::electric {

// Appends the text of one non-NULL value of type (a column's declared type; domains resolve to
// their base) given as the JSON token record::ValueWriter wrote for it: numbers as written, bool
// as "t"/"f" (the replication path's text), strings unescaped, timestamps back from XSD form
// ("2024-01-02T03:04:05+00:00" to "2024-01-02 03:04:05+00"), json/jsonb as the JSON text, arrays
// as array literals ({1,2}, {"a b",NULL}, nested), composites as record literals. False when the
// token does not fit the type (out may then hold part of it).
//
// The text is PostgreSQL's byte for byte except where the JSON has lost the difference: a json or
// jsonb element or field holding JSON null comes back as NULL (to_json writes null for both), an
// array's "[lo:hi]=" bounds are gone, and a compact jsonb token gets jsonb's spacing but keeps its
// key order. json and jsonb arrays are read as one dimension (a nested JSON array is a value).
bool append_value_text(std::string& out, const pg::TypeInfo& type, std::string_view json_token);

} // namespace pgsync::serve::electric
