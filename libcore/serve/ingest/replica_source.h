// A pgsync-serve replica's source: `nats://host:port[,host:port…]/STREAM`, a NATS JetStream stream
// that pgsync-publish writes, and the log epoch derived from it, the same on every replica.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace pgsync::serve {

struct ReplicaSource {
    std::string urls;   // "nats://a:4222,nats://b:4222", as cnats takes a server list
    std::string stream; // the JetStream stream's name
};

// Parses "nats://HOST:PORT[,HOST:PORT|nats://HOST:PORT…]/STREAM"; nullopt with why filled in when
// it is not one (another scheme, no stream, a stream name NATS does not allow).
std::optional<ReplicaSource> parse_replica_source(std::string_view text, std::string& why);

// The log epoch of a replica of stream: the first 16 upper-case hex digits of
// SHA-256("nats:" + stream + ":" + created), created being the stream's creation time in
// nanoseconds since the Unix epoch as decimal. A stream deleted and created again is a new epoch.
std::string replica_epoch(const std::string& stream, int64_t created_ns);

} // namespace pgsync::serve
