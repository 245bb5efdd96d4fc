# SPDX-License-Identifier: MIT
# The ThreadSanitizer build's controls (-DCGRAD_TSAN=ON, clang): tests/tsan/omp_race.c shows that
# the sanitizer sees a race planted inside an OpenMP region (its report is the pass condition) and
# that OpenMP's own barrier orders correct code (no report). scripts/test runs the whole unit suite
# in this build with OMP_NUM_THREADS=2, after these two.
if(CGRAD_TSAN)
  add_executable(omp_race ${CMAKE_CURRENT_SOURCE_DIR}/tsan/omp_race.c)
  set_target_properties(omp_race PROPERTIES RUNTIME_OUTPUT_DIRECTORY ${CMAKE_BINARY_DIR}/tests)
  target_link_libraries(omp_race PRIVATE OpenMP::OpenMP_C)
  add_test(NAME tsan_sees_openmp_race COMMAND omp_race racy)
  set_tests_properties(tsan_sees_openmp_race PROPERTIES LABELS tsan
    PASS_REGULAR_EXPRESSION "ThreadSanitizer: data race")
  add_test(NAME tsan_openmp_barrier_is_clean COMMAND omp_race clean)
  set_tests_properties(tsan_openmp_barrier_is_clean PROPERTIES LABELS tsan
    FAIL_REGULAR_EXPRESSION "ThreadSanitizer")
endif()
