// What every offline action (cpp/actions/*) shares: how a cancelled run ends.
#pragma once

#include <stdexcept>

namespace tonemorph {

// Thrown by an action's run when its `cancel` flag becomes true; nothing it was writing is a finished file.
class Cancelled : public std::runtime_error {
public:
    Cancelled() : std::runtime_error("cancelled") {}
};

}  // namespace tonemorph
