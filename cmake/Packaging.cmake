# What `cmake --install build [--prefix P]` puts where, the CMake package of the plugin
# SDK, and the Debian package (`scripts/package`, CPack). docs/operations.md for operators.
#
#   <P>/bin/amid, <P>/bin/ami           rpath $ORIGIN/../lib/ami (CMAKE_INSTALL_RPATH)
#   <P>/lib/ami/libnode.so.108          the private V8: Debian's libnode108, unpacked by
#                                       scripts/bootstrap; never on the system's library path,
#                                       so it sits next to any system Node.js
#   <P>/lib/ami/libami_connector_sdk.a  the connector SDK library
#   <P>/lib/ami/plugins/*.so            every ami_add_plugin built to the default directory
#                                       (plugins/CMakeLists.txt): paper, templates, connectors;
#                                       an installed amid looks here without plugins.dirs
#   <P>/include/ami/plugin/             the SDK headers, net/ included
#   <P>/lib/cmake/AmiPluginSdk/         find_package(AmiPluginSdk)
#   <P>/share/ami/config/amid.yaml      the service's example config (the package copies it
#                                       to /etc/ami/amid.yaml on first install)
#   <P>/share/ami/web/                  the AMI Editor, when it was built
#   <P>/share/doc/ami/                  README and docs/
#   <P>/lib/systemd/system/amid.service the unit
#
# amid.yaml and amid.service name other installed files (ExecStart, http.web_root), so
# they are written at install time with the prefix actually installed to, which is why they
# are templates (@AMI_PREFIX@) and not plain install(FILES).
include(CMakePackageConfigHelpers)

set(AMI_PACKAGING_DIR "${PROJECT_SOURCE_DIR}/packaging")

