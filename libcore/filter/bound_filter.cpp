// Binding a parsed where clause to a table: column resolution, type checks, constant conversion
// (filter/pg_input.h) and the canonical text that identifies a shape.
#include "filter/bound_filter.h"

#include "filter/bound_filter_impl.h"
#include "filter/cell_value.h"
#include "filter/pg_input.h"
#include "record/json_text.h"
#include "util/suggest.h"

#include <algorithm>

namespace pgsync::filter {

std::optional<ColumnType> column_type_of(uint32_t type_oid) {
    switch (base_kind(type_oid)) {
    case CompareKind::Bool:
        return ColumnType::Bool;
    case CompareKind::Int:
        return ColumnType::Int;
    case CompareKind::Decimal:
        return ColumnType::Numeric;
    case CompareKind::Float4:
    case CompareKind::Float8:
        return ColumnType::Float;
    case CompareKind::Text:
        return ColumnType::Text;
    case CompareKind::Uuid:
        return ColumnType::Uuid;
    case CompareKind::Date:
        return ColumnType::Date;
    case CompareKind::Timestamp:
        return ColumnType::Timestamp;
    case CompareKind::TimestampTz:
        return ColumnType::TimestampTz;
    case CompareKind::None:
        return std::nullopt;
    }
    return std::nullopt;
}

BoundFilter::BoundFilter(std::vector<TableColumn> columns, std::shared_ptr<const BoundNode> root,
                         std::vector<int> referenced)
    : m_columns(std::move(columns)), m_root(std::move(root)), m_referenced(std::move(referenced)) {}

namespace {

const char* kind_tag(CompareKind kind) {
    switch (kind) {
    case CompareKind::None:
        return "none";
    case CompareKind::Bool:
        return "bool";
    case CompareKind::Int:
        return "int";
    case CompareKind::Decimal:
        return "numeric";
    case CompareKind::Float8:
        return "float8";
    case CompareKind::Float4:
        return "float4";
    case CompareKind::Text:
        return "text";
    case CompareKind::Uuid:
        return "uuid";
    case CompareKind::Date:
        return "date";
    case CompareKind::Timestamp:
        return "timestamp";
    case CompareKind::TimestampTz:
        return "timestamptz";
    }
    return "none";
}

const char* op_text(CompareOp op) {
    switch (op) {
    case CompareOp::Eq:
        return "=";
    case CompareOp::Ne:
        return "<>";
    case CompareOp::Lt:
        return "<";
    case CompareOp::Le:
        return "<=";
    case CompareOp::Gt:
        return ">";
    case CompareOp::Ge:
        return ">=";
    }
    return "=";
}

void append_value(std::string& out, const BoundValue& value) {
    if (value.null)
        out += "NULL";
    else
        record::append_json_string(out, value.input);
}

void append_canonical(std::string& out, const BoundNode& node,
                      const std::vector<TableColumn>& columns) {
    auto column = [&] {
        record::append_json_string(out, columns[size_t(node.column)].name);
        out += ' ';
        out += kind_tag(node.compare);
    };
    switch (node.kind) {
    case BoundNode::Kind::And:
    case BoundNode::Kind::Or: {
        // Operand order does not change the meaning: sort, so a AND b is b AND a.
        std::vector<std::string> parts;
        for (const BoundNode& child : node.children) {
            std::string part;
            append_canonical(part, child, columns);
            parts.push_back(std::move(part));
        }
        std::sort(parts.begin(), parts.end());
        out += node.kind == BoundNode::Kind::And ? "and(" : "or(";
        for (size_t i = 0; i < parts.size(); ++i) {
            if (i) out += ',';
            out += parts[i];
        }
        out += ')';
        return;
    }
    case BoundNode::Kind::Not:
        out += "not(";
        append_canonical(out, node.children[0], columns);
        out += ')';
        return;
    case BoundNode::Kind::Constant:
        out += node.value ? "true" : "false";
        return;
    case BoundNode::Kind::Compare:
        out += "cmp(";
        column();
        out += ' ';
        out += op_text(node.op);
        out += ' ';
        append_value(out, node.values[0]);
        out += ')';
        return;
    case BoundNode::Kind::In: {
        out += node.negated ? "notin(" : "in(";
        column();
        std::vector<std::string> values;
        for (const BoundValue& value : node.values) {
            std::string text;
            append_value(text, value);
            values.push_back(std::move(text));
        }
        std::sort(values.begin(), values.end());
        values.erase(std::unique(values.begin(), values.end()), values.end());
        for (const std::string& value : values)
            out += ' ' + value;
        out += ')';
        return;
    }
    case BoundNode::Kind::IsNull:
        out += node.negated ? "notnull(" : "isnull(";
        record::append_json_string(out, columns[size_t(node.column)].name);
        out += ')';
        return;
    case BoundNode::Kind::Between:
        out += node.negated ? "notbetween(" : "between(";
        column();
        out += ' ';
        append_value(out, node.values[0]);
        out += ' ';
        append_value(out, node.values[1]);
        out += ')';
        return;
    case BoundNode::Kind::Like:
        out += node.negated ? "not" : "";
        out += node.case_insensitive ? "ilike(" : "like(";
        column();
        out += ' ';
        append_value(out, node.values[0]);
        out += ')';
        return;
    }
}

class Binder {
public:
    Binder(const std::vector<TableColumn>& columns,
           const std::vector<std::optional<std::string>>& params)
        : m_columns(columns), m_params(params) {}

