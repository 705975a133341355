// Renders a bound filter as SQL for the initial load; see filter/render_sql.h. Identifiers come
// from the table's catalog and are quoted; every constant is a parameter with an explicit cast.
#include "filter/render_sql.h"

#include "filter/bound_filter_impl.h"
#include "pg/connection.h"

namespace pgsync::filter {

namespace {

class Renderer {
public:
    Renderer(const BoundFilter& filter, int first_param) : m_filter(filter), m_next(first_param) {}

    SqlFilter run() {
        render(m_filter.root());
        return std::move(m_out);
    }

private:
    void column(const BoundNode& node, bool collate) {
        const TableColumn& column = m_filter.columns()[size_t(node.column)];
        m_out.sql += pg::quote_ident(column.name);
        // oid has no cast to numeric; int8 holds every oid.
        if (node.compare == CompareKind::Decimal && column.type_oid == 26) m_out.sql += "::int8";
        if (collate && node.compare == CompareKind::Text) m_out.sql += " COLLATE \"C\"";
    }

    void value(const BoundNode& node, const BoundValue& value, bool like_pattern = false) {
        const char* type =
            like_pattern
                ? "text"
                : cast_type_name(node.compare, m_filter.columns()[size_t(node.column)].type_oid);
        if (value.null) {
            m_out.sql += "NULL::";
        } else {
            m_out.sql += '$' + std::to_string(m_next++) + "::";
            m_out.params.push_back(value.input);
        }
        m_out.sql += type;
    }

    void render(const BoundNode& node) {
        switch (node.kind) {
        case BoundNode::Kind::And:
        case BoundNode::Kind::Or:
            m_out.sql += '(';
            for (size_t i = 0; i < node.children.size(); ++i) {
                if (i) m_out.sql += node.kind == BoundNode::Kind::And ? " AND " : " OR ";
                render(node.children[i]);
            }
            m_out.sql += ')';
            return;
        case BoundNode::Kind::Not:
            m_out.sql += "NOT (";
            render(node.children[0]);
            m_out.sql += ')';
            return;
        case BoundNode::Kind::Constant:
            m_out.sql += node.value ? "TRUE" : "FALSE";
            return;
        case BoundNode::Kind::IsNull:
            column(node, false);
            m_out.sql += node.negated ? " IS NOT NULL" : " IS NULL";
            return;
        case BoundNode::Kind::Compare: {
            static constexpr const char* kOps[] = {" = ", " <> ", " < ", " <= ", " > ", " >= "};
            // Equality too: under a nondeterministic collation 'alice' = 'ALICE' would hold in
            // the database but not in the evaluator, and the load would leak rows.
            column(node, true);
            m_out.sql += kOps[int(node.op)];
            value(node, node.values[0]);
            return;
        }
        case BoundNode::Kind::In:
            column(node, true);
            m_out.sql += node.negated ? " NOT IN (" : " IN (";
            for (size_t i = 0; i < node.values.size(); ++i) {
                if (i) m_out.sql += ", ";
                value(node, node.values[i]);
            }
            m_out.sql += ')';
            return;
        case BoundNode::Kind::Between:
            column(node, true);
            m_out.sql += node.negated ? " NOT BETWEEN " : " BETWEEN ";
            value(node, node.values[0]);
            m_out.sql += " AND ";
            value(node, node.values[1]);
            return;
        case BoundNode::Kind::Like:
            column(node, true);
            m_out.sql += node.negated ? " NOT" : "";
            m_out.sql += node.case_insensitive ? " ILIKE " : " LIKE ";
            value(node, node.values[0], true);
            return;
        }
    }

    const BoundFilter& m_filter;
    int m_next;
    SqlFilter m_out;
};

} // namespace

SqlFilter render_sql(const BoundFilter& filter, int first_param) {
    return Renderer(filter, first_param).run();
}

} // namespace pgsync::filter
