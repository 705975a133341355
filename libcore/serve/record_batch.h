// RecordBatch: records the log appended, copied for the WebSocket thread (the log's views end with
// its callback): one text buffer and an index of lines.
#pragma once

#include "serve/change_log.h"

#include <string>
#include <string_view>
#include <vector>

namespace pgsync::serve {

struct RecordBatch {
    struct Item {
        LogOffset offset;
        size_t begin = 0, length = 0;
        uint32_t xid = 0;
        bool commit = false;
    };
    std::string text;
    std::vector<Item> items;

    void add(const LogRecord& record) {
        items.push_back(
            {record.offset, text.size(), record.line.size(), record.xid, record.commit});
        text.append(record.line);
    }
    LogRecord at(size_t i) const {
        const Item& item = items[i];
        return {item.offset, std::string_view(text).substr(item.begin, item.length), item.xid,
                item.commit};
    }
};

} // namespace pgsync::serve
