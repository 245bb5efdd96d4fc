# SPDX-License-Identifier: MIT
# Included by tests/CMakeLists.txt: a net built in C, saved with its spec, evaluated by mnist-eval
# (tests/spec_write/eval.sh), on the synthetic MNIST-format set of tests/mnist.
find_program(CGRAD_BASH bash)
find_program(CGRAD_PYTHON3 NAMES python3)
if(NOT CGRAD_BASH OR NOT CGRAD_PYTHON3)
  return()
endif()
add_executable(c_net_save ${CMAKE_CURRENT_SOURCE_DIR}/spec_write/c_net_save.c)
target_link_libraries(c_net_save PRIVATE cgrad_static)
set_target_properties(c_net_save PROPERTIES RUNTIME_OUTPUT_DIRECTORY ${CMAKE_BINARY_DIR}/tests)
add_test(NAME spec_write_eval
         COMMAND ${CGRAD_BASH} ${CMAKE_CURRENT_SOURCE_DIR}/spec_write/eval.sh ${CMAKE_BINARY_DIR}/bin
                 ${PROJECT_SOURCE_DIR} ${CGRAD_PYTHON3} $<TARGET_FILE:c_net_save>)
set_tests_properties(spec_write_eval PROPERTIES LABELS mnist ENVIRONMENT "OMP_NUM_THREADS=2" TIMEOUT 300)
