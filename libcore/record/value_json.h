// ValueWriter: the one mapping of a PostgreSQL value's text output (COPY text format, pgoutput
// text tuples) to JSON, byte-identical to what to_json() gives for the value under pgsync's pinned
// session settings (see pg::pinned_settings and cdc-hard-cases T1-T18).
#pragma once

#include "pg/type_catalog.h"

#include <cstdint>
#include <string>
#include <string_view>

namespace pgsync::record {

struct ValueOptions {
    // Quote int8 and numeric values always (also inside arrays and composites), so consumers that
    // parse JSON numbers as doubles lose nothing. int2, int4 and floats stay numbers.
    bool numbers_as_strings = false;
};

// Stateless apart from per-thread scratch buffers for unescaping nested literals: one writer may
// serve many threads. The catalog must outlive the writer and hold every type it is asked about.
class ValueWriter {
public:
    explicit ValueWriter(const pg::TypeCatalog& catalog, ValueOptions options = {})
        : m_catalog(catalog), m_options(options) {}

    // The TypeInfo whose mapping applies to values of type_oid (a domain's ultimate base type).
    // Resolve once per column and pass it to append(). Throws pgsync::Error when not loaded.
    const pg::TypeInfo& resolve(uint32_t type_oid) const;

    // Appends the JSON of one non-NULL value given as PostgreSQL's text output for type. Throws
    // pgsync::Error naming the type when the text is malformed for it (an unbalanced array or
    // record literal) or a type it needs is not loaded; out may then hold a partial value.
    void append(std::string& out, const pg::TypeInfo& type, std::string_view text) const;
    void append(std::string& out, uint32_t type_oid, std::string_view text) const {
        append(out, resolve(type_oid), text);
    }

    const ValueOptions& options() const { return m_options; }

private:
    void append_value(std::string& out, const pg::TypeInfo& type, std::string_view text,
                      int depth) const;
    void append_array(std::string& out, const pg::TypeInfo& type, std::string_view text,
                      int depth) const;
    void append_vector(std::string& out, const pg::TypeInfo& type, std::string_view text,
                       int depth) const;
    void append_record(std::string& out, const pg::TypeInfo& type, std::string_view text,
                       int depth) const;

    const pg::TypeCatalog& m_catalog;
    ValueOptions m_options;
};

} // namespace pgsync::record
