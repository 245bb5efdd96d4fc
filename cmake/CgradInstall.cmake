# SPDX-License-Identifier: MIT
# Installation: headers, both libraries, cgradConfig.cmake (cgrad::cgrad, cgrad::cgrad_static)
# and cgrad.pc for pkg-config.
#
#   <prefix>/include/cgrad/*.h                  public headers + generated version.h
#   <prefix>/lib/libcgrad.so.0.x.y, .so.0, .so  shared library (SONAME libcgrad.so.0)
#   <prefix>/lib/libcgrad.a                     static library
#   <prefix>/lib/cmake/cgrad/                   cgradConfig.cmake, version file, exported targets
#   <prefix>/lib/pkgconfig/cgrad.pc
include(CMakePackageConfigHelpers)

set(CGRAD_INSTALL_CMAKEDIR ${CMAKE_INSTALL_LIBDIR}/cmake/cgrad)

install(DIRECTORY ${PROJECT_SOURCE_DIR}/include/cgrad DESTINATION ${CMAKE_INSTALL_INCLUDEDIR}
        FILES_MATCHING PATTERN "*.h")
install(FILES ${PROJECT_BINARY_DIR}/include/cgrad/version.h DESTINATION ${CMAKE_INSTALL_INCLUDEDIR}/cgrad)

# The shared library and the static one go to separate export sets: a program that links the
# .so needs nothing else (BLAS, OpenMP and zlib are private to it), so cgradConfig.cmake loads
# the static target only when its dependencies can be found.
install(TARGETS cgrad EXPORT cgradTargets
        LIBRARY DESTINATION ${CMAKE_INSTALL_LIBDIR} NAMELINK_COMPONENT Development
        RUNTIME DESTINATION ${CMAKE_INSTALL_BINDIR}
        ARCHIVE DESTINATION ${CMAKE_INSTALL_LIBDIR})
install(TARGETS cgrad_static EXPORT cgradStaticTargets
        ARCHIVE DESTINATION ${CMAKE_INSTALL_LIBDIR})
install(EXPORT cgradTargets NAMESPACE cgrad:: DESTINATION ${CGRAD_INSTALL_CMAKEDIR})
# cgrad_dist (MPI): its own export sets, loaded by cgradConfig.cmake when MPI is found.
if(TARGET cgrad_dist)
  install(TARGETS cgrad_dist EXPORT cgradDistTargets
          LIBRARY DESTINATION ${CMAKE_INSTALL_LIBDIR} NAMELINK_COMPONENT Development)
  install(TARGETS cgrad_dist_static EXPORT cgradDistStaticTargets ARCHIVE DESTINATION ${CMAKE_INSTALL_LIBDIR})
  install(EXPORT cgradDistTargets NAMESPACE cgrad:: DESTINATION ${CGRAD_INSTALL_CMAKEDIR})
  install(EXPORT cgradDistStaticTargets NAMESPACE cgrad:: DESTINATION ${CGRAD_INSTALL_CMAKEDIR})
endif()
install(EXPORT cgradStaticTargets NAMESPACE cgrad:: DESTINATION ${CGRAD_INSTALL_CMAKEDIR})

# The config file records the BLAS libraries this build linked (CGRAD_BLAS_LIBRARIES).
set(CGRAD_XSMM_LIBRARY_IF_ON "")
if(CGRAD_XSMM)
  set(CGRAD_XSMM_LIBRARY_IF_ON "${CGRAD_XSMM_LIBRARY}")
endif()
configure_package_config_file(${PROJECT_SOURCE_DIR}/cmake/cgradConfig.cmake.in
  ${PROJECT_BINARY_DIR}/cgradConfig.cmake
  INSTALL_DESTINATION ${CGRAD_INSTALL_CMAKEDIR})
write_basic_package_version_file(${PROJECT_BINARY_DIR}/cgradConfigVersion.cmake
  VERSION ${PROJECT_VERSION} COMPATIBILITY SameMajorVersion)
install(FILES ${PROJECT_BINARY_DIR}/cgradConfig.cmake ${PROJECT_BINARY_DIR}/cgradConfigVersion.cmake
        DESTINATION ${CGRAD_INSTALL_CMAKEDIR})

