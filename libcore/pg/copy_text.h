// Decoding of COPY ... TO STDOUT text format rows: tab-separated fields, \N for NULL, backslash
// escapes. Fields are handed out as views; only fields that hold an escape are copied.
#pragma once

#include <string>
#include <string_view>
#include <vector>

namespace pgsync::pg {

class CopyTextRow {
public:
    // Splits one row (with or without its trailing newline). Returns false when the row does not
    // have exactly `columns` fields. Views stay valid until the next parse() or the line changes.
    bool parse(std::string_view line, size_t columns);

    size_t size() const { return m_fields.size(); }
    bool is_null(size_t i) const { return m_fields[i].null; }
    std::string_view value(size_t i) const { return m_fields[i].value; }

private:
    struct Field {
        std::string_view value;
        bool null = false;
    };
    std::vector<Field> m_fields;
    std::string m_scratch; // unescaped copies, reserved per row so views never move
};

// Decodes COPY text escapes in one field (no tab or newline inside).
void unescape_copy_field(std::string_view field, std::string& out);

} // namespace pgsync::pg
