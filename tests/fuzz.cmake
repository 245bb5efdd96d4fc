# SPDX-License-Identifier: MIT
# libFuzzer targets (CGRAD_FUZZ=ON, clang only). Configure the whole build with the sanitizers so
# the library is instrumented the same way:
#   CC=clang cmake -S . -B build-fuzz -DCGRAD_FUZZ=ON -DCGRAD_SANITIZE=ON -DCMAKE_BUILD_TYPE=Debug
#   cmake --build build-fuzz -j2 && (cd build-fuzz && ctest -R fuzz_ --output-on-failure)
# A target is tests/fuzz/<name>.c with seeds in tests/fuzz/<corpus>/; add one with one line:
#   cgrad_fuzz_target(<name> <corpus> [seconds])
# Its ctest copies the seeds to a fresh working corpus (the source tree is never written) and
# fuzzes for 20 s (or the seconds given); a crash leaves its input as <build>/fuzz/<name>-crash-*.
# fuzz_spec runs 60 s: the spec grammar is the widest surface (its first crash took 3 minutes).
if(CGRAD_FUZZ)
  if(NOT CMAKE_C_COMPILER_ID MATCHES "Clang")
    message(WARNING "CGRAD_FUZZ needs clang (CC=clang); the fuzz targets are not built")
  else()
    if(NOT CGRAD_SANITIZE)
      message(WARNING "CGRAD_FUZZ without CGRAD_SANITIZE: the library is not checked by ASan/UBSan")
    endif()
    # Coverage for the library itself, or libFuzzer sees only the harness; the fuzzer runtime is
    # linked into the fuzz executables alone.
    target_compile_options(cgrad_objects PRIVATE -fsanitize=fuzzer-no-link)
    file(MAKE_DIRECTORY ${CMAKE_BINARY_DIR}/fuzz)

    function(cgrad_fuzz_target name corpus)
      set(seconds 20)
      if(ARGC GREATER 2)
        set(seconds ${ARGV2})
      endif()
      add_executable(${name} ${CMAKE_CURRENT_SOURCE_DIR}/fuzz/${name}.c)
      set_target_properties(${name} PROPERTIES RUNTIME_OUTPUT_DIRECTORY ${CMAKE_BINARY_DIR}/tests)
      target_compile_options(${name} PRIVATE -fsanitize=fuzzer,address,undefined)
      target_link_options(${name} PRIVATE -fsanitize=fuzzer,address,undefined)
      target_link_libraries(${name} PRIVATE cgrad_static)
      set(work ${CMAKE_BINARY_DIR}/fuzz/${name}-corpus)
      add_test(NAME ${name}
        COMMAND sh -c "rm -rf '${work}' && mkdir -p '${work}' && cp '${CMAKE_CURRENT_SOURCE_DIR}/fuzz/${corpus}'/* '${work}'/ && exec \"$0\" -max_total_time=${seconds} -rss_limit_mb=1024 -artifact_prefix='${CMAKE_BINARY_DIR}/fuzz/${name}-' '${work}'"
                $<TARGET_FILE:${name}>)
      math(EXPR timeout "${seconds} + 100")
      set_tests_properties(${name} PROPERTIES TIMEOUT ${timeout} LABELS fuzz)
    endfunction()

    cgrad_fuzz_target(fuzz_idx corpus_idx)
    cgrad_fuzz_target(fuzz_safetensors corpus_safetensors)
    cgrad_fuzz_target(fuzz_spec corpus_spec 60)
  endif()
endif()