    BindResult run(const Expr& expr) {
        BindResult result;
        auto root = std::make_shared<BoundNode>();
        if (!bind_node(expr, *root)) {
            result.error = std::move(m_error);
            return result;
        }
        std::sort(m_referenced.begin(), m_referenced.end());
        m_referenced.erase(std::unique(m_referenced.begin(), m_referenced.end()),
                           m_referenced.end());
        result.filter.emplace(m_columns, std::move(root), std::move(m_referenced));
        return result;
    }

private:
    bool fail(size_t position, std::string message) {
        m_error = {position, std::move(message)};
        return false;
    }

    std::string column_label(int column) const {
        return "column \"" + m_columns[size_t(column)].name + "\"";
    }

    int resolve_column(const Expr& expr) {
        for (size_t i = 0; i < m_columns.size(); ++i)
            if (m_columns[i].name == expr.column) {
                m_referenced.push_back(int(i));
                return int(i);
            }
        std::vector<std::string> names;
        for (const TableColumn& column : m_columns)
            names.push_back(column.name);
        std::string message = "column \"" + expr.column + "\" does not exist";
        if (auto suggestion = closest_word(expr.column, names))
            message += " (did you mean \"" + *suggestion + "\"?)";
        fail(expr.column_position, std::move(message));
        return -1;
    }

    bool bind_node(const Expr& expr, BoundNode& node) {
        node.kind = expr.kind;
        node.negated = expr.negated;
        node.case_insensitive = expr.case_insensitive;
        node.value = expr.value;
        node.op = expr.op;
        switch (expr.kind) {
        case Expr::Kind::And:
        case Expr::Kind::Or:
            for (const auto& child : expr.children) {
                BoundNode bound;
                if (!bind_node(*child, bound)) return false;
                // a AND (b AND c) is a AND b AND c: one level, one canonical text.
                if (bound.kind == node.kind) {
                    for (BoundNode& grandchild : bound.children)
                        node.children.push_back(std::move(grandchild));
                } else {
                    node.children.push_back(std::move(bound));
                }
            }
            return true;
        case Expr::Kind::Not:
            node.children.emplace_back();
            return bind_node(*expr.children[0], node.children[0]);
        case Expr::Kind::Constant:
            return true;
        case Expr::Kind::IsNull:
            node.column = resolve_column(expr);
            return node.column >= 0;
        case Expr::Kind::Compare:
        case Expr::Kind::In:
        case Expr::Kind::Between:
        case Expr::Kind::Like:
            break;
        }
        node.column = resolve_column(expr);
        if (node.column < 0) return false;
        const TableColumn& column = m_columns[size_t(node.column)];
        node.compare = base_kind(column.type_oid);
        if (node.compare == CompareKind::None) {
            std::string message = column_label(node.column) + " of type " +
                                  type_display_name(column.type_oid) +
                                  " cannot be used in a filter (only IS [NOT] NULL can)";
            if (column.type_oid == 1042)
                message += "; blank-padded character comparisons are not supported, use varchar "
                           "or text";
            return fail(expr.column_position, std::move(message));
        }
        if (expr.kind == Expr::Kind::Like && node.compare != CompareKind::Text)
            return fail(expr.column_position, column_label(node.column) + " has type " +
                                                  type_display_name(column.type_oid) +
                                                  ", but LIKE and ILIKE need a text column");
        // An integer column compared with a number that is not an integer of its range compares
        // exactly as numeric (PostgreSQL reads such a literal as numeric: int_col = 1.5 is false).
        if (node.compare == CompareKind::Int)
            for (const Operand& operand : expr.operands)
                if (operand.kind == Operand::Kind::Number &&
                    !number_fits_integer(operand.text, column.type_oid))
                    node.compare = CompareKind::Decimal;
        if (expr.kind == Expr::Kind::In && expr.operands.size() > kMaxInValues)
            return fail(expr.column_position,
                        "IN list has " + std::to_string(expr.operands.size()) +
                            " values, the limit is " + std::to_string(kMaxInValues));
        for (const Operand& operand : expr.operands) {
            BoundValue value;
            if (!bind_value(operand, node, value)) return false;
            node.values.push_back(std::move(value));
        }
        if (node.kind == BoundNode::Kind::Like && !node.values[0].null) {
            const std::string& pattern = node.values[0].bytes;
            if (pattern.size() > kMaxLikePatternBytes)
                return fail(expr.operands[0].position,
                            "LIKE pattern is too long (" + std::to_string(pattern.size()) +
                                " bytes, the limit is " + std::to_string(kMaxLikePatternBytes) +
                                ")");
            node.like = std::make_shared<LikePattern>(pattern, node.case_insensitive);
        }
        if (node.kind == BoundNode::Kind::In) {
            std::string key;
            for (const BoundValue& value : node.values) {
                if (value.null)
                    node.in_has_null = true;
                else if (index_key_of_value(node.compare, value, key))
                    node.in_keys.push_back(key);
            }
            std::sort(node.in_keys.begin(), node.in_keys.end());
            node.in_keys.erase(std::unique(node.in_keys.begin(), node.in_keys.end()),
                               node.in_keys.end());
        }
        return true;
    }

