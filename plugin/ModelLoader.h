// Loads model files on a background thread: reading the file and planning the decoder takes tens of
// milliseconds, far too long for the audio thread and long enough to stall a UI, and a file on a network
// mount that stopped answering can take forever. So every file-system touch (the file asked for, the
// search for a model of the same name, the default model) happens on this thread, and nobody waits for
// it without a time limit.
//
// Requests coalesce (a newer request replaces one not yet started); each result goes to the callback on
// the loader thread, in request order. A loader whose thread is stuck in the file system when it is
// destroyed lets the thread go (it holds its own state and calls nobody back once stopped) instead of
// hanging the host.
#pragma once

#include <atomic>
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
    struct Request {
        juce::File file;                 // the file asked for (none: go straight to the fallbacks)
        juce::String name;               // else an installed model of this name
        bool fallbackToDefault = false;  // else the default model
        juce::String savedPath;          // the path as the state spelled it, for the messages
    };
    struct Result {
        Request request;
        juce::File file;                     // the file that loaded (or the one asked for, on failure)
        std::shared_ptr<const Model> model;  // null when nothing loaded
        juce::String message;                // what happened, with the files named
        bool isError = false;                // the request was not met as asked
    };
    using Callback = std::function<void(const Result&)>;

    static constexpr double kStopSeconds = 2.0;  // how long the destructor waits for a busy thread

    explicit ModelLoader(Callback onLoaded);
    ~ModelLoader();
    ModelLoader(const ModelLoader&) = delete;
    ModelLoader& operator=(const ModelLoader&) = delete;

    void request(Request request);
    // Waits until every request made so far has been delivered, or `seconds` have passed: true if idle.
    bool waitUntilIdle(double seconds);
    // Any thread, the audio thread included (an atomic read).
    bool busy() const { return shared_->busy.load(std::memory_order_acquire); }

    // What the thread runs for a request (public for the tests): load the file, else the fallbacks.
    static Result load(const Request& request);

private:
    struct Shared {
        std::mutex mutex;
        std::condition_variable wake, idle;
        std::optional<Request> pending;
        bool working = false, stop = false, exited = false;
        std::atomic<bool> busy{false};
        std::mutex callbackMutex;  // held while the callback runs; the destructor takes it once stopped
        Callback onLoaded;
    };
    static void run(std::shared_ptr<Shared> shared);

    std::shared_ptr<Shared> shared_;
    std::thread thread_;
};

}  // namespace tonemorph::plugin
