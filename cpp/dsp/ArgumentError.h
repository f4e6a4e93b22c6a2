// Errors for bad parameters, thrown from prepare() (never from the audio thread). pybind11 turns
// std::invalid_argument into ValueError, so the message is what a Python user reads.
#pragma once

#include <sstream>
#include <stdexcept>

namespace tonemorph {

// std::invalid_argument whose message is the parts streamed in order (numbers as written: 0.15, 50).
template <typename... Parts>
std::invalid_argument argument_error(const Parts&... parts) {
    std::ostringstream message;
    (message << ... << parts);
    return std::invalid_argument(message.str());
}

}  // namespace tonemorph
