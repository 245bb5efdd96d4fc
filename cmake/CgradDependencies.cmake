# Dependencies through CMake's own find modules; nothing vendored, nothing downloaded.
if(NOT DEFINED BLA_VENDOR)
  set(BLA_VENDOR OpenBLAS CACHE STRING "BLAS vendor for FindBLAS (OpenBLAS, Generic, Intel10_64lp, ...)")
endif()
find_package(BLAS REQUIRED)
find_package(OpenMP REQUIRED COMPONENTS C)
find_package(ZLIB REQUIRED)
find_package(Threads REQUIRED)

# FindBLAS gives libraries only; find the CBLAS header that goes with them.
find_path(CGRAD_CBLAS_INCLUDE_DIR cblas.h
  PATH_SUFFIXES openblas openblas-pthread openblas-openmp
  PATHS /usr/include/${CMAKE_LIBRARY_ARCHITECTURE})
if(NOT CGRAD_CBLAS_INCLUDE_DIR)
  message(FATAL_ERROR "cblas.h not found: install libopenblas-dev (Debian) or set CGRAD_CBLAS_INCLUDE_DIR")
endif()
