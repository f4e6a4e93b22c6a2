#include "OrtRuntime.h"

#include <onnxruntime_cxx_api.h>

#include <filesystem>

#ifdef _WIN32
#ifndef ORT_API_MANUAL_INIT
#error "Windows: the engine loads onnxruntime.dll itself, with ORT_API_MANUAL_INIT (CMakeLists.txt sets it)"
#endif
#ifndef NOMINMAX
#define NOMINMAX
#endif
#ifndef WIN32_LEAN_AND_MEAN
#define WIN32_LEAN_AND_MEAN
#endif
#include <windows.h>
#endif

namespace tonemorph {

namespace {

#ifdef _WIN32
constexpr const char* kVcRedistUrl = "https://aka.ms/vs/17/release/vc_redist.x64.exe";

// The folder of the binary this code is linked into: the plugin's DLL (Contents/x86_64-win) or the app's
// .exe.
std::filesystem::path this_binary_folder() {
    HMODULE self = nullptr;
    if (!GetModuleHandleExW(
            GET_MODULE_HANDLE_EX_FLAG_FROM_ADDRESS | GET_MODULE_HANDLE_EX_FLAG_UNCHANGED_REFCOUNT,
            reinterpret_cast<LPCWSTR>(&this_binary_folder), &self))
        return {};
    std::wstring path(MAX_PATH, L'\0');
    for (;;) {
        const DWORD n = GetModuleFileNameW(self, path.data(), static_cast<DWORD>(path.size()));
        if (n == 0) return {};
        if (n < path.size()) break;
        path.resize(2 * path.size());  // truncated: a longer path than MAX_PATH
    }
    return std::filesystem::path(path.c_str()).parent_path();
}

// Loads the onnxruntime.dll that travels beside this binary by its full path, and hands its API to the C++
// wrapper (ORT_API_MANUAL_INIT). Asked by name, Windows would not look in a plugin DLL's own folder, and
// could find the older onnxruntime.dll that Windows 10/11 carry in System32. The library stays loaded for
// the life of the process. Returns why it failed, or "".
std::string init_api() {
    const std::filesystem::path dll = this_binary_folder() / L"onnxruntime.dll";
    const std::string where = dll.u8string();
    if (!std::filesystem::is_regular_file(dll))
        return "ONNX Runtime is missing: " + where +
               " does not exist. Install the plugin bundle whole (the .vst3 folder with everything in it).";
    // The libraries it needs in turn (the Visual C++ runtime) are looked for in its folder, then in System32.
    HMODULE library = LoadLibraryExW(dll.c_str(), nullptr,
                                     LOAD_LIBRARY_SEARCH_DLL_LOAD_DIR | LOAD_LIBRARY_SEARCH_DEFAULT_DIRS);
    if (library == nullptr) {
        const DWORD error = GetLastError();
        if (error == ERROR_MOD_NOT_FOUND)
            return "ONNX Runtime (" + where +
                   ") cannot start: a library it needs is missing, the Microsoft Visual C++ Redistributable "
                   "(x64). "
                   "Install it from " +
                   kVcRedistUrl + " and restart the host.";
        return "ONNX Runtime (" + where + ") could not be loaded (Windows error " + std::to_string(error) +
               ").";
    }
    using GetApiBase = const OrtApiBase*(ORT_API_CALL*)();
    const auto get_api_base =
        reinterpret_cast<GetApiBase>(reinterpret_cast<void*>(GetProcAddress(library, "OrtGetApiBase")));
    if (get_api_base == nullptr) return where + " is not ONNX Runtime: it has no OrtGetApiBase.";
    const OrtApiBase* base = get_api_base();
    const OrtApi* api = base->GetApi(ORT_API_VERSION);
    if (api == nullptr)
        return "ONNX Runtime " + std::string(base->GetVersionString()) + " (" + where +
               ") is too old: tonemorph needs its API version " + std::to_string(ORT_API_VERSION) +
               ". Install the plugin bundle whole.";
    Ort::InitApi(api);
    return {};
}
#else
// Linked at build time and found through the binary's rpath ($ORIGIN): nothing to do.
std::string init_api() { return {}; }
#endif

}  // namespace

const std::string& ort_unavailable_reason() {
    static const std::string reason = init_api();
    return reason;
}

void require_ort() {
    if (const std::string& reason = ort_unavailable_reason(); !reason.empty()) throw OrtUnavailable(reason);
}

Ort::Env& ort_env() {
    require_ort();
    static Ort::Env env(ORT_LOGGING_LEVEL_ERROR, "tonemorph");
    return env;
}

std::unique_ptr<Ort::Session> open_session(const std::string& path, const Ort::SessionOptions& options) {
    // ONNX Runtime spells paths in ORTCHAR_T: char (UTF-8) on Linux and macOS, wchar_t (UTF-16) on Windows.
    return std::make_unique<Ort::Session>(ort_env(), std::filesystem::u8path(path).c_str(), options);
}

std::unique_ptr<Ort::Session> open_single_thread_session(const std::string& path) {
    // Before the options, an Ort:: object: on Windows, until the library is found, the API it calls through is
    // null (a sampler or MIDI model opened before any model that needs ONNX Runtime crashed the host).
    require_ort();
    Ort::SessionOptions options;
    options.SetIntraOpNumThreads(1);
    options.SetInterOpNumThreads(1);
    options.SetExecutionMode(ExecutionMode::ORT_SEQUENTIAL);
    options.SetGraphOptimizationLevel(GraphOptimizationLevel::ORT_ENABLE_ALL);
    options.AddConfigEntry("session.intra_op.allow_spinning", "0");
    return open_session(path, options);
}

}  // namespace tonemorph
