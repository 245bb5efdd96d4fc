# SPDX-License-Identifier: MIT
# Included by tests/CMakeLists.txt: the Python package python/cgrad and cgrad-torch (docs/interop.md),
# run with Debian's /usr/bin/python3 from the source tree. Labels: python; torch where PyTorch is
# needed (skipped, 77, without it, as CI has no PyTorch); the ONNX tests skip without python3-onnx.
#   python_safetensors   the reader/writer: round trips, bytes equal to files cgrad writes, bad files
#   python_onnx_import   ONNX graphs built with onnx.helper -> cgrad, against a NumPy evaluation
#   python_cli           cgrad-torch's errors, exit codes, atomic outputs (no PyTorch)
#   python_torch         spec -> PyTorch -> cgrad -> PyTorch, ONNX export (torch)
#   cgnet_self_test      the spec parser and its PyTorch twin (torch)
if(NOT EXISTS /usr/bin/python3)
  message(STATUS "python tests skipped: no /usr/bin/python3")
  return()
endif()
add_executable(net_run ${CMAKE_CURRENT_SOURCE_DIR}/python/net_run.c)
target_link_libraries(net_run PRIVATE cgrad_static)
set_target_properties(net_run PROPERTIES RUNTIME_OUTPUT_DIRECTORY ${CMAKE_BINARY_DIR}/tests)
set(_py_env "OMP_NUM_THREADS=2" "PYTHONDONTWRITEBYTECODE=1")
foreach(t safetensors onnx_import cli torch)
  add_test(NAME python_${t} COMMAND /usr/bin/python3 ${CMAKE_CURRENT_SOURCE_DIR}/python/test_${t}.py
                                    $<TARGET_FILE:net_run> ${CMAKE_BINARY_DIR}/bin)
  set_tests_properties(python_${t} PROPERTIES LABELS python SKIP_RETURN_CODE 77 ENVIRONMENT "${_py_env}" TIMEOUT 300)
endforeach()
set_tests_properties(python_torch PROPERTIES LABELS "python;torch" TIMEOUT 900)
add_test(NAME cgnet_self_test COMMAND /usr/bin/python3 ${CMAKE_CURRENT_SOURCE_DIR}/python/test_twin.py)
set_tests_properties(cgnet_self_test PROPERTIES LABELS "python;torch" SKIP_RETURN_CODE 77 ENVIRONMENT "${_py_env}")
unset(_py_env)