# ami_install_for_prefix(<template> <destination dir under the prefix>)
# Installs <template> without its .in, with @AMI_PREFIX@ replaced by the install prefix.
function(ami_install_for_prefix template destination)
  get_filename_component(name "${template}" NAME)
  string(REGEX REPLACE "\\.in$" "" name "${name}")
  install(CODE "
    set(AMI_PREFIX \"\${CMAKE_INSTALL_PREFIX}\")
    set(ami_out \"\$ENV{DESTDIR}\${CMAKE_INSTALL_PREFIX}/${destination}/${name}\")
    message(STATUS \"Installing: \${ami_out}\")
    configure_file(\"${template}\" \"\${ami_out}\" @ONLY)
    file(CHMOD \"\${ami_out}\" PERMISSIONS OWNER_READ OWNER_WRITE GROUP_READ WORLD_READ)
    list(APPEND CMAKE_INSTALL_MANIFEST_FILES \"\${ami_out}\")")
endfunction()

# The private libnode (only the file named by its soname: nothing links libnode.so).
install(FILES "${LIBNODE_LIBRARY}" DESTINATION lib/ami)
if(EXISTS "${LIBNODE_ROOT}/usr/share/doc/libnode108/copyright")
  install(FILES "${LIBNODE_ROOT}/usr/share/doc/libnode108/copyright"
          DESTINATION share/doc/ami RENAME copyright.libnode108)
endif()

# The plugin SDK: headers, the connector support library, and its CMake package.
install(DIRECTORY "${PROJECT_SOURCE_DIR}/plugins/include/ami/plugin"
        DESTINATION include/ami FILES_MATCHING PATTERN "*.h")
set_target_properties(ami_plugin_sdk PROPERTIES EXPORT_NAME plugin_sdk)
set(ami_sdk_targets ami_plugin_sdk)
if(TARGET ami_connector_sdk)
  set_target_properties(ami_connector_sdk PROPERTIES EXPORT_NAME connector_sdk)
  list(APPEND ami_sdk_targets ami_connector_sdk)
endif()
install(TARGETS ${ami_sdk_targets} EXPORT AmiPluginSdkTargets ARCHIVE DESTINATION lib/ami)
if(TARGET ami_connector_sdk)
  # --strip (and CPack's CPACK_STRIP_FILES) leave static libraries alone; without its debug
  # information the archive is a tenth of the size.
  install(CODE "
    if(CMAKE_INSTALL_DO_STRIP)
      execute_process(COMMAND \"${CMAKE_STRIP}\" --strip-debug
        \"\$ENV{DESTDIR}\${CMAKE_INSTALL_PREFIX}/lib/ami/$<TARGET_FILE_NAME:ami_connector_sdk>\")
    endif()")
endif()
install(EXPORT AmiPluginSdkTargets NAMESPACE AmiPluginSdk:: DESTINATION lib/cmake/AmiPluginSdk)

set(ami_abi_header "${PROJECT_SOURCE_DIR}/plugins/include/ami/plugin/abi.h")
set_property(DIRECTORY APPEND PROPERTY CMAKE_CONFIGURE_DEPENDS "${ami_abi_header}")
file(STRINGS "${ami_abi_header}" ami_abi_line REGEX "kAbiVersion = [0-9]+")
string(REGEX REPLACE ".*kAbiVersion = ([0-9]+).*" "\\1" AMI_PLUGIN_ABI_VERSION "${ami_abi_line}")
configure_package_config_file("${CMAKE_CURRENT_LIST_DIR}/AmiPluginSdkConfig.cmake.in"
  "${PROJECT_BINARY_DIR}/generated/AmiPluginSdkConfig.cmake"
  INSTALL_DESTINATION lib/cmake/AmiPluginSdk)
write_basic_package_version_file("${PROJECT_BINARY_DIR}/generated/AmiPluginSdkConfigVersion.cmake"
  VERSION "${PROJECT_VERSION}" COMPATIBILITY SameMinorVersion)
install(FILES "${PROJECT_BINARY_DIR}/generated/AmiPluginSdkConfig.cmake"
              "${PROJECT_BINARY_DIR}/generated/AmiPluginSdkConfigVersion.cmake"
        DESTINATION lib/cmake/AmiPluginSdk)

# Running it: the example config, the unit, the editor, the docs.
ami_install_for_prefix("${AMI_PACKAGING_DIR}/amid.yaml.in" share/ami/config)
ami_install_for_prefix("${AMI_PACKAGING_DIR}/amid.service.in" lib/systemd/system)
install(DIRECTORY "${PROJECT_BINARY_DIR}/web/dist/" DESTINATION share/ami/web OPTIONAL)
install(FILES "${PROJECT_SOURCE_DIR}/README.md" DESTINATION share/doc/ami)
install(DIRECTORY "${PROJECT_SOURCE_DIR}/docs/" DESTINATION share/doc/ami/docs
        PATTERN "examples" EXCLUDE)

# The Debian package. The version is the one the binaries were built with (the
# ami_version target's file), read when cpack runs (CPackProjectConfig.cmake.in), so the
# package is named after what `amid --version` prints even without re-running CMake.
execute_process(COMMAND dpkg --print-architecture OUTPUT_VARIABLE ami_deb_arch
                OUTPUT_STRIP_TRAILING_WHITESPACE ERROR_QUIET)
if(NOT ami_deb_arch)
  set(ami_deb_arch amd64)
endif()
set(CPACK_GENERATOR DEB)
set(CPACK_PACKAGE_NAME ami)
set(CPACK_PACKAGE_VENDOR "AMI")
set(CPACK_PACKAGE_CONTACT "AMI maintainers <ami-maintainers@localhost>")
set(CPACK_PACKAGE_DESCRIPTION_SUMMARY "AMI node: JavaScript workers on an actor runtime")
string(CONCAT CPACK_DEBIAN_PACKAGE_DESCRIPTION
  "amid runs JavaScript workers (trading bots, market monitors, health checks), each a\n"
  "CAF actor owning a V8 isolate, from a YAML config and a SQLite store. ami is its\n"
  "admin shell. Carries its own V8 (libnode108) in /usr/lib/ami, so it installs next to\n"
  "a system Node.js. The amid.service unit is installed but neither enabled nor started.")
set(CPACK_DEBIAN_PACKAGE_SECTION net)
set(CPACK_DEBIAN_PACKAGE_PRIORITY optional)
set(CPACK_DEBIAN_PACKAGE_ARCHITECTURE "${ami_deb_arch}")
set(CPACK_PACKAGING_INSTALL_PREFIX /usr)
# DESTDIR staging, so install-time code (ami_install_for_prefix) sees the real /usr prefix.
set(CPACK_SET_DESTDIR ON)
set(CPACK_INSTALL_PREFIX /usr)
set(CPACK_STRIP_FILES ON)
# Depends: computed by dpkg-shlibdeps from every ELF file in the package — Debian's
# runtime packages (libcaf-*, libyaml-cpp, libspdlog, libsqlite3, libssl3, and libnode's
# own: libuv1, libicu72, …) — plus adduser for postinst. libnode itself is in the package.
set(CPACK_DEBIAN_PACKAGE_SHLIBDEPS ON)
set(CPACK_DEBIAN_PACKAGE_SHLIBDEPS_PRIVATE_DIRS "lib/ami")
set(CPACK_DEBIAN_PACKAGE_DEPENDS "adduser")
set(CPACK_DEBIAN_PACKAGE_CONTROL_EXTRA
  "${AMI_PACKAGING_DIR}/debian/postinst" "${AMI_PACKAGING_DIR}/debian/prerm"
  "${AMI_PACKAGING_DIR}/debian/postrm")
set(CPACK_DEBIAN_PACKAGE_CONTROL_STRICT_PERMISSION ON)
set(CPACK_DEBIAN_COMPRESSION_TYPE gzip)   # fast; xz saves little on V8 and costs a minute
# cpack (and `make install`) would otherwise build all of ALL first, unlocked and with one
# job; scripts/package builds through scripts/build before it packages instead.
set(CMAKE_SKIP_INSTALL_ALL_DEPENDENCY ON)
configure_file("${CMAKE_CURRENT_LIST_DIR}/CPackProjectConfig.cmake.in"
               "${PROJECT_BINARY_DIR}/generated/CPackProjectConfig.cmake" @ONLY)
set(CPACK_PROJECT_CONFIG_FILE "${PROJECT_BINARY_DIR}/generated/CPackProjectConfig.cmake")
include(CPack)
