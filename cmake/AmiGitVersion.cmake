# ami_git_version(<out-var> <source-dir> <base-version>)
#
# The project version as the build and the package name it:
#   <base>                      HEAD is exactly on tag v<base>, tree clean
#   <base>+<n>.g<hash>          <n> commits after tag v<base> (or since the first commit
#                               when there is no tag yet, then <base> = project() version)
#   <base>+<n>.g<hash>.dirty    the same with uncommitted changes
#   <base>                      not a git checkout (a source tarball), or git missing
# It is a valid Debian version and semver build metadata, and it sorts by commit count
# along a branch, so a package built later upgrades one built earlier.
#
# Shared by the build-time header (AmiWriteVersion.cmake) and configure time; it only
# reads the repository (git describe, rev-list, rev-parse).
function(ami_git_version out source_dir base)
  set(version "${base}")
  find_program(AMI_GIT_EXECUTABLE git)
  if(AMI_GIT_EXECUTABLE AND EXISTS "${source_dir}/.git")
    execute_process(COMMAND "${AMI_GIT_EXECUTABLE}" -C "${source_dir}" rev-parse --short=7 HEAD
      OUTPUT_VARIABLE hash RESULT_VARIABLE hash_rc OUTPUT_STRIP_TRAILING_WHITESPACE ERROR_QUIET)
    execute_process(COMMAND "${AMI_GIT_EXECUTABLE}" -C "${source_dir}" describe --tags --match "v[0-9]*" --long --abbrev=7
      OUTPUT_VARIABLE described RESULT_VARIABLE described_rc OUTPUT_STRIP_TRAILING_WHITESPACE ERROR_QUIET)
    execute_process(COMMAND "${AMI_GIT_EXECUTABLE}" -C "${source_dir}" describe --always --dirty
      OUTPUT_VARIABLE dirty_probe OUTPUT_STRIP_TRAILING_WHITESPACE ERROR_QUIET)
    if(hash_rc EQUAL 0)
      if(described_rc EQUAL 0 AND described MATCHES "^v([0-9][0-9A-Za-z.~]*)-([0-9]+)-g[0-9a-f]+$")
        set(base "${CMAKE_MATCH_1}")
        set(count "${CMAKE_MATCH_2}")
      else()
        execute_process(COMMAND "${AMI_GIT_EXECUTABLE}" -C "${source_dir}" rev-list --count HEAD
          OUTPUT_VARIABLE count OUTPUT_STRIP_TRAILING_WHITESPACE ERROR_QUIET)
        if(NOT count MATCHES "^[0-9]+$")
          set(count 0)
        endif()
        set(count_is_total TRUE)
      endif()
      set(dirty FALSE)
      if(dirty_probe MATCHES "-dirty$")
        set(dirty TRUE)
      endif()
      if(count EQUAL 0 AND NOT dirty AND NOT count_is_total)
        set(version "${base}")
      else()
        set(version "${base}+${count}.g${hash}")
        if(dirty)
          string(APPEND version ".dirty")
        endif()
      endif()
    endif()
  endif()
  set(${out} "${version}" PARENT_SCOPE)
endfunction()

# ami_v8_version(<out-var> <v8 include dir>)
# V8's version as "major.minor.build.patch", read from its v8-version.h.
function(ami_v8_version out include_dir)
  set(parts)
  foreach(name V8_MAJOR_VERSION V8_MINOR_VERSION V8_BUILD_NUMBER V8_PATCH_LEVEL)
    file(STRINGS "${include_dir}/v8-version.h" line REGEX "#define ${name} +[0-9]+")
    if(line MATCHES "#define ${name} +([0-9]+)")
      list(APPEND parts "${CMAKE_MATCH_1}")
    endif()
  endforeach()
  list(JOIN parts "." v)
  if(v STREQUAL "")
    set(v "unknown")
  endif()
  set(${out} "${v}" PARENT_SCOPE)
endfunction()
