# SPDX-License-Identifier: MIT
# The Python package for PyTorch and ONNX users (python/cgrad, pure Python) and its command,
# cgrad-torch. Included by CgradInstall.cmake.
#
#   <prefix>/bin/cgrad-torch                       finds the package below from any prefix
#   <prefix>/${CGRAD_PYTHON_INSTALL_DIR}/cgrad/    the package
#
# CGRAD_PYTHON_INSTALL_DIR is where Debian's /usr/bin/python3 looks: lib/python3/dist-packages
# for the prefix /usr, lib/python3.X/dist-packages (X of that interpreter) for any other prefix
# (Debian's python searches /usr/local/lib/python3.X/dist-packages; for other prefixes set
# PYTHONPATH to <prefix>/that directory to import the package; the command needs nothing).
if(NOT DEFINED CGRAD_PYTHON_INSTALL_DIR)
  set(_cgrad_pydir lib/python3/dist-packages)
  if(NOT CMAKE_INSTALL_PREFIX STREQUAL "/usr" AND EXISTS /usr/bin/python3)
    execute_process(COMMAND /usr/bin/python3 -c "import sys; print('%d.%d' % sys.version_info[:2])"
                    OUTPUT_VARIABLE _cgrad_pyver OUTPUT_STRIP_TRAILING_WHITESPACE RESULT_VARIABLE _cgrad_pyrc)
    if(_cgrad_pyrc EQUAL 0 AND _cgrad_pyver MATCHES "^3\\.[0-9]+$")
      set(_cgrad_pydir lib/python${_cgrad_pyver}/dist-packages)
    endif()
  endif()
  set(CGRAD_PYTHON_INSTALL_DIR ${_cgrad_pydir} CACHE STRING
      "Where cmake --install puts the Python package cgrad (relative to the prefix)")
  unset(_cgrad_pydir)
endif()
file(RELATIVE_PATH CGRAD_PYTHON_FROM_BIN /x/${CMAKE_INSTALL_BINDIR} /x/${CGRAD_PYTHON_INSTALL_DIR})
configure_file(${PROJECT_SOURCE_DIR}/python/cgrad-torch.in ${PROJECT_BINARY_DIR}/python/cgrad-torch @ONLY)
install(DIRECTORY ${PROJECT_SOURCE_DIR}/python/cgrad DESTINATION ${CGRAD_PYTHON_INSTALL_DIR}
        FILES_MATCHING PATTERN "*.py" PATTERN "__pycache__" EXCLUDE)
install(PROGRAMS ${PROJECT_BINARY_DIR}/python/cgrad-torch DESTINATION ${CMAKE_INSTALL_BINDIR})
install(FILES ${PROJECT_SOURCE_DIR}/docs/man/cgrad-torch.1 DESTINATION ${CMAKE_INSTALL_MANDIR}/man1)
