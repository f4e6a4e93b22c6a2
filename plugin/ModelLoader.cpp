#include "ModelLoader.h"

namespace tonemorph::plugin {

ModelLoader::ModelLoader(Callback onLoaded) : onLoaded_(std::move(onLoaded)), thread_([this] { run(); }) {}

ModelLoader::~ModelLoader() {
    {
        std::lock_guard<std::mutex> lock(mutex_);
        stop_ = true;
    }
    wake_.notify_all();
    thread_.join();
}

void ModelLoader::request(const juce::File& file) {
    {
        std::lock_guard<std::mutex> lock(mutex_);
        pending_ = file;
    }
    wake_.notify_all();
}

void ModelLoader::waitUntilIdle() {
    std::unique_lock<std::mutex> lock(mutex_);
    idle_.wait(lock, [this] { return stop_ || (!pending_ && !working_); });
}

bool ModelLoader::busy() const {
    std::lock_guard<std::mutex> lock(mutex_);
    return pending_.has_value() || working_;
}

void ModelLoader::run() {
    juce::Thread::setCurrentThreadName("tonemorph model loader");
    std::unique_lock<std::mutex> lock(mutex_);
    for (;;) {
        wake_.wait(lock, [this] { return stop_ || pending_.has_value(); });
        if (stop_) break;
        Result result;
        result.file = *pending_;
        pending_.reset();
        working_ = true;
        lock.unlock();
        try {
            if (!result.file.existsAsFile()) throw ModelError("'" + result.file.getFullPathName().toStdString() + "' does not exist");
            result.model = Model::load(result.file.getFullPathName().toStdString());
        } catch (const std::exception& e) {
            result.error = juce::String::fromUTF8(e.what());
        }
        onLoaded_(result);
        lock.lock();
        working_ = false;
        idle_.notify_all();
    }
    idle_.notify_all();
}

}  // namespace tonemorph::plugin
