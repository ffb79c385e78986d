# Install rules and the CMake package: the `holdfast` binary, the public headers
# (include/holdfast/*.h), and the client library as the imported target holdfast::client.
#
# hf_client is a static library, so the internal static libraries it needs (transport, remoting,
# record codec, base) are installed and exported with it, under <libdir>/holdfast/ so that their
# generic names stay out of <libdir>. Their headers are not installed: the public headers include
# only the standard library.
include(GNUInstallDirs)
include(CMakePackageConfigHelpers)

set(HOLDFAST_CMAKE_DIR ${CMAKE_INSTALL_LIBDIR}/cmake/holdfast)

# Same name inside this build (examples/) as for outside projects.
add_library(holdfast::client ALIAS hf_client)
set_target_properties(hf_client PROPERTIES EXPORT_NAME client OUTPUT_NAME holdfast_client)

install(TARGETS holdfast RUNTIME DESTINATION ${CMAKE_INSTALL_BINDIR})
install(TARGETS hf_client hf_transport hf_remoting hf_message hf_env hf_base
  EXPORT holdfastTargets
  ARCHIVE DESTINATION ${CMAKE_INSTALL_LIBDIR}/holdfast
  INCLUDES DESTINATION ${CMAKE_INSTALL_INCLUDEDIR})
install(DIRECTORY ${PROJECT_SOURCE_DIR}/include/holdfast
  DESTINATION ${CMAKE_INSTALL_INCLUDEDIR}
  FILES_MATCHING PATTERN "*.h")
install(EXPORT holdfastTargets NAMESPACE holdfast:: DESTINATION ${HOLDFAST_CMAKE_DIR})

configure_package_config_file(${PROJECT_SOURCE_DIR}/cmake/holdfastConfig.cmake.in
  ${PROJECT_BINARY_DIR}/holdfastConfig.cmake
  INSTALL_DESTINATION ${HOLDFAST_CMAKE_DIR})
write_basic_package_version_file(${PROJECT_BINARY_DIR}/holdfastConfigVersion.cmake
  VERSION ${PROJECT_VERSION}
  COMPATIBILITY SameMinorVersion)
install(FILES ${PROJECT_BINARY_DIR}/holdfastConfig.cmake ${PROJECT_BINARY_DIR}/holdfastConfigVersion.cmake
  DESTINATION ${HOLDFAST_CMAKE_DIR})
