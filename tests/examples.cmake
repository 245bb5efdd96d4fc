# SPDX-License-Identifier: MIT
# Included by tests/CMakeLists.txt. The examples/ programs, run on small data
# (tests/examples/run.sh says what each checks):
#   example_inception  train + save, resume in a second process, predict single images
#   example_spec_idx   a spec net trained on IDX files with the trainer's progress callbacks
find_program(CGRAD_BASH bash)
find_program(CGRAD_PYTHON3 NAMES python3)
if(NOT CGRAD_BUILD_EXAMPLES OR NOT CGRAD_BASH OR NOT CGRAD_PYTHON3)
  return()
endif()
foreach(t inception spec_idx)
  add_test(NAME example_${t}
           COMMAND ${CGRAD_BASH} ${CMAKE_CURRENT_SOURCE_DIR}/examples/run.sh ${t}
                   ${PROJECT_BINARY_DIR}/examples ${PROJECT_SOURCE_DIR} ${CGRAD_PYTHON3})
  set_tests_properties(example_${t} PROPERTIES LABELS examples ENVIRONMENT "OMP_NUM_THREADS=2"
                       TIMEOUT 120 PASS_REGULAR_EXPRESSION "OK: example ${t}")
endforeach()
