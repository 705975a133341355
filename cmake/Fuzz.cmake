# Fuzz targets (HOUSE_STYLE 20): with clang and -DPGSYNC_FUZZ=ON, every libcore/**/*_fuzz.cpp
# becomes bin/fuzz_<name>, a libFuzzer binary with ASan and UBSan linked against its own
# instrumented copy of the core, and ctest runs each for PGSYNC_FUZZ_SECONDS. See scripts/fuzz.
option(PGSYNC_FUZZ "Build the libFuzzer targets (needs clang and libclang-rt-dev)" OFF)
set(PGSYNC_FUZZ_SECONDS 20 CACHE STRING "How long ctest runs each fuzz target, in seconds")
if(NOT PGSYNC_FUZZ)
  return()
endif()
if(NOT CMAKE_CXX_COMPILER_ID MATCHES "Clang")
  message(FATAL_ERROR "PGSYNC_FUZZ needs clang, but the C++ compiler is ${CMAKE_CXX_COMPILER_ID}: "
                      "configure a separate build directory with CC=clang CXX=clang++ (scripts/fuzz does)")
endif()

# UBSan findings abort like ASan's, so libFuzzer records them as crashes with a reproducer.
set(PGSYNC_FUZZ_SANITIZERS address,undefined)
set(PGSYNC_FUZZ_FLAGS -fno-sanitize-recover=undefined -fno-omit-frame-pointer -g)

# The core again, compiled for coverage feedback (fuzzer-no-link: no main of libFuzzer's).
file(GLOB_RECURSE fuzz_core_sources CONFIGURE_DEPENDS ${PROJECT_SOURCE_DIR}/libcore/*.cpp)
list(FILTER fuzz_core_sources EXCLUDE REGEX ".*_fuzz\\.cpp$")
add_library(pgsync_core_fuzz STATIC EXCLUDE_FROM_ALL ${fuzz_core_sources})
get_target_property(fuzz_core_includes pgsync_core INCLUDE_DIRECTORIES)
get_target_property(fuzz_core_links pgsync_core LINK_LIBRARIES)
target_include_directories(pgsync_core_fuzz PUBLIC ${fuzz_core_includes})
target_link_libraries(pgsync_core_fuzz PUBLIC ${fuzz_core_links})
target_compile_options(pgsync_core_fuzz PUBLIC
  -fsanitize=fuzzer-no-link,${PGSYNC_FUZZ_SANITIZERS} ${PGSYNC_FUZZ_FLAGS})

set(PGSYNC_FUZZ_TARGETS)
file(GLOB_RECURSE fuzz_sources CONFIGURE_DEPENDS ${PROJECT_SOURCE_DIR}/libcore/*_fuzz.cpp)
foreach(source IN LISTS fuzz_sources)
  get_filename_component(name ${source} NAME_WE)
  string(REGEX REPLACE "_fuzz$" "" name ${name})
  set(target fuzz_${name})
  add_executable(${target} EXCLUDE_FROM_ALL ${source})
  target_link_libraries(${target} PRIVATE pgsync_core_fuzz)
  target_compile_options(${target} PRIVATE -fsanitize=fuzzer,${PGSYNC_FUZZ_SANITIZERS})
  target_link_options(${target} PRIVATE -fsanitize=fuzzer,${PGSYNC_FUZZ_SANITIZERS})
  list(APPEND PGSYNC_FUZZ_TARGETS ${target})

  if(BUILD_TESTING)
    # New inputs go to the build tree's corpus; the committed seeds are only read.
    set(corpus ${CMAKE_BINARY_DIR}/fuzz-corpus/${name})
    set(seeds ${PROJECT_SOURCE_DIR}/tests/data/fuzz/${name})
    set(artifacts ${CMAKE_BINARY_DIR}/fuzz-artifacts/${name})
    file(MAKE_DIRECTORY ${corpus} ${seeds} ${artifacts})
    add_test(NAME "fuzz: ${name}"
             COMMAND ${target} -max_total_time=${PGSYNC_FUZZ_SECONDS} -rss_limit_mb=2048
                     -timeout=10 -print_final_stats=1 -artifact_prefix=${artifacts}/
                     ${corpus} ${seeds})
    math(EXPR fuzz_timeout "${PGSYNC_FUZZ_SECONDS} + 120")
    set_tests_properties("fuzz: ${name}" PROPERTIES TIMEOUT ${fuzz_timeout} LABELS fuzz)
  endif()
endforeach()

# One target to build them all: cmake --build build-fuzz --target fuzz_all
add_custom_target(fuzz_all DEPENDS ${PGSYNC_FUZZ_TARGETS})
