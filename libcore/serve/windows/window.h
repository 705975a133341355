// An ordered window: the rows of SELECT … WHERE filter ORDER BY order LIMIT n, kept up to date
// from row changes without asking the database, and what its subscribers must be sent.
//
// The window holds the first `limit` rows plus a margin, and knows every matching row that sorts
// up to its last held row ("complete up to the bound"): an insert or update at or before the
// bound is placed, one after it is ignored, and a row that leaves makes room for the next held
// one. Only when fewer than `limit` rows remain and rows may lie past the bound does it need a
// refill (the same query again, through the index): so a busy table costs a comparison per
// change and a query now and then, never a query per change or per subscriber.
//
// Subscribers are sent changes relative to the rows they were last sent: inserts and updates
// carry `before`, the key of the row they now precede (null: the end), so a client keeps the
// order without comparing values itself. Pure: the hub (serve/hub/hub_windows.cpp) feeds it.
#pragma once

#include "serve/shapes/shape.h"
#include "serve/windows/window_order.h"

#include <list>
#include <memory>
#include <string>
#include <unordered_map>
#include <unordered_set>
#include <vector>

namespace pgsync::serve {

// A row as a fill query returned it: one JSON token per table column ("null" for NULL).
using OwnedRow = std::vector<std::string>;

// The key objects ({"id":…}) a row change names: the row's after it and before it. Made once per
// change and shared by every window of the table, since a key-only delete concerns them all.
struct RowKeys {
    std::string new_key; // insert, update
    std::string old_key; // update, delete
};
RowKeys row_keys(const TableSchema& table, const RowImages& row);

class Window {
public:
    Window(std::shared_ptr<const Shape> shape, WindowOrder order, size_t limit);

    size_t limit() const { return m_limit; }
    // Rows a fill asks for: the limit, the margin, and one more that tells whether rows lie past.
    size_t fill_rows() const { return m_capacity + 1; }
    const WindowOrder& order() const { return m_order; }

    // The rows of a fill, in the query's order (sorted again here, by the same rules).
    void fill(std::vector<OwnedRow>&& rows);
    // A row change, as classify() judged it for the window's shape; keys are row_keys(row).
    void apply(ShapeOp op, const RowImages& row, const RowKeys& keys);
    // Whether the held rows no longer tell the first `limit`: a refill must run before the next
    // changes are sent.
    bool needs_fill() const;
    bool filled() const { return m_filled; }

    // The change tails (what follows a frame's id) that bring a subscriber from the rows last
    // sent to the rows now shown, which become the rows last sent. Empty when nothing shown
    // changed.
    std::vector<std::string> take_changes();
    // The tails that give a new subscriber the rows last sent: inserts with "snapshot":true.
    std::vector<std::string> snapshot() const;
    // Rows held (shown and margin), for metrics and tests.
    size_t held() const { return m_rows.size(); }

private:
    struct Row {
        std::vector<std::string> cells; // JSON token per table column; empty: not known
        std::string key;                // {"id":…}
        std::string value;              // the subscribed columns, the frame's "new"
        SortKey sort;
    };
    struct Shown {
        std::string key;
        std::string value;
    };
    // Places a row whose cells are complete; false when it cannot be sorted.
    bool place(Row&& row);
    bool finish_row(Row& row);
    long find(const std::string& key) const;
    void erase(long at);
    void trim();

    std::shared_ptr<const Shape> m_shape;
    WindowOrder m_order;
    size_t m_limit;
    size_t m_capacity;
    std::vector<Row> m_rows;                // sorted
    std::unordered_set<std::string> m_keys; // of m_rows: a change of a row not held costs a lookup
    bool m_complete = false;                // no matching row sorts after the last one held
    bool m_broken = false;                  // a change could not be placed: only a fill can tell
    bool m_filled = false;
    std::vector<Shown> m_shown; // what subscribers were last sent, in order
};

} // namespace pgsync::serve
