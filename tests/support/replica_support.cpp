// StreamWriter (replica_support.h), over cnats directly.
#include "replica_support.h"

#include "changelog/log_offset.h"
#include "record/record_scan.h"

#include <catch2/catch.hpp>
#include <chrono>
#include <nats/nats.h>
#include <thread>

namespace pgsync::test {

struct StreamWriter::Tracker {
    serve::OffsetTracker offsets;
};

StreamWriter::StreamWriter(const std::string& url, const std::string& stream)
    : m_stream(stream), m_tracker(std::make_unique<Tracker>()) {
    REQUIRE(natsConnection_ConnectTo(&m_connection, url.c_str()) == NATS_OK);
    REQUIRE(natsConnection_JetStream(&m_js, m_connection, nullptr) == NATS_OK);
}

StreamWriter::~StreamWriter() {
    jsCtx_Destroy(m_js);
    natsConnection_Destroy(m_connection);
}

void StreamWriter::create_stream(int replicas) {
    jsStreamConfig config;
    jsStreamConfig_Init(&config);
    const std::string subjects = "pgsync." + m_stream + ".>";
    const char* list[] = {subjects.c_str()};
    config.Name = m_stream.c_str();
    config.Subjects = list;
    config.SubjectsLen = 1;
    config.Storage = js_FileStorage;
    config.Replicas = replicas;
    jsStreamInfo* info = nullptr;
    jsErrCode code = static_cast<jsErrCode>(0);
    REQUIRE(js_AddStream(&info, m_js, &config, nullptr, &code) == NATS_OK);
    jsStreamInfo_Destroy(info);
}

void StreamWriter::delete_stream() {
    jsErrCode code = static_cast<jsErrCode>(0);
    REQUIRE(js_DeleteStream(m_js, m_stream.c_str(), nullptr, &code) == NATS_OK);
}

uint64_t StreamWriter::last_sequence() {
    jsStreamInfo* info = nullptr;
    jsErrCode code = static_cast<jsErrCode>(0);
    REQUIRE(js_GetStreamInfo(&info, m_js, m_stream.c_str(), nullptr, &code) == NATS_OK);
    const uint64_t last = info->State.LastSeq;
    jsStreamInfo_Destroy(info);
    return last;
}

void StreamWriter::publish(const std::string& ndjson) {
    size_t begin = 0;
    while (begin < ndjson.size()) {
        size_t end = ndjson.find('\n', begin);
        if (end == std::string::npos) end = ndjson.size();
        if (end > begin) publish_line(ndjson.substr(begin, end - begin));
        begin = end + 1;
    }
}

void StreamWriter::publish_line(const std::string& line) {
    record::ScannedRecord record;
    REQUIRE(record::scan_record(line, record));
    serve::LogOffset offset;
    uint32_t rank = 0;
    REQUIRE(m_tracker->offsets.next(record, offset, rank));
    const bool row = record.op == "insert" || record.op == "update" || record.op == "delete";
    std::vector<std::string> subjects;
    const std::string prefix = "pgsync." + m_stream + ".";
    if (row || record.op == "truncate") {
        subjects.push_back(prefix + std::string(record.schema.empty() ? "x" : record.schema) + "." +
                           std::string(record.table.empty() ? "x" : record.table) + "." +
                           std::string(record.op));
        if (record.op == "insert") subjects.push_back(prefix + "added"); // a channel's copy
    } else {
        subjects.push_back(prefix + "_txn");
    }
    const Lsn commit = record.transactional() ? record.commit_lsn : record.lsn;
    for (size_t copy = 0; copy < subjects.size(); ++copy) {
        natsMsg* message = nullptr;
        REQUIRE(natsMsg_Create(&message, subjects[copy].c_str(), nullptr, line.data(),
                               int(line.size())) == NATS_OK);
        std::string id =
            commit.str() + ":" + std::to_string(offset.op) + ":" + std::to_string(rank);
        if (copy) id += ":" + std::to_string(copy);
        natsMsgHeader_Set(message, "Nats-Msg-Id", id.c_str());
        natsMsgHeader_Set(message, "Pgsync-Offset", offset.str().c_str());
        natsMsgHeader_Set(message, "Pgsync-Op", std::string(record.op).c_str());
        natsMsgHeader_Set(message, "Pgsync-Commit-Lsn", commit.str().c_str());
        natsMsgHeader_Set(message, "Pgsync-Copy", std::to_string(copy).c_str());
        natsStatus status = NATS_ERR;
        for (int attempt = 0; attempt < 60 && status != NATS_OK; ++attempt) {
            if (attempt) std::this_thread::sleep_for(std::chrono::milliseconds(500));
            jsPubAck* ack = nullptr;
            jsErrCode code = static_cast<jsErrCode>(0);
            status = js_PublishMsg(&ack, m_js, message, nullptr, &code);
            jsPubAck_Destroy(ack);
        }
        natsMsg_Destroy(message);
        REQUIRE(status == NATS_OK);
    }
}

} // namespace pgsync::test
