// Loads model files on a background thread: reading the file and building the ONNX Runtime session
// takes tens of milliseconds, far too long for the audio thread and long enough to stall a UI.
// Requests coalesce (a newer request replaces one not yet started); each result goes to the callback
// on the loader thread, in request order.
#pragma once

#include <condition_variable>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <thread>

#include <juce_core/juce_core.h>

#include "Model.h"

namespace tonemorph::plugin {

class ModelLoader final {
public:
    struct Result {
        juce::File file;
        std::shared_ptr<const Model> model;  // null when loading failed
        juce::String error;                  // why, with the file named
    };
    using Callback = std::function<void(const Result&)>;

    explicit ModelLoader(Callback onLoaded);
    ~ModelLoader();
    ModelLoader(const ModelLoader&) = delete;
    ModelLoader& operator=(const ModelLoader&) = delete;

    void request(const juce::File& file);
    // Blocks until every request made so far has been loaded and delivered (offline rendering).
    void waitUntilIdle();
    bool busy() const;

private:
    void run();

    Callback onLoaded_;
    mutable std::mutex mutex_;
    std::condition_variable wake_, idle_;
    std::optional<juce::File> pending_;
    bool working_ = false, stop_ = false;
    std::thread thread_;
};

}  // namespace tonemorph::plugin
