// Evaluates a bound filter on one row image with SQL's three-valued logic, plus a fourth value
// for "depends on a column this image lacks".
#include "filter/evaluator.h"

#include "filter/bound_filter_impl.h"
#include "filter/cell_value.h"
#include "filter/like_match.h"

#include <algorithm>
#include <string>

namespace pgsync::filter {

namespace {

// False, True and Null as SQL has them; Unknown: the value depends on an Absent cell.
enum class Tri : char { False, True, Null, Unknown };

Tri from_bool(bool value) {
    return value ? Tri::True : Tri::False;
}

Tri negate(Tri value) {
    if (value == Tri::True) return Tri::False;
    if (value == Tri::False) return Tri::True;
    return value;
}

bool apply(CompareOp op, int order) {
    switch (op) {
    case CompareOp::Eq:
        return order == 0;
    case CompareOp::Ne:
        return order != 0;
    case CompareOp::Lt:
        return order < 0;
    case CompareOp::Le:
        return order <= 0;
    case CompareOp::Gt:
        return order > 0;
    case CompareOp::Ge:
        return order >= 0;
    }
    return false;
}

// AND: False wins; then Unknown (it might be False); then Null. OR mirrors it with True.
Tri combine(Tri a, Tri b, bool is_and) {
    const Tri dominant = is_and ? Tri::False : Tri::True;
    if (a == dominant || b == dominant) return dominant;
    if (a == Tri::Unknown || b == Tri::Unknown) return Tri::Unknown;
    if (a == Tri::Null || b == Tri::Null) return Tri::Null;
    return is_and ? Tri::True : Tri::False;
}

Tri evaluate_node(const BoundNode& node, std::span<const Cell> row) {
    switch (node.kind) {
    case BoundNode::Kind::And:
    case BoundNode::Kind::Or: {
        const bool is_and = node.kind == BoundNode::Kind::And;
        Tri result = is_and ? Tri::True : Tri::False;
        for (const BoundNode& child : node.children) {
            result = combine(result, evaluate_node(child, row), is_and);
            if (result == (is_and ? Tri::False : Tri::True)) break;
        }
        return result;
    }
    case BoundNode::Kind::Not:
        return negate(evaluate_node(node.children[0], row));
    case BoundNode::Kind::Constant:
        return from_bool(node.value);
    default:
        break;
    }

    const Cell cell = size_t(node.column) < row.size() ? row[size_t(node.column)] : Cell{};
    if (cell.kind == Cell::Kind::Absent) return Tri::Unknown;
    if (node.kind == BoundNode::Kind::IsNull)
        return from_bool((cell.kind == Cell::Kind::Null) != node.negated);
    if (cell.kind == Cell::Kind::Null) return Tri::Null;
    CellValue value;
    // A value that does not read as its type is treated like NULL: neither it nor NOT matches.
    if (!read_cell(node.compare, cell.json, value)) return Tri::Null;

    switch (node.kind) {
    case BoundNode::Kind::Compare:
        if (node.values[0].null) return Tri::Null;
        return from_bool(apply(node.op, compare_cell(node.compare, value, node.values[0])));
    case BoundNode::Kind::In: {
        // The cell's index key against the list's sorted keys: equal keys mean equal values
        // (filter/cell_value.h), so this is the list's = ANY without a scan.
        thread_local std::string key;
        Tri result = node.in_has_null ? Tri::Null : Tri::False;
        if (index_key_of_cell(node.compare, cell.json, key) &&
            std::binary_search(node.in_keys.begin(), node.in_keys.end(), key))
            result = Tri::True;
        return node.negated ? negate(result) : result;
    }
    case BoundNode::Kind::Between: {
        const BoundValue& low = node.values[0];
        const BoundValue& high = node.values[1];
        Tri above = low.null ? Tri::Null : from_bool(compare_cell(node.compare, value, low) >= 0);
        Tri below = high.null ? Tri::Null : from_bool(compare_cell(node.compare, value, high) <= 0);
        Tri result = combine(above, below, true);
        return node.negated ? negate(result) : result;
    }
    case BoundNode::Kind::Like: {
        if (node.values[0].null) return Tri::Null;
        bool match = node.like->matches(value.text);
        return from_bool(match != node.negated);
    }
    default:
        return Tri::Null;
    }
}

uint64_t node_cost(const BoundNode& node) {
    uint64_t cost = 1;
    for (const BoundNode& child : node.children)
        cost += node_cost(child);
    if (node.kind == BoundNode::Kind::Like && !node.values.empty())
        cost += 8 * (node.values[0].bytes.size() / 64 + 1);
    if (node.kind == BoundNode::Kind::In)
        for (size_t n = node.in_keys.size(); n > 1; n /= 2)
            ++cost;
    return cost;
}

} // namespace

uint64_t evaluation_cost(const BoundFilter& filter) {
    return node_cost(filter.root());
}

Match evaluate(const BoundFilter& filter, std::span<const Cell> row) {
    switch (evaluate_node(filter.root(), row)) {
    case Tri::True:
        return Match::Yes;
    case Tri::Unknown:
        return Match::Unknown;
    default:
        return Match::No;
    }
}

} // namespace pgsync::filter
