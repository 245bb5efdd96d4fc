# SPDX-License-Identifier: MIT
# Included by tests/CMakeLists.txt. Packaging checks:
#   exports_only_cg  libcgrad.so exports cg_* symbols only (nm -D)
#   install_consumer cmake --install into a temporary prefix, then an out-of-tree program built
#                    through find_package(cgrad) and through pkg-config must build and run.
find_program(CGRAD_NM NAMES nm llvm-nm)
if(CGRAD_NM)
  add_test(NAME exports_only_cg
           COMMAND sh ${CMAKE_CURRENT_SOURCE_DIR}/consumer/check_exports.sh $<TARGET_FILE:cgrad>)
  set_tests_properties(exports_only_cg PROPERTIES ENVIRONMENT "NM=${CGRAD_NM}" TIMEOUT 60)
endif()

find_program(CGRAD_BASH bash)
find_program(CGRAD_PKG_CONFIG pkg-config)
if(CGRAD_BASH AND CGRAD_PKG_CONFIG)
  set(_cgrad_consumer_flags "")
  if(CGRAD_SANITIZE)
    # The installed libraries are instrumented; the consumer links the sanitizer runtimes.
    set(_cgrad_consumer_flags -fsanitize=address,undefined -fno-omit-frame-pointer)
  endif()
  add_test(NAME install_consumer
           COMMAND ${CGRAD_BASH} ${CMAKE_CURRENT_SOURCE_DIR}/consumer/run.sh
                   ${CMAKE_COMMAND} ${PROJECT_BINARY_DIR} ${PROJECT_SOURCE_DIR} ${CMAKE_C_COMPILER}
                   ${_cgrad_consumer_flags})
  set_tests_properties(install_consumer PROPERTIES
    ENVIRONMENT "OMP_NUM_THREADS=2" TIMEOUT 300 PASS_REGULAR_EXPRESSION "OK: installed cgrad")
  unset(_cgrad_consumer_flags)
else()
  message(STATUS "install_consumer test skipped: needs bash and pkg-config")
endif()
