# Installation: headers, both libraries, cgradConfig.cmake (cgrad::cgrad) and cgrad.pc.
# (Filled out by the packaging work; the library targets install here.)
install(DIRECTORY ${PROJECT_SOURCE_DIR}/include/cgrad DESTINATION ${CMAKE_INSTALL_INCLUDEDIR}
        FILES_MATCHING PATTERN "*.h")
install(FILES ${PROJECT_BINARY_DIR}/include/cgrad/version.h DESTINATION ${CMAKE_INSTALL_INCLUDEDIR}/cgrad)
