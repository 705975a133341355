// libFuzzer target for the pgoutput decoder: arbitrary bytes as one XLogData payload, parsed as
// outside and inside a stream. Any outcome but a decoded message whose views all lie inside the
// input, or a pgsync::Error in the decoder's wording, is a bug.
#include "decode/pgoutput.h"
#include "util/error.h"

#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string_view>
#include <variant>

namespace {

using namespace pgsync::decode;

struct ViewCheck {
    std::string_view input;

    void inside(std::string_view view) const {
        if (view.empty()) return;
        if (view.data() < input.data() || view.data() + view.size() > input.data() + input.size())
            std::abort();
    }
    void tuple(const Tuple& values) const {
        for (const TupleValue& value : values)
            inside(value.data);
    }

    void operator()(const Origin& m) const { inside(m.name); }
    void operator()(const Relation& m) const {
        inside(m.schema);
        inside(m.name);
        for (const RelationColumn& column : m.columns)
            inside(column.name);
    }
    void operator()(const Type& m) const {
        inside(m.schema);
        inside(m.name);
    }
    void operator()(const Insert& m) const { tuple(m.new_tuple); }
    void operator()(const Update& m) const {
        if (m.old_kind == 0 && !m.old_tuple.empty()) std::abort(); // an old tuple needs 'K'/'O'
        tuple(m.old_tuple);
        tuple(m.new_tuple);
    }
    void operator()(const Delete& m) const { tuple(m.old_tuple); }
    void operator()(const LogicalMessage& m) const {
        inside(m.prefix);
        inside(m.content);
    }
    template <class Other> void operator()(const Other&) const {}
};

bool decoder_wording(std::string_view what) {
    return what.rfind("invalid pgoutput message: ", 0) == 0 ||
           what.rfind("unexpected pgoutput message ", 0) == 0;
}

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    std::string_view bytes(reinterpret_cast<const char*>(data), size);
    for (bool in_stream : {false, true}) {
        try {
            Message message = parse_message(bytes, in_stream);
            std::visit(ViewCheck{bytes}, message);
        } catch (const pgsync::Error& e) {
            if (!decoder_wording(e.what())) std::abort();
        }
    }
    return 0;
}
