// PostgreSQL's built-in type OIDs (src/include/catalog/pg_type.dat; fixed at initdb and the same
// in every release): the one place pgsync names them. User types have OIDs from 16384 up.
#pragma once

#include <cstdint>

namespace pgsync::pg {

inline constexpr uint32_t kBoolOid = 16;          // BOOLOID
inline constexpr uint32_t kByteaOid = 17;         // BYTEAOID
inline constexpr uint32_t kNameOid = 19;          // NAMEOID
inline constexpr uint32_t kInt8Oid = 20;          // INT8OID
inline constexpr uint32_t kInt2Oid = 21;          // INT2OID
inline constexpr uint32_t kInt2VectorOid = 22;    // INT2VECTOROID
inline constexpr uint32_t kInt4Oid = 23;          // INT4OID
inline constexpr uint32_t kTextOid = 25;          // TEXTOID
inline constexpr uint32_t kOidOid = 26;           // OIDOID: the type oid itself
inline constexpr uint32_t kOidVectorOid = 30;     // OIDVECTOROID
inline constexpr uint32_t kJsonOid = 114;         // JSONOID
inline constexpr uint32_t kFloat4Oid = 700;       // FLOAT4OID
inline constexpr uint32_t kFloat8Oid = 701;       // FLOAT8OID
inline constexpr uint32_t kBpcharArrayOid = 1014; // BPCHARARRAYOID
inline constexpr uint32_t kBpcharOid = 1042;      // BPCHAROID: character(n)
inline constexpr uint32_t kVarcharOid = 1043;     // VARCHAROID
inline constexpr uint32_t kDateOid = 1082;        // DATEOID
inline constexpr uint32_t kTimestampOid = 1114;   // TIMESTAMPOID
inline constexpr uint32_t kTimestampTzOid = 1184; // TIMESTAMPTZOID
inline constexpr uint32_t kNumericOid = 1700;     // NUMERICOID
inline constexpr uint32_t kUuidOid = 2950;        // UUIDOID
inline constexpr uint32_t kJsonbOid = 3802;       // JSONBOID

} // namespace pgsync::pg
