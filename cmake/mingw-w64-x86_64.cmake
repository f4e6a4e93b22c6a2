# Cross-compiling for Windows x64 with Debian's MinGW-w64 (posix threads, which JUCE needs), for
# scripts/build_windows.sh. Programs built with it run here under Wine (CMAKE_CROSSCOMPILING_EMULATOR).
# TONEMORPH_WINDOWS_DEPS: the prefix where build_windows.sh installs the cross-built libraries.
set(CMAKE_SYSTEM_NAME Windows)
set(CMAKE_SYSTEM_PROCESSOR x86_64)
set(_mingw x86_64-w64-mingw32)
set(CMAKE_C_COMPILER ${_mingw}-gcc-posix)
set(CMAKE_CXX_COMPILER ${_mingw}-g++-posix)
set(CMAKE_RC_COMPILER ${_mingw}-windres)
set(CMAKE_AR ${_mingw}-gcc-ar-posix CACHE FILEPATH "")
set(CMAKE_RANLIB ${_mingw}-gcc-ranlib-posix CACHE FILEPATH "")

# Libraries, headers and CMake packages come from the MinGW sysroot and our own prefix, never from the host;
# programs (juceaide, windres) from the host.
list(APPEND CMAKE_TRY_COMPILE_PLATFORM_VARIABLES TONEMORPH_WINDOWS_DEPS)
set(CMAKE_FIND_ROOT_PATH /usr/${_mingw} ${TONEMORPH_WINDOWS_DEPS})
set(CMAKE_FIND_ROOT_PATH_MODE_PROGRAM NEVER)
set(CMAKE_FIND_ROOT_PATH_MODE_LIBRARY ONLY)
set(CMAKE_FIND_ROOT_PATH_MODE_INCLUDE ONLY)
set(CMAKE_FIND_ROOT_PATH_MODE_PACKAGE ONLY)

set(CMAKE_CROSSCOMPILING_EMULATOR /usr/lib/wine/wine64)