    bool bind_value(const Operand& operand, const BoundNode& node, BoundValue& value) {
        const TableColumn& column = m_columns[size_t(node.column)];
        const bool like = node.kind == BoundNode::Kind::Like;
        std::string error;
        switch (operand.kind) {
        case Operand::Kind::Null:
            value.null = true;
            return true;
        case Operand::Kind::Param: {
            if (size_t(operand.param) > m_params.size())
                return fail(operand.position,
                            "there is no parameter $" + std::to_string(operand.param));
            const auto& param = m_params[size_t(operand.param) - 1];
            if (!param) {
                value.null = true;
                return true;
            }
            if (!convert_text(*param, node.compare, column.type_oid, like, value, error))
                return fail(operand.position,
                            error + " (parameter $" + std::to_string(operand.param) + ")");
            return true;
        }
        case Operand::Kind::String:
            if (!convert_text(operand.text, node.compare, column.type_oid, like, value, error))
                return fail(operand.position, std::move(error));
            return true;
        case Operand::Kind::Number:
            if (node.compare == CompareKind::Int || node.compare == CompareKind::Decimal ||
                node.compare == CompareKind::Float4 || node.compare == CompareKind::Float8) {
                if (!convert_number(operand.text, node.compare, column.type_oid, value, error))
                    return fail(operand.position, std::move(error));
                return true;
            }
            return fail(operand.position, "cannot compare " + column_label(node.column) +
                                              " of type " + type_display_name(column.type_oid) +
                                              " with the number " + operand.text +
                                              " (write the value in quotes)");
        case Operand::Kind::Boolean:
            if (node.compare == CompareKind::Bool) {
                value.boolean = operand.text == "true";
                value.input = operand.text;
                return true;
            }
            return fail(operand.position, "cannot compare " + column_label(node.column) +
                                              " of type " + type_display_name(column.type_oid) +
                                              " with a boolean");
        }
        return false;
    }

    const std::vector<TableColumn>& m_columns;
    const std::vector<std::optional<std::string>>& m_params;
    std::vector<int> m_referenced;
    BindError m_error;
};

} // namespace

std::vector<int> BoundFilter::equality_columns() const {
    std::vector<int> out;
    auto visit = [&](const BoundNode& node, auto& self) -> void {
        if (node.kind == BoundNode::Kind::And)
            for (const auto& child : node.children)
                self(child, self);
        else if (node.kind == BoundNode::Kind::Compare && node.op == CompareOp::Eq &&
                 !node.values.empty() && !node.values[0].null)
            out.push_back(node.column);
    };
    visit(*m_root, visit);
    std::sort(out.begin(), out.end());
    out.erase(std::unique(out.begin(), out.end()), out.end());
    return out;
}

std::string BoundFilter::canonical() const {
    std::string out;
    append_canonical(out, *m_root, m_columns);
    return out;
}

BindResult bind(const Expr& expr, const std::vector<TableColumn>& columns,
                const std::vector<std::optional<std::string>>& params) {
    return Binder(columns, params).run(expr);
}

} // namespace pgsync::filter
