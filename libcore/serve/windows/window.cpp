// Ordered windows: placing changes, refill decisions and the frames that move subscribers along.
#include "serve/windows/window.h"

#include <algorithm>
#include <unordered_set>

namespace pgsync::serve {

namespace {

std::vector<filter::Cell> as_cells(const std::vector<std::string>& tokens) {
    std::vector<filter::Cell> cells(tokens.size());
    for (size_t i = 0; i < tokens.size(); ++i) {
        if (tokens[i].empty()) continue; // Absent
        cells[i] = tokens[i] == "null" ? filter::Cell{filter::Cell::Kind::Null, {}}
                                       : filter::Cell{filter::Cell::Kind::Json, tokens[i]};
    }
    return cells;
}

void append_upsert(std::string& out, bool insert, bool snapshot, std::string_view key,
                   std::string_view value, const std::string* before) {
    out += insert ? ",\"op\":\"insert\"" : ",\"op\":\"update\"";
    if (snapshot) out += ",\"snapshot\":true";
    out += ",\"key\":";
    out += key;
    out += ",\"new\":";
    out += value;
    out += ",\"before\":";
    out += before ? std::string_view(*before) : std::string_view("null");
    out += '}';
}

} // namespace

RowKeys row_keys(const TableSchema& table, const RowImages& row) {
    RowKeys keys;
    if (row.op != RowImages::Op::Delete)
        append_row_object(keys.new_key, table, table.key_columns, row.new_cells);
    if (row.op != RowImages::Op::Insert)
        append_row_object(keys.old_key, table, table.key_columns, row.old_cells);
    return keys;
}

Window::Window(std::shared_ptr<const Shape> shape, WindowOrder order, size_t limit)
    : m_shape(std::move(shape)), m_order(std::move(order)), m_limit(limit),
      m_capacity(limit + std::max<size_t>(10, limit / 2)) {}

bool Window::finish_row(Row& row) {
    const TableSchema& table = *m_shape->table;
    const std::vector<filter::Cell> cells = as_cells(row.cells);
    if (!read_sort_key(m_order, cells, row.sort)) return false;
    for (int column : table.key_columns)
        if (row.cells[size_t(column)].empty()) return false;
    for (int column : m_shape->selected)
        if (row.cells[size_t(column)].empty()) return false;
    row.key.clear();
    append_row_object(row.key, table, table.key_columns, cells);
    row.value.clear();
    append_row_object(row.value, table, m_shape->selected, cells);
    return true;
}

long Window::find(const std::string& key) const {
    if (!m_keys.count(key)) return -1;
    for (size_t i = 0; i < m_rows.size(); ++i)
        if (m_rows[i].key == key) return long(i);
    return -1;
}

void Window::erase(long at) {
    m_keys.erase(m_rows[size_t(at)].key);
    m_rows.erase(m_rows.begin() + at);
}

void Window::trim() {
    while (m_rows.size() > m_capacity) {
        m_keys.erase(m_rows.back().key);
        m_rows.pop_back();
        m_complete = false;
    }
}

void Window::fill(std::vector<OwnedRow>&& rows) {
    const size_t returned = rows.size();
    m_rows.clear();
    for (auto& cells : rows) {
        Row row;
        row.cells = std::move(cells);
        if (finish_row(row)) m_rows.push_back(std::move(row));
    }
    std::stable_sort(m_rows.begin(), m_rows.end(), [&](const Row& a, const Row& b) {
        return compare_sort_keys(m_order, a.sort, b.sort) < 0;
    });
    m_complete = returned < fill_rows();
    m_keys.clear();
    for (const Row& row : m_rows)
        m_keys.insert(row.key);
    trim();
    m_broken = false;
    m_filled = true;
}

bool Window::place(Row&& row) {
    // Every matching row up to the last one held is held: one past it may not be the next.
    if (!m_complete &&
        (m_rows.empty() || compare_sort_keys(m_order, row.sort, m_rows.back().sort) > 0))
        return true;
    auto at = std::upper_bound(m_rows.begin(), m_rows.end(), row, [&](const Row& a, const Row& b) {
        return compare_sort_keys(m_order, a.sort, b.sort) < 0;
    });
    m_keys.insert(row.key);
    m_rows.insert(at, std::move(row));
    trim();
    return true;
}

void Window::apply(ShapeOp op, const RowImages& change, const RowKeys& keys) {
    if (op == ShapeOp::None || !m_filled) return;
    const TableSchema& table = *m_shape->table;
    if (op == ShapeOp::Delete) {
        const long at = find(keys.old_key);
        if (at >= 0) erase(at);
        return;
    }
    // Insert or update: the row as it is now, its unchanged TOASTed values from the row held.
    Row row;
    long held = find(keys.new_key);
    if (held < 0 && change.op == RowImages::Op::Update) held = find(keys.old_key);
    row.cells.resize(table.columns.size());
    for (size_t c = 0; c < table.columns.size(); ++c) {
        const filter::Cell& cell = change.new_cells[c];
        if (cell.kind == filter::Cell::Kind::Json)
            row.cells[c].assign(cell.json);
        else if (cell.kind == filter::Cell::Kind::Null)
            row.cells[c] = "null";
        else if (held >= 0)
            row.cells[c] = m_rows[size_t(held)].cells[c];
    }
    if (held >= 0) erase(held);
    if (!finish_row(row)) {
        // A value it needs is unknown (an unchanged TOASTed value of a row not held). Past the
        // last row held it does not matter; otherwise only the database can tell.
        SortKey sort;
        const bool beyond = !m_complete && !m_rows.empty() &&
                            read_sort_key(m_order, as_cells(row.cells), sort) &&
                            compare_sort_keys(m_order, sort, m_rows.back().sort) > 0;
        if (!beyond) m_broken = true;
        return;
    }
    place(std::move(row));
}

bool Window::needs_fill() const {
    return !m_filled || m_broken || (!m_complete && m_rows.size() < m_limit);
}

std::vector<std::string> Window::take_changes() {
    std::vector<std::string> tails;
    const size_t n = std::min(m_limit, m_rows.size());
    bool same = n == m_shown.size();
    for (size_t i = 0; same && i < n; ++i)
        same = m_rows[i].key == m_shown[i].key && m_rows[i].value == m_shown[i].value;
    if (same) return tails;

    std::unordered_set<std::string_view> now;
    for (size_t i = 0; i < n; ++i)
        now.insert(m_rows[i].key);
    // What the subscriber holds, simulated as the frames are made: its order, by key.
    struct Held {
        std::string_view key, value;
    };
    std::list<Held> held;
    std::unordered_map<std::string_view, std::list<Held>::iterator> where;
    for (const Shown& shown : m_shown) {
        if (!now.count(shown.key)) {
            tails.push_back(",\"op\":\"delete\",\"key\":" + shown.key + "}");
            continue;
        }
        held.push_back({shown.key, shown.value});
        where[shown.key] = std::prev(held.end());
    }
    // From the last row to the first, so that the row each frame names in "before" is already
    // where it belongs.
    for (size_t i = n; i-- > 0;) {
        const Row& row = m_rows[i];
        const std::string* next = i + 1 < n ? &m_rows[i + 1].key : nullptr;
        auto place_before = held.end();
        if (next) place_before = where.at(*next);
        auto it = where.find(row.key);
        if (it != where.end()) {
            auto after = std::next(it->second);
            if (it->second->value == row.value && after == place_before) continue;
            held.erase(it->second);
        }
        std::string tail;
        append_upsert(tail, it == where.end(), false, row.key, row.value, next);
        tails.push_back(std::move(tail));
        where[row.key] = held.insert(place_before, {row.key, row.value});
    }
    m_shown.clear();
    for (size_t i = 0; i < n; ++i)
        m_shown.push_back({m_rows[i].key, m_rows[i].value});
    return tails;
}

std::vector<std::string> Window::snapshot() const {
    std::vector<std::string> tails;
    for (size_t i = m_shown.size(); i-- > 0;) {
        std::string tail;
        append_upsert(tail, true, true, m_shown[i].key, m_shown[i].value,
                      i + 1 < m_shown.size() ? &m_shown[i + 1].key : nullptr);
        tails.push_back(std::move(tail));
    }
    return tails;
}

} // namespace pgsync::serve
