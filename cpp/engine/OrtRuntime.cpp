#include "OrtRuntime.h"

#include <onnxruntime_cxx_api.h>

namespace tonemorph {

Ort::Env& ort_env() {
    static Ort::Env env(ORT_LOGGING_LEVEL_ERROR, "tonemorph");
    return env;
}

std::unique_ptr<Ort::Session> open_session(const std::string& path, const Ort::SessionOptions& options) {
    return std::make_unique<Ort::Session>(ort_env(), path.c_str(), options);
}

}  // namespace tonemorph
