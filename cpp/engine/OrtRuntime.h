// Where the engine meets the ONNX Runtime library: its process-wide environment and opening a session
// from a file. Platform differences (how the library is found, how a path is spelled) live here only.
#pragma once

#include <memory>
#include <stdexcept>
#include <string>

namespace Ort {
struct Env;
struct Session;
struct SessionOptions;
}  // namespace Ort

namespace tonemorph {

// ONNX Runtime cannot be used in this process; what() says why and what to do, for the user.
class OrtUnavailable final : public std::runtime_error {
public:
    using std::runtime_error::runtime_error;
};

// Why ONNX Runtime cannot be used here, or "" when it can. The first call finds the library: on Windows it
// loads the onnxruntime.dll beside this binary (the plugin's DLL or the app's .exe) by its full path;
// elsewhere the library is linked and found through the binary's rpath. Thread-safe.
const std::string& ort_unavailable_reason();

// Throws OrtUnavailable when ort_unavailable_reason() is not empty. Call it before making any Ort:: object.
void require_ort();

// The process-wide ONNX Runtime environment (created on first use). Throws OrtUnavailable.
Ort::Env& ort_env();

// Opens `path` (UTF-8) as an ONNX Runtime session. Throws OrtUnavailable, or Ort::Exception as ONNX Runtime
// does.
std::unique_ptr<Ort::Session> open_session(const std::string& path, const Ort::SessionOptions& options);

// open_session on one thread, as the engine's worker and every offline action's models run: one intra-op and
// one inter-op thread, sequential execution, every graph optimisation, no spinning while idle.
std::unique_ptr<Ort::Session> open_single_thread_session(const std::string& path);

}  // namespace tonemorph
