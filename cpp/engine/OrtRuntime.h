// Where the engine meets the ONNX Runtime library: its process-wide environment and opening a session
// from a file. Platform differences (how the library is found, how a path is spelled) live here only.
#pragma once

#include <memory>
#include <string>

namespace Ort {
struct Env;
struct Session;
struct SessionOptions;
}  // namespace Ort

namespace tonemorph {

// The process-wide ONNX Runtime environment (created on first use).
Ort::Env& ort_env();

// Opens `path` (UTF-8) as an ONNX Runtime session. Throws Ort::Exception as ONNX Runtime does.
std::unique_ptr<Ort::Session> open_session(const std::string& path, const Ort::SessionOptions& options);

}  // namespace tonemorph