# pkg-config: zlib through Requires.private (its own .pc); Libs.private lists the rest of what
# a static link needs: the very BLAS this build linked (the OpenMP OpenBLAS, whose directory
# has no .pc of its own; Debian's openblas.pc names whichever build the alternatives select). Full library paths from the find
# modules become -L/-l flags (-L and a run path only for directories the compiler does not search
# already).
set(CGRAD_PC_LIBS_PRIVATE "")
set(_cgrad_pc_libs ${CGRAD_BLAS_LIBRARIES})
if(CGRAD_XSMM)
  # LIBXSMM (a static archive) first: its fallback BLAS calls resolve in the BLAS after it.
  set(_cgrad_pc_libs ${CGRAD_XSMM_LIBRARY} ${CGRAD_BLAS_LIBRARIES} -ldl -lrt)
endif()
foreach(lib ${_cgrad_pc_libs})
  if(lib MATCHES "^/.*/lib([^/]+)\\.(so|a)$")
    get_filename_component(dir ${lib} DIRECTORY)
    if(NOT dir IN_LIST CMAKE_C_IMPLICIT_LINK_DIRECTORIES)
      # and a run path: Debian's SONAME libopenblas.so.0 would else resolve through the
      # alternatives to another build (the pthread one) at run time
      string(APPEND CGRAD_PC_LIBS_PRIVATE " -L${dir} -Wl,-rpath,${dir}")
    endif()
    string(APPEND CGRAD_PC_LIBS_PRIVATE " -l${CMAKE_MATCH_1}")
  elseif(lib MATCHES "^-")
    string(APPEND CGRAD_PC_LIBS_PRIVATE " ${lib}")
  elseif(NOT lib MATCHES "::")
    string(APPEND CGRAD_PC_LIBS_PRIVATE " -l${lib}")
  endif()
endforeach()
string(APPEND CGRAD_PC_LIBS_PRIVATE " ${OpenMP_C_FLAGS} -lpthread -lm")
string(STRIP "${CGRAD_PC_LIBS_PRIVATE}" CGRAD_PC_LIBS_PRIVATE)
# Relative to ${prefix} where possible, so the .pc file still works if the prefix moves.
foreach(d LIBDIR INCLUDEDIR)
  if(IS_ABSOLUTE "${CMAKE_INSTALL_${d}}")
    set(CGRAD_PC_${d} "${CMAKE_INSTALL_${d}}")
  else()
    set(CGRAD_PC_${d} "\${prefix}/${CMAKE_INSTALL_${d}}")
  endif()
endforeach()
# ${pcfiledir} is <prefix>/<libdir>/pkgconfig; climb back to <prefix> (libdir may be lib/<triplet>).
if(IS_ABSOLUTE "${CMAKE_INSTALL_LIBDIR}")
  set(CGRAD_PC_PREFIX "${CMAKE_INSTALL_PREFIX}")
else()
  file(RELATIVE_PATH CGRAD_PC_PREFIX "/p/${CMAKE_INSTALL_LIBDIR}/pkgconfig" "/p")
  string(REGEX REPLACE "/$" "" CGRAD_PC_PREFIX "${CGRAD_PC_PREFIX}")
  set(CGRAD_PC_PREFIX "\${pcfiledir}/${CGRAD_PC_PREFIX}")
endif()
configure_file(${PROJECT_SOURCE_DIR}/cmake/cgrad.pc.in ${PROJECT_BINARY_DIR}/cgrad.pc @ONLY)
install(FILES ${PROJECT_BINARY_DIR}/cgrad.pc DESTINATION ${CMAKE_INSTALL_LIBDIR}/pkgconfig)
if(TARGET cgrad_dist)
  configure_file(${PROJECT_SOURCE_DIR}/cmake/cgrad-dist.pc.in ${PROJECT_BINARY_DIR}/cgrad-dist.pc @ONLY)
  install(FILES ${PROJECT_BINARY_DIR}/cgrad-dist.pc DESTINATION ${CMAKE_INSTALL_LIBDIR}/pkgconfig)
endif()

# The Python package and cgrad-torch (cmake/CgradPython.cmake).
include(CgradPython)
